"""Generated visitor photos for the simulated kiosk camera: a drawn face, or an empty lobby.

No photo of a real person is shipped or downloaded: :func:`draw_face` paints
the light/dark layout a frontal-face Haar cascade keys on (dark eye band over
bright cheeks, a bright nose bridge, a darker mouth), blurred like a lens
would, and the tests check that :class:`edge.kiosk.face.FaceCheck` finds it.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np


def draw_face(
    width: int = 640, height: int = 480, *, size: int | None = None, seed: int = 0
) -> np.ndarray:
    """A BGR frame with one frontal face of about ``size`` pixels, centred, on a plain wall."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 70, np.uint8)
    s = size or min(width, height) // 2
    cx, cy = width // 2, height // 2
    cv2.ellipse(img, (cx, cy), (int(s * 0.42), int(s * 0.55)), 0, 0, 360, 185, -1)  # face
    cv2.ellipse(
        img, (cx, cy - int(s * 0.5)), (int(s * 0.45), int(s * 0.22)), 0, 180, 360, 40, -1
    )  # hair
    for dx in (-1, 1):
        ex = cx + dx * int(s * 0.18)
        ey = cy - int(s * 0.1)
        cv2.ellipse(
            img, (ex, ey - int(s * 0.09)), (int(s * 0.11), int(s * 0.025)), 0, 0, 360, 60, -1
        )  # brow
        cv2.ellipse(img, (ex, ey), (int(s * 0.09), int(s * 0.045)), 0, 0, 360, 45, -1)  # eye
    cv2.rectangle(
        img,
        (cx - int(s * 0.04), cy - int(s * 0.08)),
        (cx + int(s * 0.04), cy + int(s * 0.12)),
        215,
        -1,
    )  # nose
    cv2.ellipse(
        img, (cx, cy + int(s * 0.15)), (int(s * 0.07), int(s * 0.025)), 0, 0, 360, 110, -1
    )  # nostrils
    cv2.ellipse(
        img, (cx, cy + int(s * 0.3)), (int(s * 0.16), int(s * 0.04)), 0, 0, 360, 70, -1
    )  # mouth
    blurred = cv2.GaussianBlur(img, (0, 0), max(1.0, s / 60))
    noise = rng.integers(-6, 7, blurred.shape, dtype=np.int16)
    noisy = np.clip(blurred.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return cv2.cvtColor(noisy, cv2.COLOR_GRAY2BGR)


def empty_lobby(width: int = 640, height: int = 480, *, seed: int = 0) -> np.ndarray:
    """A frame with nobody in it: a wall and a door frame."""
    rng = np.random.default_rng(seed)
    img = np.tile(np.linspace(90, 160, width, dtype=np.float32), (height, 1))
    img[height // 5 :, width // 3 : width // 3 + 12] = 50
    noisy = img + rng.normal(0, 4, img.shape)
    return cv2.cvtColor(np.clip(noisy, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


class KioskCameraSource:
    """A frame source for :class:`edge.hw.camera.Camera` in front of the kiosk.

    Shows a face (:meth:`show_face`), nobody (:meth:`show_nobody`), or a QR
    code held up to the lens (:meth:`show_qr`, e.g. a visitor pass at check-out);
    :meth:`unplug` makes reads fail, as a camera with a loose cable does.
    """

    def __init__(self, width: int = 640, height: int = 480) -> None:
        from edge.sim.camera_source import SimulatedCameraSource

        self.width, self.height = width, height
        self._qr = SimulatedCameraSource(width, height, noise=0)
        self._lock = threading.Lock()
        self._mode = "face"
        self._face = draw_face(width, height)
        self._empty = empty_lobby(width, height)

    def show_face(self) -> None:
        with self._lock:
            self._mode = "face"

    def show_nobody(self) -> None:
        with self._lock:
            self._mode = "nobody"

    def show_qr(self, text: str) -> None:
        self._qr.show_qr(text)
        with self._lock:
            self._mode = "qr"

    def unplug(self) -> None:
        with self._lock:
            self._mode = "unplugged"

    def read(self) -> tuple[bool, np.ndarray | None]:
        with self._lock:
            mode = self._mode
        if mode == "unplugged":
            return False, None
        if mode == "qr":
            return self._qr.read()
        return True, (self._face if mode == "face" else self._empty).copy()

    def release(self) -> None:
        """Nothing to free; VideoCapture compatibility."""
