"""Clearance logic of one lane, pure: events in, commands out, the clock passed in.

``LaneMachine(config).handle(event) -> tuple[Command, ...]`` is the whole interface; see
``lanes.events`` and ``lanes.commands`` for what goes in and out, ``lanes.decision`` for
the clearance rules, ``lanes.journal`` for the journal lines ``rocars-kiosk replay`` reads.
Nothing here reads a clock, draws a random number or touches a file, a port or a socket
(import-linter keeps it so), which is what makes every decision replayable.
"""
