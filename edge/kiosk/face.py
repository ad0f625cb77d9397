"""Is there a face in the visitor's photo? A Haar-cascade face-presence check.

The kiosk only needs to know that a photo shows a face, so it can ask for a
retake when the visitor stepped aside; it never recognises anyone. The
frontal-face cascade ships inside the OpenCV wheel (``cv2.data.haarcascades``;
OpenCV is pinned below 5, which dropped it) or as Debian's ``opencv-data``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from edge.errors import ConfigError, GatepostError

log = logging.getLogger(__name__)

CASCADE_NAME = "haarcascade_frontalface_default.xml"
CASCADE_DIRS = (
    os.environ.get("GATEPOST_HAAR_DIR", ""),
    getattr(getattr(cv2, "data", None), "haarcascades", ""),
    "/usr/share/opencv4/haarcascades",
)

Box = tuple[int, int, int, int]


class FaceCheckError(GatepostError, ValueError):
    """The photo cannot be checked (empty, not an image)."""


def find_cascade(name: str = CASCADE_NAME) -> Path:
    """The cascade file shipped with OpenCV; :class:`ConfigError` naming where it looked."""
    for folder in CASCADE_DIRS:
        if folder and (Path(folder) / name).is_file():
            return Path(folder) / name
    raise ConfigError(
        f"{name} not found in {[d for d in CASCADE_DIRS if d]}: install OpenCV's data "
        "(Debian: apt-get install opencv-data) or set GATEPOST_HAAR_DIR"
    )


class FaceCheck:
    """``count(frame)`` → how many frontal faces a BGR or gray frame shows."""

    def __init__(
        self,
        cascade: Path | None = None,
        *,
        min_size: int = 40,
        min_neighbors: int = 4,
        work_width: int = 320,
    ) -> None:
        path = cascade or find_cascade()
        self.min_size = min_size
        self.min_neighbors = min_neighbors
        self.work_width = work_width
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ConfigError("OpenCV could not load the cascade", source=str(path))
        log.info("face check: %s", path.name)

    def faces(self, frame: np.ndarray) -> list[Box]:
        if not isinstance(frame, np.ndarray) or frame.size == 0 or frame.ndim not in (2, 3):
            raise FaceCheckError("the photo is empty or not an image")
        if frame.dtype != np.uint8:
            raise FaceCheckError(f"the photo has {frame.dtype} pixels, expected 8-bit")
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        scale = 1.0
        if gray.shape[1] > self.work_width:  # a Pi checks a small copy: fast and just as sure
            scale = gray.shape[1] / self.work_width
            gray = cv2.resize(
                gray,
                (self.work_width, max(1, int(gray.shape[0] / scale))),
                interpolation=cv2.INTER_AREA,
            )
        gray = cv2.equalizeHist(gray)
        min_size = max(24, int(self.min_size / scale))
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(min_size, min_size)
        )
        return [
            (int(x * scale), int(y * scale), int(w * scale), int(h * scale)) for x, y, w, h in found
        ]

    def count(self, frame: np.ndarray) -> int:
        return len(self.faces(frame))
