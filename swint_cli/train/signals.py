"""Graceful stop on Ctrl-C / SIGTERM: finish the current batch, checkpoint, exit 130."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """A flag set by SIGINT/SIGTERM (or :meth:`set`) that the training loop polls.

    The first signal only sets the flag; a second SIGINT raises KeyboardInterrupt at once.
    Handlers are installed by :meth:`install` (main thread only) and removed by
    :meth:`restore`.
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self._previous: dict[int, object] = {}

    def set(self, reason: str = "stop requested") -> None:
        self.reason = reason

    def __bool__(self) -> bool:
        return self.reason is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.set(signal.Signals(signum).name)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()
