"""A lane's drivers, built from its configuration, with their events turned into lane inputs.

Every driver callback (each on the driver's own thread) only posts a small function to
the lane's queue; the control loop calls it with the event's time and gets the lane event
back. So the cache look-ups that turn a tag, a card or a plate into records happen on the
control loop, in event order, and a driver thread never touches the lane machine.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.base import Availability, Backoff, DriverError
from drivers.camera import PlateCamera
from drivers.card import CardReader
from drivers.card import events as card_events
from drivers.io import InputChanged, IoEvent, LaneIO, WatchdogFellBack
from drivers.rfid import RfidEvent, RfidReader, TagSeen
from kiosk.cache import LaneCache
from kiosk.config import KioskConfig
from kiosk.plates import PlateRecognizer, PlateResult
from lanes import events as ev
from lanes.events import BarrierPosition, Device, Loop

log = logging.getLogger(__name__)

# What the control loop runs for each queued input: event time -> lane event (or None).
Input = Callable[[float], "ev.Event | None"]
Post = Callable[[Input], None]

_LOOPS = {"arming_loop": Loop.ARMING, "safety_loop": Loop.SAFETY, "closing_loop": Loop.CLOSING}


def barrier_position(inputs: dict[str, bool]) -> BarrierPosition:
    if inputs.get("barrier_up_limit"):
        return BarrierPosition.UP
    if inputs.get("barrier_down_limit"):
        return BarrierPosition.DOWN
    return BarrierPosition.MOVING


def card_expires_at(expiry: dt.date) -> float:
    """A card is valid through its expiry date (Hong Kong time): expired from the next midnight."""
    hkt = dt.timezone(dt.timedelta(hours=8))
    end = dt.datetime.combine(expiry + dt.timedelta(days=1), dt.time(), tzinfo=hkt)
    return end.timestamp()


@dataclass
class LaneDevices:
    """The drivers of one lane; ``close()`` leaves the lane safe and is safe to call twice."""

    io: LaneIO
    rfid: RfidReader | None = None
    card: CardReader | None = None
    camera: PlateCamera | None = None
    plates: PlateRecognizer | None = None
    on_io_back: Callable[[], None] | None = None
    on_watchdog_fallback: Callable[[], None] | None = None
    _closed: bool = field(default=False, repr=False)

    def availabilities(self) -> dict[Device, Availability]:
        out: dict[Device, Availability] = {Device.IO: self.io.availability}
        if self.rfid is not None:
            out[Device.RFID] = self.rfid.availability
        if self.card is not None:
            out[Device.CARD] = self.card.availability
        if self.camera is not None:
            out[Device.CAMERA] = self.camera.availability
        return out

    def start(self) -> None:
        """Open what can be opened now; a device that cannot is a fault its loop retries."""
        try:
            self.io.open()
        except DriverError as exc:
            log.warning("io module not available at start-up: %s", exc)
        self.io.start()
        if self.rfid is not None:
            try:
                self.rfid.open()
            except DriverError as exc:
                log.warning("rfid reader not available at start-up: %s", exc)
            self.rfid.start()
        if self.card is not None:
            self.card.start()
        if self.camera is not None:
            self.camera.start()
        if self.plates is not None:
            self.plates.start()

    def stop_inputs(self) -> None:
        """Stop every device that only reports (not the I/O module: it holds the barrier)."""
        for stop in (
            self.plates.stop if self.plates else None,
            self.camera.close if self.camera else None,
            self.card.stop if self.card else None,
            self.rfid.close if self.rfid else None,
        ):
            if stop is None:
                continue
            try:
                stop()
            except Exception:  # one device failing to stop must not keep the others running
                log.exception("stopping a lane device failed")

    def close(self) -> None:
        self.stop_inputs()
        self.io.close()  # red, and the arm let down only if the safety loop is clear
        self._closed = True


def build_devices(config: KioskConfig, cache: LaneCache, post: Post) -> LaneDevices:
    d = config.devices

    def availability(device: Device) -> Callable[[bool, str], None]:
        def listener(available: bool, reason: str) -> None:
            if device is Device.IO and available and devices.on_io_back is not None:
                devices.on_io_back()
            post(lambda at: ev.DeviceAvailability(at, device, available, reason))

        return listener

    def on_io(event: IoEvent) -> None:
        if isinstance(event, WatchdogFellBack):
            if devices.on_watchdog_fallback is not None:
                devices.on_watchdog_fallback()
            return
        assert isinstance(event, InputChanged)
        name, value = event.name, event.value
        if name in _LOOPS:
            loop = _LOOPS[name]
            post(lambda at: ev.LoopChanged(at, loop, value))
        elif name in ("barrier_up_limit", "barrier_down_limit"):
            if value:
                position = BarrierPosition.UP if name == "barrier_up_limit" else BarrierPosition.DOWN
            else:
                position = BarrierPosition.MOVING
            post(lambda at: ev.BarrierLimit(at, position))

    io = LaneIO(
        d.io.url,
        baudrate=d.io.baudrate,
        unit=d.io.unit,
        watchdog_ms=d.io.watchdog_ms,
        timeout=d.io.timeout,
        poll_interval=d.io.poll_interval,
        fail_after=d.io.fail_after,
        backoff=Backoff(d.io.backoff_initial, d.io.backoff_cap),
        on_event=on_io,
        on_availability=availability(Device.IO),
    )
    devices = LaneDevices(io)

    if d.rfid is not None:

        def on_tag(event: RfidEvent) -> None:
            if isinstance(event, TagSeen):
                epc = event.epc
                post(lambda at: ev.TagRead(at, epc, cache.vehicle_by_epc(epc)))

        devices.rfid = RfidReader(
            d.rfid.url,
            baudrate=d.rfid.baudrate,
            address=d.rfid.reader_address,
            hold_time=d.rfid.hold_time,
            command_timeout=d.rfid.command_timeout,
            repeat=d.rfid.repeat,
            fail_after=d.rfid.fail_after,
            backoff=Backoff(d.rfid.backoff_initial, d.rfid.backoff_cap),
            on_event=on_tag,
            on_availability=availability(Device.RFID),
        )

    if d.card is not None:

        def on_card(event: card_events.CardEvent) -> None:
            post(lambda at: _card_event(event, at, cache))

        devices.card = CardReader(d.card, on_card, availability_listener=availability(Device.CARD))

    if d.camera is not None:
        devices.camera = PlateCamera(d.camera, listener=availability(Device.CAMERA))
        if config.anpr.enabled:

            def on_plate(result: PlateResult) -> None:
                log.info(
                    "plate %s (confidence %.2f, %d frame(s), %.2f s)",
                    result.plate or "not read",
                    result.confidence,
                    result.frames,
                    result.elapsed_s,
                )
                post(
                    lambda at: ev.PlateDecided(
                        at,
                        result.plate,
                        result.confidence,
                        cache.vehicle_by_plate(result.plate) if result.plate else None,
                    )
                )

            devices.plates = PlateRecognizer(
                devices.camera,
                on_plate,
                frames_per_vehicle=config.anpr.frames_per_vehicle,
                frame_interval_ms=config.anpr.frame_interval_ms,
                frame_time_limit_ms=config.anpr.frame_time_limit_ms,
            )
    return devices


def _card_event(event: Any, at: float, cache: LaneCache) -> ev.Event:
    if isinstance(event, card_events.CardInserted):
        return ev.CardInserted(at)
    if isinstance(event, card_events.CardAuthenticated):
        identity = event.identity
        return ev.CardAuthenticated(
            at,
            identity.card_number,
            card_expires_at(identity.expiry),
            cache.driver_by_card(identity.card_number),
        )
    if isinstance(event, card_events.CardRejected):
        return ev.CardRejected(at, event.reason.value)
    return ev.CardRemoved(at)
