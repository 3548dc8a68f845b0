"""The card reader device: watches one PC/SC reader, reads and authenticates each card.

Its own monitoring loop (not pyscard's CardMonitor, whose thread dies silently when pcscd
restarts): SCardGetStatusChange with a short wait so ``stop()`` is prompt; any PC/SC fault
(pcscd gone 0x8010001D, RPC transport 0x80100013, reader gone, a call overrunning its
timeout) drops the context, marks the reader unavailable (logged once), reports a card
that was present as removed, and reconnects with doubling backoff up to a cap.

Events go to ``on_event`` from the reader's thread, in order per card::

    CardInserted -> CardAuthenticated | CardRejected | (nothing: pulled mid-read) -> CardRemoved
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from smartcard import scard

from drivers.base import (
    Availability,
    AvailabilityListener,
    Backoff,
    DeviceTimeout,
    DeviceUnavailable,
    DriverError,
)
from drivers.card.application import Identity
from drivers.card.auth import CardVerifier, Clock, utc_now
from drivers.card.channel import CardChannel
from drivers.card.config import CardReaderConfig, load_issuer_keys
from drivers.card.errors import CardRefused, CardRemovedError, ReaderGone, RejectReason
from drivers.card.events import CardAuthenticated, CardEvent, CardInserted, CardRejected, CardRemoved
from drivers.card.pcsc import PcscClient

log = logging.getLogger("drivers.card")

EventListener = Callable[[CardEvent], None]

# pcscd polls vpcd (and most serial readers) for presence about every 400 ms.
PRESENCE_SETTLE_S = 0.6


class CardReader:
    def __init__(
        self,
        config: CardReaderConfig,
        on_event: EventListener,
        *,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        availability_listener: AvailabilityListener | None = None,
    ) -> None:
        config.apply_pcsc_socket()
        self.config = config
        self._on_event = on_event
        self._monotonic = monotonic
        self._verifier = CardVerifier(load_issuer_keys(config.issuer_public_keys), clock=clock)
        self._pcsc = PcscClient(config.call_timeout)
        self.availability = Availability(
            f"card reader {config.reader!r}", logger=log, listener=availability_listener
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reader_name: str | None = None
        self._card_present = False
        self._last_count: int | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="card-reader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and release PC/SC; safe to call twice, and before start()."""
        self._stop.set()
        self._pcsc.cancel()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._pcsc.close()
        self.availability.set_closed()  # logged once, at info: a deliberate stop is no fault

    def __enter__(self) -> CardReader:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- loop -------------------------------------------------------------------------------

    def _emit(self, event: CardEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # a broken consumer must not kill the reader's loop
            log.exception("card event listener failed on %s", type(event).__name__)

    def _run(self) -> None:
        backoff = Backoff(self.config.backoff_initial, self.config.backoff_cap)
        ever_available = startup_failure_logged = False
        while not self._stop.is_set():
            try:
                self._open()
                self.availability.set_available()
                ever_available = True
                backoff.reset()
                self._watch()
            except Exception as exc:
                if self._stop.is_set():
                    break  # stop() cancelled a call under us: a shutdown, not a reader fault
                if not isinstance(exc, DriverError):
                    # A bug must not end the loop silently (CardMonitor's failure mode):
                    # report it, treat it as a reader fault and start over.
                    log.exception("card reader loop failed unexpectedly")
                elif not ever_available and not startup_failure_logged:
                    # Availability logs transitions only; a reader missing from the start
                    # deserves one line too.
                    log.warning("card reader %r not usable yet: %s", self.config.reader, exc)
                    startup_failure_logged = True
                self.availability.set_unavailable(str(exc) or type(exc).__name__)
                self._card_left()
                self._pcsc.release()
                self._stop.wait(backoff.next())
        self._card_left()
        self._pcsc.close()

    def _open(self) -> None:
        self._pcsc.establish()
        readers = self._pcsc.list_readers()
        for name in readers:
            if name.startswith(self.config.reader):
                self.reader_name = name
                self._last_count = None
                return
        raise ReaderGone(f"no PC/SC reader named {self.config.reader!r}* (have {readers})")

    def _card_left(self) -> None:
        if self._card_present:
            self._card_present = False
            self._emit(CardRemoved(self.reader_name or self.config.reader, self._monotonic()))

    def _watch(self) -> None:
        reader = self.reader_name
        assert reader is not None
        state = scard.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            ((_, event_state, atr),) = self._pcsc.get_status_change(
                self.config.poll_interval, [(reader, state)]
            )
            if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_IGNORE):
                raise ReaderGone(f"reader {reader!r} has gone")
            if not event_state & scard.SCARD_STATE_CHANGED and state != scard.SCARD_STATE_UNAWARE:
                continue
            state = event_state & ~scard.SCARD_STATE_CHANGED
            present = bool(event_state & scard.SCARD_STATE_PRESENT)
            count = event_state >> 16  # pcsc-lite counts card events in the high word
            if present and self._card_present and count != self._last_count:
                self._card_left()  # pulled and put back between two polls
            self._last_count = count
            if present and not self._card_present:
                self._card_present = True
                self._emit(CardInserted(reader, bytes(atr), self._monotonic()))
                if event_state & scard.SCARD_STATE_MUTE:
                    # No answer to reset: upside down, dirty contacts, dead chip.
                    reason, text = RejectReason.UNREADABLE, "card does not answer (mute)"
                    self._emit(CardRejected(reader, reason, text, self._monotonic()))
                else:
                    self._read_card(reader)
            elif not present:
                self._card_left()

    def _read_card(self, reader: str) -> None:
        """Read and authenticate the card just inserted; report the verdict."""
        for attempt in range(1, self.config.read_attempts + 1):
            try:
                identity = self._read_once(reader)
            except CardRefused as refusal:
                self._emit(CardRejected(reader, refusal.reason, refusal.text, self._monotonic()))
                return
            except CardRemovedError as exc:
                log.info("card left reader %r during the read: %s", reader, exc)
                return  # the status loop reports the removal
            except (DeviceTimeout, DeviceUnavailable):
                raise  # the reader, not the card: a device fault
            except DriverError as exc:
                if not self._still_present(reader):
                    log.info("card left reader %r during the read: %s", reader, exc)
                    return  # the status loop reports the removal
                log.warning("card read attempt %d/%d failed: %s", attempt, self.config.read_attempts, exc)
                if attempt == self.config.read_attempts:
                    self._emit(CardRejected(reader, RejectReason.UNREADABLE, str(exc), self._monotonic()))
                continue
            self._emit(CardAuthenticated(reader, identity, self._monotonic()))
            return

    def _still_present(self, reader: str) -> bool:
        """After a failed exchange: is the card still there? vpcd reports a card pulled
        mid-command as a failed transaction and pcscd notices the removal only at its
        next presence poll, so wait up to one poll period for the removal to show."""
        ((_, state, _),) = self._pcsc.get_status_change(0, [(reader, scard.SCARD_STATE_UNAWARE)])
        state &= ~scard.SCARD_STATE_CHANGED
        if not state & scard.SCARD_STATE_PRESENT:
            return False
        ((_, state, _),) = self._pcsc.get_status_change(PRESENCE_SETTLE_S, [(reader, state)])
        return bool(state & scard.SCARD_STATE_PRESENT)

    def _read_once(self, reader: str) -> Identity:
        handle, protocol = self._pcsc.connect(reader)
        try:
            self._pcsc.begin_transaction(handle)
            channel = CardChannel(lambda apdu: self._pcsc.transmit(handle, protocol, apdu))
            identity = self._verifier.authenticate(channel)
            self._pcsc.end_transaction(handle)
            return identity
        finally:
            # Reset: the next reader of this card starts from nothing selected. Disconnecting
            # also ends a transaction left open by an error.
            self._pcsc.disconnect(handle, reset=True)
