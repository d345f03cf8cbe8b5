"""The server's background threads: a loop of turns, woken early by `wake()`.

The executor (runs) and the scheduler (recurring runs) each own one. A turn that fails
is logged and the loop goes on: the next turn retries.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("dh_kfp_pulumi.server")


class Loop:
    """A daemon thread calling `_turn()` until `stop()`; `_turn` returns how long to sleep
    before the next one (at least 10 ms), `_idle()` how long after a failed turn."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"dh-kfp-{name}", daemon=True)

    def _turn(self) -> float:
        raise NotImplementedError

    def _idle(self) -> float:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                wait = self._turn()
            except Exception:  # keep serving; the next turn retries
                log.exception("%s turn failed", self._name)
                wait = self._idle()
            self._wake.wait(max(0.01, wait))
            self._wake.clear()
