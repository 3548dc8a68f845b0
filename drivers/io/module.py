"""Lane I/O module driver: barrier, traffic light, inspection sign and loops over Modbus RTU.

Layers: transport (pymodbus' serial client opens the port from a URL with pyserial's
``serial_for_url``: ``/dev/ttyUSB0``, a pseudo-terminal or ``socket://``) -> Modbus RTU
framing and CRC (pymodbus) -> this device API over the register map in
``drivers.io.registers``.

Safety, in this order:

- At connect the driver writes the module's communication watchdog (``watchdog_ms``), so
  the module itself falls back to the safe outputs (arm not commanded up, red on) when
  this host stops talking; the poll loop talks every ``poll_interval`` to keep it fed.
- ``lower_barrier()`` reads the safety loop right before it and refuses (raises
  ``SafetyLoopOccupied``) while a vehicle is under the arm; ``fail_safe()`` and ``close()``
  set the lights to red but leave a raised arm up while the safety loop is occupied.
- Every call has a timeout; a module that does not answer (a wrong unit id on RS-485 is
  silence, as on a real bus) or a port that fails makes the driver unavailable (logged
  once) and the poll loop reconnects with a backoff doubling to a cap.

Events (callback or queue): ``InputChanged(name, value, at)`` for each discrete input
when it changes, and for all of them after each (re)connect so the listener knows the
whole state; ``WatchdogFellBack(at)`` when the module reports it fell back by itself.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from drivers.base import (
    Availability,
    AvailabilityListener,
    Backoff,
    DeviceTimeout,
    DeviceUnavailable,
    DriverError,
    ProtocolError,
)
from drivers.io import registers as reg

log = logging.getLogger(__name__)
# pymodbus logs every unanswered request as an error; this driver reports availability
# instead (once when lost, once when back), so only pymodbus' critical lines get through.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class SafetyLoopOccupied(DriverError):
    """A barrier-down command was refused: a vehicle is on the safety loop under the arm."""


@dataclass(frozen=True, slots=True)
class InputChanged:
    name: str
    value: bool
    at: float


@dataclass(frozen=True, slots=True)
class WatchdogFellBack:
    at: float


IoEvent = InputChanged | WatchdogFellBack


class LaneIO:
    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 19200,
        unit: int = 1,
        watchdog_ms: int = 2000,
        timeout: float = 0.2,
        poll_interval: float = 0.05,
        fail_after: int = 2,
        retries: int = 1,
        backoff: Backoff | None = None,
        on_event: Callable[[IoEvent], None] | None = None,
        on_availability: AvailabilityListener | None = None,
        clock: Callable[[], float] = time.monotonic,
        name: str = "io",
    ) -> None:
        if not 1 <= unit <= 247:
            raise ValueError(f"unit must be 1..247 (got {unit})")
        if not 0 <= watchdog_ms <= reg.WATCHDOG_MS_MAX:
            raise ValueError(f"watchdog_ms must be 0..{reg.WATCHDOG_MS_MAX} (got {watchdog_ms})")
        if watchdog_ms and poll_interval * 1000 * 3 > watchdog_ms:
            raise ValueError(f"poll_interval {poll_interval} s too slow to feed a {watchdog_ms} ms watchdog")
        self.url = url
        self.unit = unit
        self.watchdog_ms = watchdog_ms
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.fail_after = fail_after
        if not 0 <= retries <= 5:
            raise ValueError(f"retries must be 0..5 (got {retries})")
        self.retries = retries
        self.backoff = backoff or Backoff(0.05, 2.0)
        self.availability = Availability(name, logger=log, listener=on_availability, clock=clock)
        self.firmware: str | None = None
        self._client = ModbusSerialClient(
            url, framer=FramerType.RTU, baudrate=baudrate, timeout=timeout, retries=0, name=name
        )
        self._connected = False
        self._connecting = False  # lets the connect handshake use _call before it is connected
        self._inputs: dict[str, bool] | None = None
        self._on_event = on_event
        self._events: queue.Queue[IoEvent] = queue.Queue()
        self._clock = clock
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def open(self) -> str:
        """Connect: identify the module, set its watchdog, set the lights safe. Returns firmware."""
        with self._lock:
            return self._connect()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            name = f"{self.availability.name}-poll"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Leave the lane safe (best effort, bounded), stop polling, close the port; idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():  # close() from a callback
            thread.join(timeout=2.0)
        with self._lock:
            if self._connected:
                try:
                    self._fail_safe()
                except DriverError as exc:
                    log.warning("io: could not set safe outputs on close: %s", exc)
            self._disconnect()
        self.availability.set_closed()  # logged once, at info: a deliberate close is no fault

    def __enter__(self) -> LaneIO:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- commands -------------------------------------------------------------------------

    def raise_barrier(self) -> None:
        self._write_coil("barrier_raise", True)

    def lower_barrier(self) -> None:
        """Let the arm close; refused while the safety loop is occupied (read right before)."""
        with self._lock:
            if self.read_inputs()["safety_loop"]:
                raise SafetyLoopOccupied("barrier not lowered: the safety loop is occupied")
            self._write_coil("barrier_raise", False)

    def set_light(self, *, red: bool, green: bool) -> None:
        with self._lock:
            self._call(
                lambda c: c.write_coils(reg.COILS["light_red"], [red, green], device_id=self.unit),
                "write lights",
            )

    def set_inspection_sign(self, on: bool) -> None:
        self._write_coil("inspection_sign", on)

    def fail_safe(self) -> None:
        """Red on, green off, no sign; the arm let down only if the safety loop is clear."""
        with self._lock:
            self._fail_safe()

    # --- reads --------------------------------------------------------------------------------

    def read_inputs(self) -> dict[str, bool]:
        with self._lock:
            rr = self._call(
                lambda c: c.read_discrete_inputs(0, count=reg.N_INPUTS, device_id=self.unit), "read inputs"
            )
        return {name: bool(rr.bits[i]) for name, i in reg.DISCRETE_INPUTS.items()}

    def read_outputs(self) -> dict[str, bool]:
        with self._lock:
            rr = self._call(lambda c: c.read_coils(0, count=reg.N_COILS, device_id=self.unit), "read outputs")
        return {name: bool(rr.bits[i]) for name, i in reg.COILS.items()}

    def read_watchdog_ms(self) -> int:
        with self._lock:
            rr = self._call(
                lambda c: c.read_holding_registers(reg.HOLDING_WATCHDOG_MS, count=1, device_id=self.unit),
                "read watchdog",
            )
        return int(rr.registers[0])

    def read_watchdog_trips(self) -> int:
        with self._lock:
            rr = self._call(
                lambda c: c.read_input_registers(reg.INPUT_WATCHDOG_TRIPS, count=1, device_id=self.unit),
                "read watchdog trips",
            )
        return int(rr.registers[0])

    @property
    def inputs(self) -> dict[str, bool] | None:
        """The inputs as last polled (None before the first poll)."""
        return None if self._inputs is None else dict(self._inputs)

    def get_event(self, timeout: float) -> IoEvent | None:
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    # --- internals ------------------------------------------------------------------------------

    def _call(self, op: Callable[[ModbusSerialClient], Any], what: str) -> Any:
        """Run one Modbus request; map pymodbus' outcomes onto the driver's exception tree."""
        if not self._connected and not self._connecting:
            raise DeviceUnavailable(f"io module not connected ({self.availability.reason or 'closed'})")
        for attempt in range(self.retries + 1):
            try:
                rr = op(self._client)
                break
            except ModbusIOException as exc:
                # a frame lost to line noise: every request here is idempotent, so ask again
                if attempt < self.retries:
                    continue
                raise DeviceTimeout(
                    f"io unit {self.unit}: no answer to '{what}' in {self.timeout} s"
                    f" ({self.retries + 1} attempt(s))"
                ) from exc
            except ConnectionException as exc:
                self._disconnect()
                raise DeviceUnavailable(f"io port {self.url} failed during '{what}': {exc}") from exc
            except (ModbusException, OSError) as exc:
                self._disconnect()
                raise DeviceUnavailable(f"io port {self.url} failed during '{what}': {exc}") from exc
        if rr is None or getattr(rr, "isError", lambda: True)():
            code = getattr(rr, "exception_code", None)
            raise ProtocolError(f"io module refused '{what}' (Modbus exception {code})")
        return rr

    def _write_coil(self, name: str, value: bool) -> None:
        with self._lock:
            self._call(lambda c: c.write_coil(reg.COILS[name], value, device_id=self.unit), f"write {name}")

    def _fail_safe(self) -> None:
        safe = reg.SAFE_OUTPUTS
        self._call(
            lambda c: c.write_coils(
                reg.COILS["light_red"], [safe["light_red"], safe["light_green"], safe["inspection_sign"]],
                device_id=self.unit,
            ),
            "write safe lights",
        )
        if not self.read_inputs()["safety_loop"]:
            self._write_coil("barrier_raise", safe["barrier_raise"])

    def _connect(self) -> str:
        self._disconnect()
        if not self._client.connect():
            raise DeviceUnavailable(f"cannot open io port {self.url}")
        self._connecting = True
        try:
            rr = self._call(
                lambda c: c.read_input_registers(reg.INPUT_FIRMWARE, count=1, device_id=self.unit), "identify"
            )
            fw = int(rr.registers[0])
            self._call(
                lambda c: c.write_register(reg.HOLDING_WATCHDOG_MS, self.watchdog_ms, device_id=self.unit),
                "set watchdog",
            )
            if self.read_watchdog_ms() != self.watchdog_ms:
                raise ProtocolError(f"io module did not keep watchdog_ms={self.watchdog_ms}")
            if self.read_inputs()["watchdog_fallback"]:
                # seen before our own writes clear the flag: the module fell back while we were away
                log.warning("io module reports its watchdog set the safe outputs by itself")
                self._emit(WatchdogFellBack(at=self._clock()))
            self._fail_safe()
        except DriverError:
            self._disconnect()
            raise
        finally:
            self._connecting = False
        self._connected = True
        self._inputs = None
        self.firmware = f"{fw >> 8}.{fw & 0xFF:02d}"
        return self.firmware

    def _disconnect(self) -> None:
        self._connected = False
        with contextlib.suppress(OSError):
            self._client.close()

    def _emit(self, event: IoEvent) -> None:
        if self._on_event is None:
            self._events.put(event)
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("io event listener failed on %r", event)

    def _poll(self) -> None:
        inputs = self.read_inputs()
        now = self._clock()
        previous = self._inputs
        self._inputs = inputs
        if inputs["watchdog_fallback"] and (previous is None or not previous["watchdog_fallback"]):
            log.warning("io module reports its watchdog set the safe outputs by itself")
            self._emit(WatchdogFellBack(at=now))
        for name in reg.input_names():
            if previous is None or previous[name] != inputs[name]:
                self._emit(InputChanged(name=name, value=inputs[name], at=now))

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with self._lock:
                    if not self._connected:
                        self._connect()
                    self._poll()
            except DeviceUnavailable as exc:
                self._fail(str(exc))
                continue
            except DriverError as exc:
                failures += 1
                if failures >= self.fail_after:
                    failures = 0
                    self._fail(str(exc))
                    continue
            except Exception as exc:  # a bug here must not end the loop silently
                log.exception("io poll loop error")
                self._fail(f"internal error: {exc!r}")
                continue
            else:
                failures = 0
                self.backoff.reset()
                self.availability.set_available()
            self._stop.wait(max(0.0, self.poll_interval - (time.monotonic() - started)))

    def _fail(self, reason: str) -> None:
        with self._lock:
            self._disconnect()
            self._inputs = None
        self.availability.set_unavailable(reason)
        self._stop.wait(self.backoff.next())
