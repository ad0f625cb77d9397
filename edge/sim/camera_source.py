"""A camera that films a lane with, on request, a QR ticket held up to it.

:class:`SimulatedCameraSource` has the one method :class:`edge.hw.camera.Camera`
needs from a frame source, ``read() -> (ok, frame)``, and produces BGR frames
like a real VideoCapture: a plain scene with sensor noise, plus the QR code
from :meth:`show_qr` until :meth:`clear`. :meth:`unplug` makes reads fail, as a
camera whose cable came loose does. Only numpy: no OpenCV needed to run it.
"""

from __future__ import annotations

import threading

import numpy as np

from edge.hw.qr import render_qr


class SimulatedCameraSource:
    """Generated BGR frames (``height``×``width``×3 uint8) with an optional QR code in view."""

    def __init__(
        self, width: int = 640, height: int = 480, *, noise: int = 12, seed: int | None = None
    ) -> None:
        self.width = width
        self.height = height
        self.noise = noise
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._qr: np.ndarray | None = None
        self._plugged = True
        self.frames_read = 0
        # A tarmac-and-sky gradient with a dark "car" block: a plain scene with structure.
        ramp = np.linspace(60, 170, height, dtype=np.float32)[:, None]
        scene = np.repeat(np.repeat(ramp, width, axis=1)[:, :, None], 3, axis=2)
        scene[height // 2 :, width // 5 : width * 4 // 5] *= 0.45
        self._scene = scene.astype(np.uint8)

    def show_qr(self, text: str, *, scale: int | None = None) -> None:
        """Hold a QR code with ``text`` in front of the camera (centred, fitted to the frame)."""
        probe = render_qr(text, scale=1)
        fit = max(1, min(self.width, self.height) * 3 // 4 // probe.shape[0])
        image = render_qr(text, scale=scale or min(fit, 8))
        if image.shape[0] > self.height or image.shape[1] > self.width:
            raise ValueError(
                f"QR for {len(text)} characters does not fit a {self.width}×{self.height} frame"
            )
        with self._lock:
            self._qr = image

    def clear(self) -> None:
        """Take the QR code away."""
        with self._lock:
            self._qr = None

    def unplug(self) -> None:
        """Reads fail from now on, until :meth:`plug`."""
        self._plugged = False

    def plug(self) -> None:
        """Reads work again."""
        self._plugged = True

    def read(self) -> tuple[bool, np.ndarray | None]:
        """The next frame, as ``cv2.VideoCapture.read`` returns it."""
        if not self._plugged:
            return False, None
        frame = self._scene.copy()
        with self._lock:
            qr = self._qr
        if qr is not None:
            y = (self.height - qr.shape[0]) // 2
            x = (self.width - qr.shape[1]) // 2
            frame[y : y + qr.shape[0], x : x + qr.shape[1]] = qr[:, :, None]
        if self.noise:
            jitter = self._rng.integers(-self.noise, self.noise + 1, frame.shape, dtype=np.int16)
            frame = np.clip(frame.astype(np.int16) + jitter, 0, 255).astype(np.uint8)
        self.frames_read += 1
        return True, frame

    def release(self) -> None:
        """Nothing to free; present for VideoCapture compatibility."""
