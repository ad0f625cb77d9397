"""An RDM6300 badge reader on a pty, speaking the real 14-byte frames.

Tests and the demo point :class:`edge.hw.rdm6300.BadgeReader` at
:attr:`RDM6300Emulator.device_path`; :meth:`present` holds a badge in the
field (the frame repeats, as the real module does), :meth:`remove` takes it
away, :meth:`send_raw` injects line noise, and :meth:`close` makes the device
vanish.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from typing import Self

from edge.hw.rdm6300 import encode_frame
from edge.sim.pty import PtyPair

log = logging.getLogger(__name__)


class RDM6300Emulator:
    """A simulated RDM6300: one background thread repeating the present badge's frame."""

    def __init__(self) -> None:
        self._pty = PtyPair()
        # Non-blocking: with nobody reading, a real module's bytes fall on the
        # floor; here the pty buffer would fill and block the thread instead.
        flags = fcntl.fcntl(self._pty.master_fd, fcntl.F_GETFL)
        fcntl.fcntl(self._pty.master_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._lock = threading.Lock()
        self._frame: bytes | None = None
        self._interval = 0.1
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.frames_sent = 0
        self._thread = threading.Thread(target=self._run, name="rdm6300-emulator", daemon=True)
        self._thread.start()

    @property
    def device_path(self) -> str:
        """The serial device the driver opens (the pty's slave side)."""
        return self._pty.device_path

    def present(self, badge_hex: str, repeat_interval: float = 0.1) -> None:
        """Hold ``badge_hex`` (10 hex digits) in the field until :meth:`remove`."""
        frame = encode_frame(badge_hex)
        with self._lock:
            self._frame, self._interval = frame, repeat_interval
        self._wake.set()

    def remove(self) -> None:
        """Take the badge out of the field: frames stop."""
        with self._lock:
            self._frame = None

    def send_raw(self, data: bytes) -> None:
        """Write arbitrary bytes (noise, torn or corrupted frames) to the driver."""
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self._pty.closed:
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._pty.master_fd, view) :]
        except BlockingIOError:
            log.debug("rdm6300 emulator: nobody reading, %d bytes dropped", len(view))
        except OSError as exc:
            log.debug("rdm6300 emulator write failed: %s", exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                frame, interval = self._frame, self._interval
            if frame is None:
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            self._write(frame)
            self.frames_sent += 1
            self._stop.wait(interval)

    def close(self) -> None:
        """Stop and make the device vanish (the driver sees a read error)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=2)
        self._pty.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
