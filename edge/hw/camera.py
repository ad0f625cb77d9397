"""The lane camera: snapshots for the record, QR tickets and visitor passes read from the lens.

Wraps ``cv2.VideoCapture`` (a device index, a V4L2 path or an RTSP/HTTP URL),
or any frame source with ``read() -> (ok, frame)`` such as
:class:`edge.sim.camera_source.SimulatedCameraSource`. This is the one lane
module that imports OpenCV at import time; the lane imports it only when a
camera is configured.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from edge.errors import ConfigError, DeviceError
from edge.hw.qr import decode_qr_image

log = logging.getLogger(__name__)

REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
"""Snapshot names come from serials and event ids: no path separators, no leading dot."""


class FrameSource(Protocol):
    """What the camera reads from: ``cv2.VideoCapture`` or a simulator."""

    def read(self) -> tuple[bool, Any]: ...


class Camera:
    """A camera at the lane. Device trouble raises :class:`DeviceError` and is retried on the next call.

    Thread-safe: the exit lane's QR reader and the snapshot worker share one
    device, and ``cv2.VideoCapture`` must not be read from two threads at once.
    """

    def __init__(self, source: int | str | FrameSource, *, jpeg_quality: int = 85) -> None:
        if not 1 <= jpeg_quality <= 100:
            raise ConfigError(f"JPEG quality must be 1–100, got {jpeg_quality}")
        self.jpeg_quality = jpeg_quality
        self._spec: int | str | None = None
        self._capture: Any = None
        self._lock = threading.RLock()
        if isinstance(source, (int, str)):
            self._spec = source
        elif callable(getattr(source, "read", None)):
            self._capture = source
        else:
            raise ConfigError(
                f"camera source must be an index, a URL/path or a frame source, got {source!r}"
            )
        self.status = "ok"

    def _source(self) -> Any:
        if self._capture is None:
            assert self._spec is not None  # a frame source object is never dropped
            capture = cv2.VideoCapture(self._spec)
            if not capture.isOpened():
                capture.release()
                self._fail(f"cannot open camera {self._spec!r}")
            self._capture = capture
        return self._capture

    def _fail(self, why: str) -> None:
        if self.status != f"error: {why}":
            log.warning("camera: %s", why)
        self.status = f"error: {why}"
        raise DeviceError(why)

    def snapshot(self) -> np.ndarray:
        """The current frame (BGR uint8)."""
        with self._lock:
            source = self._source()
            ok, frame = source.read()
            if not ok or frame is None or getattr(frame, "size", 0) == 0:
                if self._spec is not None:  # a real capture that stopped: reopen next time
                    source.release()
                    self._capture = None
                self._fail("camera returned no frame")
            if self.status != "ok":
                log.info("camera: ok")
            self.status = "ok"
            return frame

    def save_snapshot(self, directory: str | os.PathLike[str], ref: str) -> Path:
        """Take a snapshot and store it as ``directory/ref.jpg`` (``ref-1.jpg``… if taken); returns the path.

        Written to a temporary file and renamed, so a power cut never leaves half a JPEG.
        """
        if not REF_RE.match(ref):
            raise ConfigError(
                f"snapshot name {ref!r} must be 1–80 letters, digits, '.', '_' or '-'"
            )
        frame = self.snapshot()
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise DeviceError("could not encode the snapshot as JPEG")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{ref}.jpg"
        n = 0
        while path.exists():
            n += 1
            path = folder / f"{ref}-{n}.jpg"
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(jpeg.tobytes())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        log.info("snapshot saved: %s", path, extra={"ref": ref})
        return path

    def read_qr(self, timeout: float) -> str | None:
        """The first QR code seen within ``timeout`` seconds, or None.

        Raises :class:`DeviceError` only if the camera yields no frame at all.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            text = decode_qr_image(self.snapshot())
            if text:
                return text
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

    def close(self) -> None:
        """Release the capture device."""
        with self._lock:
            release = getattr(self._capture, "release", None)
            if callable(release):
                release()
            if self._spec is not None:
                self._capture = None
