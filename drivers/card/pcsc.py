"""PC/SC transport through pyscard's low-level ``smartcard.scard`` API, every call bounded.

PC/SC itself has no timeout on SCardTransmit or SCardConnect: a wedged reader driver
blocks the caller for good. So every call runs on one worker thread owned by this
client and the caller waits at most ``call_timeout``; on overrun the worker is abandoned
(it is a daemon thread and can only ever finish a call on a context we no longer use),
the caller gets ``DeviceTimeout`` and the next ``establish()`` starts a fresh worker.
Error codes become the driver's exceptions, raised from a ``PcscCode`` cause.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from smartcard import scard

from drivers.base import DeviceTimeout, DriverError
from drivers.card.errors import CardCommError, CardRemovedError, ReaderGone

T = TypeVar("T")

# Codes after which the context is useless and must be re-established.
_READER_GONE = {
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_F_COMM_ERROR,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_E_INVALID_HANDLE,
    scard.SCARD_E_READER_UNAVAILABLE,
    scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_NO_READERS_AVAILABLE,
    scard.SCARD_E_INVALID_HANDLE,
    scard.SCARD_F_INTERNAL_ERROR,
}
_CARD_GONE = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_RESET_CARD,
}


class PcscCode(Exception):
    """The raw PC/SC return code, kept as the ``__cause__`` of the driver's exception."""

    def __init__(self, call: str, code: int) -> None:
        self.call = call
        self.code = code & 0xFFFFFFFF
        super().__init__(f"{call} returned {self.code:#010x} ({describe(code)})")


def describe(code: int) -> str:
    try:
        return str(scard.SCardGetErrorMessage(code)).strip().rstrip(".")
    except Exception:  # the message table is a convenience, never a reason to fail
        return "unknown PC/SC error"


def check(call: str, code: int) -> None:
    """Raise the driver exception for a PC/SC return code; return on success."""
    if code == scard.SCARD_S_SUCCESS:
        return
    cause = PcscCode(call, code)
    code = cause.code
    if code in _READER_GONE:
        raise ReaderGone(str(cause), code) from cause
    if code in _CARD_GONE:
        raise CardRemovedError(str(cause), code) from cause
    if code == scard.SCARD_E_TIMEOUT:
        raise DeviceTimeout(str(cause)) from cause
    raise CardCommError(str(cause), code) from cause


class _Worker:
    """One daemon thread running calls in order. Unlike ThreadPoolExecutor's threads, a
    wedged one never holds up interpreter exit."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[
            tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="pcsc-call", daemon=True).start()

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller, who re-raises it
                future.set_exception(exc)

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((future, fn, args))
        return future

    def shutdown(self) -> None:
        self._queue.put(None)


class PcscClient:
    """One PC/SC context and the worker thread that makes every call on it."""

    def __init__(self, call_timeout: float = 3.0) -> None:
        self.call_timeout = call_timeout
        self._context: Any = None
        self._executor: _Worker | None = None
        self._lock = threading.Lock()

    def _run(self, fn: Callable[..., T], *args: Any, extra: float = 0.0) -> T:
        with self._lock:
            if self._executor is None:
                self._executor = _Worker()
            executor = self._executor
        future = executor.submit(fn, *args)
        try:
            return future.result(timeout=self.call_timeout + extra)
        except concurrent.futures.TimeoutError as exc:
            self._abandon()
            limit = self.call_timeout + extra
            raise DeviceTimeout(f"PC/SC call {fn.__name__} took longer than {limit:.1f} s") from exc

    def _abandon(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
            self._context = None
        if executor is not None:
            executor.shutdown()

    @property
    def established(self) -> bool:
        return self._context is not None

    def establish(self) -> None:
        self.release()
        code, context = self._run(scard.SCardEstablishContext, scard.SCARD_SCOPE_USER)
        check("SCardEstablishContext", code)
        self._context = context

    def release(self) -> None:
        """Release the context; safe to call twice and after any fault."""
        context, self._context = self._context, None
        if context is None:
            return
        # The context is being dropped anyway; a dead pcscd cannot release it.
        with contextlib.suppress(DriverError):
            self._run(scard.SCardReleaseContext, context)

    def _ctx(self) -> Any:
        if self._context is None:
            raise ReaderGone("no PC/SC context (not established or lost)")
        return self._context

    def list_readers(self) -> list[str]:
        code, readers = self._run(scard.SCardListReaders, self._ctx(), [])
        if code == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        check("SCardListReaders", code)
        return list(readers)

    def get_status_change(
        self, wait_s: float, states: list[tuple[str, int]]
    ) -> list[tuple[str, int, list[int]]]:
        """Wait up to ``wait_s`` for a change; an unchanged state after the wait is returned as is."""
        code, new_states = self._run(
            scard.SCardGetStatusChange, self._ctx(), int(wait_s * 1000), states, extra=wait_s
        )
        if code == scard.SCARD_E_TIMEOUT or code == scard.SCARD_E_CANCELLED:
            return [(name, state, []) for name, state in states]
        check("SCardGetStatusChange", code)
        return list(new_states)

    def cancel(self) -> None:
        """Wake a pending SCardGetStatusChange (called from another thread, e.g. stop())."""
        context = self._context
        if context is not None:
            # Best effort: stop() must work even against a dead pcscd.
            with contextlib.suppress(Exception):
                scard.SCardCancel(context)

    def connect(self, reader: str) -> tuple[Any, int]:
        code, handle, protocol = self._run(
            scard.SCardConnect,
            self._ctx(),
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        check("SCardConnect", code)
        return handle, protocol

    def transmit(self, handle: Any, protocol: int, apdu: bytes) -> bytes:
        code, response = self._run(scard.SCardTransmit, handle, protocol, list(apdu))
        check("SCardTransmit", code)
        return bytes(response)

    def begin_transaction(self, handle: Any) -> None:
        """Exclusive use of the card until end_transaction: no other PC/SC client can
        slip an APDU (and change the selected file) into the middle of a read."""
        check("SCardBeginTransaction", self._run(scard.SCardBeginTransaction, handle))

    def end_transaction(self, handle: Any) -> None:
        check("SCardEndTransaction", self._run(scard.SCardEndTransaction, handle, scard.SCARD_LEAVE_CARD))

    def disconnect(self, handle: Any, reset: bool = True) -> None:
        disposition = scard.SCARD_RESET_CARD if reset else scard.SCARD_LEAVE_CARD
        try:
            code = self._run(scard.SCardDisconnect, handle, disposition)
        except DriverError:
            return  # a card or reader that has gone needs no disconnect
        if code not in (scard.SCARD_S_SUCCESS, scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_INVALID_HANDLE):
            check("SCardDisconnect", code)

    def close(self) -> None:
        """Release the context and let the worker go; safe to call twice."""
        self.release()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown()
