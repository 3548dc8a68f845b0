"""Clearance logic of one lane, pure: events in, commands out, the clock passed in.

``LaneMachine(config).handle(event) -> tuple[Command, ...]`` is the whole interface; see
``lanes.events`` and ``lanes.commands`` for what goes in and out, ``lanes.decision`` for
the clearance rules, ``lanes.journal`` for the journal lines ``rocars-kiosk replay`` reads.
Nothing here reads a clock, draws a random number or touches a file, a port or a socket
(import-linter keeps it so), which is what makes every decision replayable.

What the kiosk owes the machine:

- answer each ``LookupTrip`` at once with ``TripFound`` from its cache (journaled too);
- send a ``Tick`` every fraction of a second, so timeouts fire without traffic;
- write (and flush) each event's journal line before executing its commands, and write
  each ``RecordCrossing`` to the outbox durably before the next command (the barrier);
- after the I/O module comes back, send ``InputsSnapshot`` with all loop inputs;
- on start: replay the current journal file's events into
  ``machine_state.start_machine(parse_journal(text))`` (re-offer the decision records the
  replay produces to the outbox: keys make that idempotent), then ``LaneStarted`` with the inputs read,
  the next outbox sequence and the devices already known faulty; on SIGTERM,
  ``LaneStopping``, execute its commands, and wait for the barrier to close if it is safe.
"""
