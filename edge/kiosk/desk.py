"""The kiosk's moving parts around the pure core: camera, face check, printer, outbox, local store.

:class:`Kiosk` is what the touchscreen page talks to. Each visitor action is
one method returning a JSON-ready answer with bilingual text. Events go to
the durable outbox (the same one lanes use), so a check-in made while the
broker or central is down is sent when they are back.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from edge.errors import DeviceError, GatepostError
from edge.hw.camera import Camera
from edge.hw.printer import TicketPrinter
from edge.hw.qr import decode_qr_image
from edge.kiosk.face import FaceCheck, FaceCheckError
from edge.kiosk.passes import PassError, sign_pass, verify_pass
from edge.kiosk.store import KioskStore
from edge.kiosk.visit import BlockList, CheckIn, FormError, VisitorForm, check_in, pass_lines
from edge.lane.ports import EventSink
from edge.link.storage import STORAGE_ERRORS, StorageGuard
from edge.wire import (
    EventType,
    InviteError,
    VisitorCheckedOut,
    uuid7,
    verify_invite,
)

log = logging.getLogger(__name__)

PHOTO_WIDTH = 240
PHOTO_QUALITY = 70
"""A small photo: enough for the desk to recognise someone, well inside the 64 kB event limit."""
PHOTOS_KEPT = 20


@dataclass(slots=True, frozen=True)
class KioskSettings:
    site: str
    device: str
    site_name: str
    sales_office: str | None
    pass_hours: float
    print_pass: bool
    timezone: str
    signing_key_id: int
    keys: dict[int, bytes]
    scan_timeout_s: float = 3.0


class KioskOutbox(EventSink, Protocol):
    """The durable outbox as the kiosk uses it (the outbox itself, or the same counted for /metrics)."""

    @property
    def depth(self) -> int: ...


class KioskError(GatepostError, ValueError):
    """A request the kiosk answers with a message (bad input, a camera that shows nothing)."""

    def __init__(
        self, code: str, zh: str, en: str, status: int = 422, field: str | None = None
    ) -> None:
        super().__init__(f"{code}: {en}")
        self.code, self.zh, self.en, self.status, self.field = code, zh, en, status, field

    def answer(self) -> dict[str, Any]:
        return {
            "ok": False,
            "error": self.code,
            "field": self.field,
            "message": {"zh": self.zh, "en": self.en},
        }


class Kiosk:
    """Check-in, photo, invite scan and check-out for one lobby kiosk."""

    def __init__(
        self,
        settings: KioskSettings,
        *,
        outbox: KioskOutbox,
        store: KioskStore,
        camera: Camera | None,
        printer: TicketPrinter | None,
        faces: FaceCheck | None,
        blocklist: Callable[[], BlockList],
        clock: Callable[[], datetime],
        on_camera_error: Callable[[], None] = lambda: None,
        storage: StorageGuard | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.storage = storage or StorageGuard(outbox, clock=clock)  # type: ignore[arg-type]
        """Every event goes through it: held in memory while storage fails (DESIGN.md §4)."""
        self.storage.watch("kiosk_store", lambda: store.probe(self.clock()))
        self.on_camera_error = on_camera_error
        self.store = store
        self.camera = camera
        self.printer = printer
        self.faces = faces
        self.blocklist = blocklist
        self.clock = clock
        self.zone = ZoneInfo(settings.timezone)
        self._lock = threading.Lock()
        self._photos: OrderedDict[str, str] = OrderedDict()

    # ----------------------------------------------------------------- photo

    def take_photo(self) -> dict[str, Any]:
        """Snapshot, face check, keep a small JPEG for the check-in; ask for a retake if no face."""
        if self.camera is None or self.faces is None:
            raise KioskError(
                "no_camera",
                "本机没有摄像头,可跳过拍照",
                "This kiosk has no camera; skip the photo",
                409,
            )
        try:
            frame = self.camera.snapshot()
            count = self.faces.count(frame)
        except (DeviceError, FaceCheckError) as exc:
            log.warning("photo failed: %s", exc)
            self.on_camera_error()
            raise KioskError(
                "camera",
                "摄像头暂不可用,可跳过拍照",
                "The camera is not available; you may skip the photo",
                503,
            ) from exc
        if count == 0:
            log.info("photo: no face found, retake asked")
            return {
                "ok": False,
                "retake": True,
                "message": {
                    "zh": "没有拍到人脸,请正对摄像头重拍",
                    "en": "No face found: please face the camera and retake",
                },
            }
        jpeg = _small_jpeg(frame)
        photo_id = uuid7()
        with self._lock:
            self._photos[photo_id] = jpeg
            while len(self._photos) > PHOTOS_KEPT:
                self._photos.popitem(last=False)
        return {
            "ok": True,
            "photo_id": photo_id,
            "preview": "data:image/jpeg;base64," + jpeg,
            "faces": count,
        }

    # ----------------------------------------------------------------- check-in

    def check_in(
        self, submission_id: str, form: VisitorForm, photo_id: str | None = None
    ) -> dict[str, Any]:
        """One check-in. The same ``submission_id`` again (a double tap) returns the first answer."""
        self._require_storage()
        with self._lock:
            earlier = self.store.answer_for(submission_id)
            if earlier is not None:
                log.info(
                    "check-in %s repeated (double tap): same answer, nothing sent", submission_id
                )
                return earlier | {"repeat": True}
            photo = None
            if photo_id:
                photo = self._photos.pop(photo_id, None)
                if photo is None:
                    raise KioskError(
                        "photo_gone",
                        "照片已过期,请重拍或跳过",
                        "The photo expired: retake it or skip",
                        field="photo",
                    )
            return self._admit(form, submission_id=submission_id, invite_id=None, photo=photo)

    def scan_invite(self) -> dict[str, Any]:
        """Read an invite QR from the camera and check its visitor in with one scan."""
        text = self._scan()
        today = self.clock().astimezone(self.zone).date().isoformat()
        try:
            invite = verify_invite(text, self.settings.keys, site=self.settings.site, today=today)
        except InviteError as exc:
            log.warning("invite refused (%s): %s", exc.reason, exc)
            zh, en = _INVITE_REFUSALS.get(exc.reason, _INVITE_REFUSALS["malformed"])
            raise KioskError(f"invite_{exc.reason}", zh, en) from exc
        form = VisitorForm(
            category=invite.category,
            name=invite.name,
            host=invite.host,
            unit=invite.unit,
            consent=True,
            party_size=1,
        )
        self._require_storage()
        with self._lock:
            if self.store.invite_used(invite.invite_id):
                log.warning("invite %s scanned again", invite.invite_id)
                raise KioskError(
                    "invite_used",
                    "此邀请码已使用过,请到前台",
                    "This invitation was already used: please see the desk",
                    409,
                )
            return self._admit(form, submission_id=None, invite_id=invite.invite_id, photo=None)

    def _admit(
        self,
        form: VisitorForm,
        *,
        submission_id: str | None,
        invite_id: str | None,
        photo: str | None,
    ) -> dict[str, Any]:
        now = self.clock()
        visit_id = uuid7(int(now.timestamp() * 1000))
        try:
            outcome = check_in(
                form,
                visit_id=visit_id,
                now=now,
                blocklist=self.blocklist(),
                pass_hours=self.settings.pass_hours,
                sales_office=self.settings.sales_office,
                invite_id=invite_id,
                photo=photo,
            )
        except FormError as exc:
            log.info("check-in refused: %s", exc)
            raise KioskError("invalid", exc.zh, exc.en, field=exc.field) from exc
        if not isinstance(outcome, CheckIn):
            self.storage.emit(EventType.VISITOR_BLOCKED, outcome.event)
            log.warning("blocked visitor at the kiosk; desk alarmed")
            zh, en = outcome.message
            answer = {"ok": False, "error": "see_desk", "message": {"zh": zh, "en": en}}
            if submission_id:
                self._write(
                    "kiosk_store",
                    lambda: self.store.add(
                        visit_id, submission_id=submission_id, invite_id=None, at=now, answer=answer
                    ),
                )
            return answer
        # Decided before a fault was known: the event is held if the disk refuses it, and the visitor,
        # already let in by the rules, is welcomed; from now on check-ins are refused (_require_storage).
        self.storage.emit(EventType.VISITOR_CHECKED_IN, outcome.event)
        answer = self._welcome(outcome)
        # Recorded before printing: a crash mid-print must not let a second tap send the visit again.
        self._write(
            "kiosk_store",
            lambda: self.store.add(
                visit_id, submission_id=submission_id, invite_id=invite_id, at=now, answer=answer
            ),
        )
        answer["printed"] = self._print_pass(outcome) if self.settings.print_pass else False
        self._write("kiosk_store", lambda: self.store.set_answer(visit_id, answer))
        return answer

    def _require_storage(self) -> None:
        """No new check-in while the kiosk cannot record it (its events and the double-tap guard)."""
        fault = self.storage.fault
        if fault is not None:
            log.warning("check-in refused: storage failing (%s)", fault.detail)
            raise KioskError(
                "storage",
                "本机暂时无法保存登记,请到前台登记",
                "This kiosk cannot save check-ins right now: please see the desk",
                503,
            )

    def _write(self, source: str, write: Callable[[], object]) -> None:
        """A local-store write that may fail without undoing what was decided: a storage fault, reported."""
        try:
            write()
        except STORAGE_ERRORS as exc:
            log.error("%s write failed: %s", source, exc)
            self.storage.report(source, exc)

    def _welcome(self, outcome: CheckIn) -> dict[str, Any]:
        event = outcome.event
        expires = outcome.expires_at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        answer: dict[str, Any] = {
            "ok": True,
            "visit_id": event.visit_id,
            "category": event.category,
            "name": event.name,
            "host": event.host,
            "unit": event.unit,
            "expires": expires,
            "desk_check": outcome.desk_check,
            "pass_qr": sign_pass(
                event.visit_id,
                self.settings.site,
                self.settings.signing_key_id,
                self.settings.keys[self.settings.signing_key_id],
            ),
        }
        if outcome.directions:
            answer["directions"] = {"zh": outcome.directions[0], "en": outcome.directions[1]}
        if outcome.notice:
            answer["notice"] = {"zh": outcome.notice[0], "en": outcome.notice[1]}
        return answer

    def _print_pass(self, outcome: CheckIn) -> bool:
        if self.printer is None:
            return False
        expires = outcome.expires_at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        qr = sign_pass(
            outcome.event.visit_id,
            self.settings.site,
            self.settings.signing_key_id,
            self.settings.keys[self.settings.signing_key_id],
        )
        try:
            self.printer.print_receipt(
                pass_lines(outcome.event, self.settings.site_name, expires), qr
            )
        except GatepostError as exc:  # the visitor is checked in; the desk prints a pass by hand
            log.error("visitor pass not printed: %s", exc)
            return False
        return True

    # ----------------------------------------------------------------- check-out

    def scan_checkout(self) -> dict[str, Any]:
        """Read a pass QR from the camera and check its visitor out."""
        text = self._scan()
        try:
            visit_id = verify_pass(text, self.settings.site, self.settings.keys)
        except PassError as exc:
            log.warning("check-out refused: %s", exc)
            raise KioskError(
                "not_a_pass",
                "无法识别此通行证,请到前台",
                "This pass is not recognised: please see the desk",
            ) from exc
        with self._lock:
            try:
                state = self.store.check_out(visit_id, self.clock())
            except STORAGE_ERRORS as exc:  # the visitor leaves anyway; the held event says so later
                self.storage.report("kiosk_store", exc)
                state = "unknown"
            if state == "already":
                return {
                    "ok": True,
                    "already": True,
                    "visit_id": visit_id,
                    "message": {
                        "zh": "您已经离开登记过了,再见!",
                        "en": "You are already checked out. Goodbye!",
                    },
                }
            # A genuine pass from this site's other kiosk is still checked out: central knows the visit.
            self.storage.emit(EventType.VISITOR_CHECKED_OUT, VisitorCheckedOut(visit_id=visit_id))
        return {
            "ok": True,
            "visit_id": visit_id,
            "message": {"zh": "离开登记完成,再见!", "en": "Checked out. Goodbye!"},
        }

    def _scan(self) -> str:
        if self.camera is None:
            raise KioskError(
                "no_camera",
                "本机没有摄像头,请到前台",
                "This kiosk has no camera: please see the desk",
                409,
            )
        try:
            text = self._read_qr()
        except DeviceError as exc:
            log.warning("QR scan failed: %s", exc)
            self.on_camera_error()
            raise KioskError(
                "camera",
                "摄像头暂不可用,请到前台",
                "The camera is not available: please see the desk",
                503,
            ) from exc
        if not text:
            raise KioskError(
                "no_qr",
                "没有扫到二维码,请把二维码对准摄像头",
                "No QR code seen: hold it up to the camera",
            )
        return text

    def _read_qr(self) -> str | None:
        """The first QR seen within the scan timeout. OpenCV's classic detector misses a few percent
        of codes that its ArUco-based one reads, so a pass is tried with both before asking again."""
        assert self.camera is not None
        deadline = time.monotonic() + self.settings.scan_timeout_s
        while True:
            frame = self.camera.snapshot()
            text = decode_qr_image(frame)
            if text or time.monotonic() >= deadline:
                return text
            time.sleep(0.05)

    def purge(self, retention_days: int) -> int:
        removed = self.store.purge(self.clock(), retention_days)
        if removed:
            log.info("kiosk purged %d old visits", removed)
        return removed


_INVITE_REFUSALS = {
    "malformed": (
        "无法识别此二维码,请到前台",
        "This QR code is not an invitation: please see the desk",
    ),
    "forged": ("邀请码无效,请到前台", "This invitation is not valid: please see the desk"),
    "unknown_key": ("邀请码无效,请到前台", "This invitation is not valid: please see the desk"),
    "wrong_site": (
        "此邀请码不属于本小区,请到前台",
        "This invitation is for another property: please see the desk",
    ),
    "wrong_day": (
        "邀请码只在预约当天有效,请到前台",
        "This invitation is valid only on the expected day: please see the desk",
    ),
}


def _small_jpeg(frame: np.ndarray) -> str:
    height = max(1, int(frame.shape[0] * PHOTO_WIDTH / frame.shape[1]))
    small = cv2.resize(frame, (PHOTO_WIDTH, height), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, PHOTO_QUALITY])
    if not ok:
        raise KioskError(
            "camera", "照片无法保存,请重拍", "The photo could not be saved: retake it", 503
        )
    return base64.b64encode(jpeg.tobytes()).decode()
