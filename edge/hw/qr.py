"""QR codes as images: render one (for the simulated camera, the kiosk screen) and decode one.

Rendering needs only ``qrcode`` and numpy. Decoding needs OpenCV, which is
imported inside :func:`decode_qr_image` on purpose: a lane without a camera
must start without loading cv2 (it is large and slow to import on a Pi), and
this module is also used where only rendering is needed.
"""

from __future__ import annotations

import logging

import numpy as np
import qrcode
import qrcode.constants
import qrcode.exceptions

from edge.errors import GatepostError

log = logging.getLogger(__name__)


class QrError(GatepostError, ValueError):
    """Text cannot be rendered as a QR code (empty or too long)."""


def render_qr(text: str, *, scale: int = 6, border: int = 4) -> np.ndarray:
    """A black-on-white QR code for ``text`` as a 2-D uint8 image (0 = black, 255 = white).

    ``scale`` is pixels per module; ``border`` the quiet zone in modules (4 is
    the standard's minimum for reliable reading).
    """
    if not text:
        raise QrError("QR text is empty")
    if scale < 1 or border < 0:
        raise QrError(f"bad QR scale/border {scale}/{border}")
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    try:
        code.add_data(text)
        code.make(fit=True)
    except (ValueError, qrcode.exceptions.DataOverflowError) as exc:
        raise QrError(f"cannot render {len(text)} characters as a QR code: {exc}") from exc
    modules = np.array(code.get_matrix(), dtype=bool)
    image = np.where(modules, 0, 255).astype(np.uint8)
    return np.kron(image, np.ones((scale, scale), dtype=np.uint8))


def decode_qr_image(image: np.ndarray) -> str | None:
    """The text of a QR code in ``image`` (BGR or grayscale), or None if there is none.

    OpenCV's classic detector misses about one code in twenty at any scale
    (its finder-pattern search); the ArUco-based detector reads those, so a
    miss is retried with it before the driver is told there is no code.
    """
    import cv2  # deliberately lazy: see the module docstring

    if image is None or getattr(image, "size", 0) == 0:
        return None
    for detector in (cv2.QRCodeDetector, cv2.QRCodeDetectorAruco):
        try:
            text, _points, _ = detector().detectAndDecode(image)
        except cv2.error as exc:
            log.debug("QR decode with %s failed: %s", detector.__name__, exc)
            continue
        if text:
            return text
    return None
