"""The real OpenCV Haar cascade on generated frames: a drawn face is found, an empty lobby is not."""

from __future__ import annotations

import numpy as np
import pytest

from edge.hw.camera import Camera
from edge.kiosk.face import FaceCheck, FaceCheckError, find_cascade
from edge.kiosk.sim_face import KioskCameraSource, draw_face, empty_lobby


@pytest.fixture(scope="module")
def faces() -> FaceCheck:
    return FaceCheck()


def test_the_cascade_is_the_one_shipped_with_opencv():
    assert find_cascade().name == "haarcascade_frontalface_default.xml"


@pytest.mark.parametrize("size", [120, 200, 300])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_drawn_face_is_found_once(faces, size, seed):
    assert faces.count(draw_face(size=size, seed=seed)) == 1


@pytest.mark.parametrize("seed", range(4))
def test_an_empty_lobby_has_no_face(faces, seed):
    assert faces.count(empty_lobby(seed=seed)) == 0


def test_bad_frames_get_a_clear_error(faces):
    for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((10, 10, 3), np.float32), "not an image"):
        with pytest.raises(FaceCheckError):
            faces.faces(bad)


def test_camera_source_switches_between_face_nobody_and_a_qr(faces):
    source = KioskCameraSource()
    camera = Camera(source)
    assert faces.count(camera.snapshot()) == 1
    source.show_nobody()
    assert faces.count(camera.snapshot()) == 0
    source.show_qr("GPP1.1.0123456789abcdef.AAAAAAAAAAAAAAAAAAAA")
    assert camera.read_qr(1.0) == "GPP1.1.0123456789abcdef.AAAAAAAAAAAAAAAAAAAA"


def test_every_printed_pass_is_read_back_by_the_kiosk_scan():
    # OpenCV's classic QR detector misses a few percent of codes; the kiosk must read them all.
    import os

    from edge.kiosk.desk import Kiosk, KioskSettings
    from edge.kiosk.passes import sign_pass
    from edge.wire import uuid7

    source = KioskCameraSource()
    settings = KioskSettings(
        site="north",
        device="k1",
        site_name="N",
        sales_office=None,
        pass_hours=8,
        print_pass=False,
        timezone="UTC",
        signing_key_id=1,
        keys={1: os.urandom(32)},
        scan_timeout_s=0,
    )
    kiosk = Kiosk(
        settings,
        outbox=None,
        store=None,
        camera=Camera(source),
        printer=None,
        faces=None,
        blocklist=lambda: None,
        clock=lambda: None,
    )
    for _ in range(60):
        text = sign_pass(uuid7(), "north", 1, settings.keys[1])
        source.show_qr(text)
        assert kiosk._read_qr() == text
