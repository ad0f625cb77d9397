"""A pseudo-terminal pair that stands in for a serial cable to a device.

The driver under test opens :attr:`PtyPair.device_path` with pyserial exactly as
it would open ``/dev/ttyAMA0``; the emulator on the other end reads and writes
:attr:`PtyPair.master_fd`. Closing the master makes the slave node vanish, which
is what a USB-serial reader pulled out of its socket looks like to the driver.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import time
import tty
from typing import Self


class PtyPair:
    """A raw-mode pty: the slave side is the "device file", the master is the device.

    The slave fd is kept open here so the pty survives while the driver has not
    opened it yet (or between a driver's close and reopen).
    """

    def __init__(self) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        # Raw on both sides: no echo, no CR/LF translation, no signals on 0x03.
        tty.setraw(self._slave_fd)
        tty.setraw(self.master_fd)
        self.device_path: str = os.ttyname(self._slave_fd)
        self._closed = False
        self._write_lock = threading.Lock()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: the device has vanished."""
        return self._closed

    def read(self, n: int, timeout: float | None) -> bytes:
        """Up to ``n`` bytes the driver wrote; ``b""`` after ``timeout`` seconds or once closed.

        Returns as soon as any byte is available, so an emulator answers promptly.
        """
        if self._closed:
            return b""
        try:
            ready, _, _ = select.select([self.master_fd], [], [], timeout)
        except (OSError, ValueError):  # closed under our feet by another thread
            return b""
        if not ready:
            return b""
        try:
            return os.read(self.master_fd, n)
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EBADF, errno.EAGAIN):
                return b""
            raise

    def write(self, data: bytes) -> None:
        """Send all of ``data`` to the driver (the device talking).

        Raises ``OSError`` once the pair is closed, as a vanished device would.
        """
        view = memoryview(bytes(data))
        with self._write_lock:
            while view:
                if self._closed:
                    raise OSError(errno.EIO, "pty closed")
                try:
                    written = os.write(self.master_fd, view)
                except BlockingIOError:
                    time.sleep(0.001)
                    continue
                view = view[written:]

    def close(self) -> None:
        """Close both ends; the slave device node disappears. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for fd in (self.master_fd, self._slave_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
