"""The booth (岗亭): one post, its lanes, the guard on duty, and every decision the guard takes.

:class:`Booth` is what the console page talks to. It checks who is on duty,
turns each button into one lane call or one event, and makes every request
safe to repeat:

* each request carries an id; an id already answered gets the same answer
  again (a double tap, a retried request after a dropped Wi-Fi packet) and
  nothing is done twice;
* an action on a vehicle names the ticket serial the page saw; if the lane
  has moved on (the car left, another guard took the money) the request is
  refused as stale, never applied to the next car;
* bad text (empty or 10 kB reasons, absurd cash) is refused with a message in
  both languages and a log line before anything is recorded.

Events the booth itself makes (sign-on, shift closed, incident, free exit) go
through the lane's outbox like the lane's own, so they reach central when the
broker is back, and into the shift ledger.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from edge.console.guards import Guard, GuardRoster, SignOnRefused
from edge.console.ledger import watch_lane
from edge.console.receipts import (
    FeeReceipt,
    LineItem,
    ReceiptError,
    receipt_lines,
    receipt_qr,
    shift_report_lines,
)
from edge.console.shift import ShiftClose, ShiftError, check_cash, close_shift, tally
from edge.console.store import ConsoleStore
from edge.console.voice import Voice
from edge.errors import GatepostError
from edge.lane import messages
from edge.lane.lane import Lane
from edge.lane.machine import LaneRefused, Phase, Show
from edge.lane.messages import Message
from edge.tariff.money import format_money
from edge.wire import (
    EventData,
    EventType,
    FreeExit,
    GuardShift,
    IncidentReported,
    format_ts,
    parse_ts,
)

log = logging.getLogger("gatepost.console")

REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
MAX_REASON = 500
MAX_DESCRIPTION = 2000
INCIDENT_KINDS = ("forced_entry", "dispute", "damage", "other")
SPOKEN = frozenset({"fee_due", "fee_due_unattended", "lot_full"})
"""Messages the lane speaks aloud; the rest are only shown."""
BADGE_HANDOVER_S = 90
"""How long a badge shown at the booth reader counts as the incoming guard's confirmation."""
_CASH = re.compile(r"^\s*(-?)(\d{1,12})(?:[.,](\d{1,2}))?\s*$")
_MESSAGES: dict[str, Message] = {
    m.key: m for m in vars(messages).values() if isinstance(m, Message)
}


class ConsoleRefused(GatepostError, ValueError):
    """A console request that is not carried out; ``zh`` is the booth screen's Chinese text."""

    def __init__(self, message: str, zh: str, status: int = 409, code: str = "refused") -> None:
        self.zh = zh
        self.status = status
        self.code = code
        super().__init__(message)


def parse_cash(text: object) -> int:
    """A cash amount typed by a guard ("1234.5", "80") as minor units; absurd amounts are refused."""
    if isinstance(text, bool):
        raise ShiftError("counted cash must be an amount like 125.50", "现金金额格式应为 125.50")
    if isinstance(text, int):
        return check_cash(text * 100)
    match = _CASH.match(str(text or ""))
    if match is None:
        raise ShiftError("counted cash must be an amount like 125.50", "现金金额格式应为 125.50")
    sign, whole, frac = match.groups()
    minor = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
    return check_cash(-minor if sign else minor)


def clean_text(text: object, what: str, what_zh: str, limit: int) -> str:
    """A reason or description: required, at most ``limit`` characters, control characters dropped."""
    value = "".join(ch for ch in str(text or "") if ch.isprintable() or ch in "\n\t").strip()
    if not value:
        raise ConsoleRefused(f"{what} is required", f"请填写{what_zh}", status=422, code="missing")
    if len(value) > limit:
        raise ConsoleRefused(
            f"{what} is too long ({len(value)} characters, at most {limit})",
            f"{what_zh}过长({len(value)}字,最多{limit}字)",
            status=422,
            code="too_long",
        )
    return value


class Booth:
    """One guard post running one or several lanes; thread-safe; answers are plain dicts."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        roster: GuardRoster,
        store: ConsoleStore,
        *,
        post: str,
        site: str,
        clock: Callable[[], datetime],
        printer: Any = None,
        voice: Voice | None = None,
        receipt_key: bytes = b"",
        currency: str = "CNY",
        snapshot_dirs: Mapping[str, Path] | None = None,
    ) -> None:
        """The lanes stay unattended until a guard signs on (DESIGN §4: nobody acts without the right)."""
        if not lanes:
            raise ValueError("a booth runs at least one lane")
        self.lanes: dict[str, Lane] = {lane.name: lane for lane in lanes}
        self.roster = roster
        self.store = store
        self.post = post[:64]
        self.site = site
        self.clock = clock
        self.printer = printer
        self.voice = voice
        self.receipt_key = receipt_key
        self.currency = currency
        self.snapshot_dirs = {
            lane.name: Path(lane.snapshots.directory)
            for lane in lanes
            if lane.snapshots is not None
        } | dict(snapshot_dirs or {})
        self._lock = threading.RLock()
        self._booth_badge: tuple[str, datetime] | None = None
        for lane in lanes:
            watch_lane(lane, store, clock)
            self._listen(lane)
        # The post's own events (sign-on, shift) travel through the first lane's outbox.
        self._post_lane = lanes[0]
        self._tell_lanes(self.duty())

    # ----------------------------------------------------------------- wiring

    def _listen(self, lane: Lane) -> None:
        before = lane.on_effect

        def on_effect(effect: Any) -> None:
            if before is not None:
                before(effect)
            if self.voice is not None and isinstance(effect, Show) and effect.message.key in SPOKEN:
                self.voice.announce(effect.message)

        lane.on_effect = on_effect

    def _tell_lanes(self, duty: Mapping[str, Any] | None) -> None:
        guard = duty["guard"] if duty else None
        for lane in self.lanes.values():
            # Lane.set_guard_on_duty switches the lane between attended and unattended mode.
            setter = getattr(lane, "set_guard_on_duty", None)
            if callable(setter):
                try:
                    setter(guard)
                except GatepostError as exc:
                    log.error("lane %s did not take the duty change: %s", lane.name, exc)

    def _emit(self, lane: Lane, event_type: EventType, data: EventData) -> None:
        try:
            # Through the lane's storage guard: in order with the lane's own events, held in memory
            # through a storage fault (a guard can still sign on to raise the barrier by hand).
            lane.storage.store([(event_type, data)])
        except Exception as exc:  # neither stored nor held: without a record nothing is done
            log.critical("console event %s not stored: %s", event_type, exc)
            raise ConsoleRefused(
                f"cannot record the event ({exc}); nothing was done",
                "无法记录事件,操作未执行",
                status=503,
                code="storage",
            ) from exc

    # ----------------------------------------------------------------- what the page shows

    def duty(self) -> dict[str, Any] | None:
        return self.store.get("duty")

    def view(self) -> dict[str, Any]:
        duty = self.duty()
        return {
            "post": self.post,
            "site": self.site,
            "now": format_ts(self.clock()),
            "duty": duty,
            "lanes": [self.lane_view(lane) for lane in self.lanes.values()],
        }

    def lane_view(self, lane: Lane) -> dict[str, Any]:
        s = lane.status()
        message = self._message(s.message, s.minutes, s.fee_due_minor, s.currency)
        fee = None
        if s.fee_due_minor is not None and s.minutes is not None:
            sentence = messages.fee_due(s.minutes, s.fee_due_minor, s.currency)
            fee = {
                "minor": s.fee_due_minor,
                "text": format_money(s.fee_due_minor, s.currency),
                "zh": sentence.zh,
                "en": sentence.en,
            }
        snapshot = (self.store.get(f"snapshot:{lane.name}") or {}).get("ref")
        return {
            "name": lane.name,
            "role": s.role,
            "phase": str(s.phase),
            "barrier": s.barrier,
            "vehicle_present": bool(s.vehicle_waiting or s.presence),
            "under_barrier": s.presence,
            "card": _card_state(s.phase, s.message),
            "card_station": s.extra.get("card_station"),
            "serial": s.serial,
            "minutes": s.minutes,
            "fee": fee,
            "currency": s.currency,
            "message": {"key": message.key, "zh": message.zh, "en": message.en}
            if message
            else None,
            "out_of_service": s.out_of_service,
            "fault": s.fault,
            "clock_trusted": s.clock_trusted,
            "occupied": s.occupied,
            "capacity": s.capacity,
            "storage_error": s.extra.get("storage_error"),
            "snapshot": str(snapshot) if snapshot else None,
            "last_receipt": self.store.last_event(lane.name, EventType.PAYMENT_CONFIRMED)
            is not None,
        }

    @staticmethod
    def _message(
        key: str | None, minutes: int | None, fee: int | None, currency: str
    ) -> Message | None:
        if key is None:
            return None
        if key == "fee_due" and minutes is not None and fee is not None:
            return messages.fee_due(minutes, fee, currency)
        if key == "fee_due_unattended" and minutes is not None and fee is not None:
            return messages.fee_due_unattended(minutes, fee, currency)
        if key == "free_exit" and minutes is not None:
            return messages.free_exit(minutes)
        if key.startswith("rejected_"):
            return messages.ticket_rejected(key.removeprefix("rejected_"))
        return _MESSAGES.get(key)

    def snapshot_path(self, lane_name: str, name: str) -> Path | None:
        """A snapshot file of a lane, only from inside that lane's snapshot folder."""
        folder = self.snapshot_dirs.get(lane_name)
        if (
            folder is None
            or not re.fullmatch(r"[A-Za-z0-9._-]{1,120}", name)
            or name.startswith(".")
        ):
            return None
        path = (folder / name).resolve()
        return path if path.parent == folder.resolve() and path.is_file() else None

    # ----------------------------------------------------------------- request plumbing

    def run(self, request_id: object, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Do ``action`` once per request id; a repeated id gets the first answer, marked ``repeat``."""
        rid = str(request_id or "")
        if not REQUEST_ID.match(rid):
            raise ConsoleRefused(
                "every console request needs a request id (8-40 letters, digits, - or _)",
                "请求编号无效,请刷新页面",
                status=422,
                code="request_id",
            )
        with self._lock:
            done = self.store.answer_of(rid)
            if done is not None:
                log.info("console request %s repeated; answering again, doing nothing", rid)
                return done | {"repeat": True}
            try:
                answer = action()
            except (SignOnRefused, ShiftError, LaneRefused, ReceiptError) as exc:
                status = (
                    429
                    if getattr(exc, "retry_after_s", None)
                    else (403 if isinstance(exc, SignOnRefused) else 409)
                )
                log.info("console request refused: %s", exc)
                raise ConsoleRefused(
                    str(exc),
                    getattr(exc, "zh", "操作被拒绝"),
                    status=status,
                    code="pin" if isinstance(exc, SignOnRefused) else "refused",
                ) from exc
            except ConsoleRefused as exc:
                log.info("console request refused: %s", exc)
                raise
            answer = {"ok": True} | answer
            self.store.remember(rid, answer, self.clock())
            return answer

    def _on_duty(self) -> dict[str, Any]:
        duty = self.duty()
        if duty is None:
            raise ConsoleRefused(
                "no guard is signed on at this post", "请先上岗签到", status=403, code="no_guard"
            )
        return duty

    def _lane(self, name: str) -> Lane:
        lane = self.lanes.get(name)
        if lane is None:
            raise ConsoleRefused(
                f"no lane {name[:40]!r} at this post", "本岗亭没有此车道", status=404, code="lane"
            )
        return lane

    @staticmethod
    def _stale(lane: Lane, serial: object) -> None:
        """Refuse an action the page took for a vehicle the lane is no longer dealing with."""
        s = lane.status()
        if s.phase != Phase.AWAITING_PAYMENT or not serial or s.serial != serial:
            raise ConsoleRefused(
                "this vehicle has already left or was dealt with; the screen is refreshed",
                "该车辆已离开或已处理,页面已刷新",
                status=409,
                code="stale",
            )

    # ----------------------------------------------------------------- sign-on and handover

    def _identify(self, staff_id: object, pin: object, badge: object, *, use_reader: bool) -> Guard:
        if badge:
            return self.roster.by_badge(str(badge))
        if use_reader:
            seen = self._booth_badge
            if seen is None or self.clock() - seen[1] > timedelta(seconds=BADGE_HANDOVER_S):
                raise ConsoleRefused(
                    "present the staff badge at the booth reader first",
                    "请先在岗亭读卡器上刷员工卡",
                    status=403,
                    code="badge",
                )
            self._booth_badge = None
            return self.roster.by_badge(seen[0])
        if not staff_id or not pin:
            raise ConsoleRefused(
                "enter the staff ID and PIN, or present the staff badge",
                "请输入员工号和密码,或刷员工卡",
                status=422,
                code="missing",
            )
        return self.roster.check_pin(str(staff_id)[:32], str(pin)[:32])

    def sign_on(
        self,
        request_id: object,
        *,
        staff_id: object = None,
        pin: object = None,
        badge: object = None,
        use_reader: bool = False,
    ) -> dict[str, Any]:
        """Check a guard's badge or ID + PIN; start a shift when nobody is on duty.

        ``signed_on`` in the answer is the staff ID that proved itself: the console binds it to
        the browser that asked. With a shift already open (the guard's own, after a restart or
        from a second browser; or a colleague's), the shift stays as it is and the guard only
        signs on at that browser: what they do is booked to them.
        """

        def act() -> dict[str, Any]:
            guard = self._identify(staff_id, pin, badge, use_reader=use_reader)
            duty = self.duty()
            if duty is None:
                duty = self._start_shift(guard)
            return {"duty": duty, "signed_on": guard.staff_id}

        return self.run(request_id, act)

    def _start_shift(self, guard: Guard) -> dict[str, Any]:
        now = self.clock()
        shift_id = f"{self.post}-{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"[-64:]
        self._emit(
            self._post_lane,
            EventType.GUARD_SIGNED_ON,
            GuardShift(guard=guard.label, post=self.post, shift_id=shift_id),
        )
        duty = {
            "guard": guard.label,
            "staff_id": guard.staff_id,
            "name": guard.name,
            "shift_id": shift_id,
            "since": format_ts(now),
        }
        self.store.put("duty", duty)
        self._tell_lanes(duty)
        log.info(
            "guard signed on", extra={"guard": guard.label, "post": self.post, "shift_id": shift_id}
        )
        return duty

    def badge_seen(self, badge: str) -> None:
        """A badge at the booth reader: starts the shift when nobody is on duty, and stands ready
        (for ``BADGE_HANDOVER_S``, once) for the console's sign-on or handover with ``use_reader``."""
        with self._lock:
            if self.duty() is None:
                try:
                    self._start_shift(self.roster.by_badge(badge))
                except (SignOnRefused, ConsoleRefused) as exc:
                    log.info("booth badge sign-on refused: %s", exc)
                    return
            self._booth_badge = (badge, self.clock())

    def shift_totals(self) -> dict[str, Any]:
        duty = self._on_duty()
        events = self.store.events_since(parse_ts(duty["since"]))
        totals = tally((etype, data) for _lane, etype, data, _at in events)
        return {
            "duty": duty,
            "currency": self.currency,
            **totals.as_dict(),
            "expected_cash": format_money(totals.expected_cash_minor, self.currency),
        }

    def close_shift(
        self,
        request_id: object,
        *,
        by: Guard,
        declared_cash: object,
        incoming_staff_id: object = None,
        incoming_pin: object = None,
        incoming_badge: object = None,
        use_reader: bool = False,
        unattended: bool = False,
    ) -> dict[str, Any]:
        """The guard on duty (or a supervisor), signed on as ``by``, hands the shift over."""

        def act() -> dict[str, Any]:
            duty = self._on_duty()
            if by.staff_id != duty["staff_id"] and by.role != "supervisor":
                raise ConsoleRefused(
                    f"only {duty['guard']} (on duty) or a supervisor may close this shift",
                    f"只有值班人员 {duty['guard']} 或主管可以交班",
                    status=403,
                    code="not_on_duty",
                )
            declared = parse_cash(declared_cash)
            incoming: Guard | None = None
            if not unattended:
                incoming = self._identify(
                    incoming_staff_id, incoming_pin, incoming_badge, use_reader=use_reader
                )
                if incoming.staff_id == duty["staff_id"]:
                    raise ConsoleRefused(
                        "the incoming guard must be someone else",
                        "接班人员不能是交班人本人",
                        code="same_guard",
                    )
            opened_at = parse_ts(duty["since"])
            close = close_shift(
                shift_id=duty["shift_id"],
                guard=duty["guard"],
                post=self.post,
                opened_at=opened_at,
                events=[
                    (etype, data) for _l, etype, data, _at in self.store.events_since(opened_at)
                ],
                declared_cash_minor=declared,
                currency=self.currency,
                clock=self.clock,
                incoming_guard=incoming.label if incoming else None,
            )
            self._emit(self._post_lane, EventType.SHIFT_CLOSED, close.event())
            self._emit(
                self._post_lane,
                EventType.GUARD_SIGNED_OFF,
                GuardShift(guard=duty["guard"], post=self.post, shift_id=duty["shift_id"]),
            )
            self.store.put("duty", None)
            printed = self._print(shift_report_lines(close), None)
            new_duty = self._start_shift(incoming) if incoming else None
            if new_duty is None:
                self._tell_lanes(None)
            log.info(
                "shift closed",
                extra={"shift_id": close.shift_id, "variance_minor": close.variance_minor},
            )
            return {"report": _report(close), "printed": printed, "duty": new_duty}

        return self.run(request_id, act)

    # ----------------------------------------------------------------- lane actions

    def confirm_payment(
        self,
        request_id: object,
        lane_name: str,
        *,
        by: Guard,
        serial: object,
        method: object,
        reference: object = "",
    ) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            self._on_duty()
            lane = self._lane(lane_name)
            if method not in ("cash", "epay"):
                raise ConsoleRefused(
                    "payment method must be cash or epay", "付款方式须为现金或电子支付", status=422
                )
            ref = ""
            if method == "epay":
                ref = clean_text(reference, "e-payment reference", "电子支付单号", 64)
            self._stale(lane, serial)
            lane.payment_received(str(method), ref, by=by.label)
            printed = self._print_receipt(lane, str(serial), by.label, reprint=False)
            return {"lane": self.lane_view(lane), "printed": printed}

        return self.run(request_id, act)

    def lost_card(
        self,
        request_id: object,
        lane_name: str,
        *,
        by: Guard,
        plate: object,
        vehicle_class: object = "car",
    ) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            self._on_duty()
            lane = self._lane(lane_name)
            text = clean_text(plate, "plate", "车牌号", 16).upper()
            if not lane.status().vehicle_waiting:
                raise ConsoleRefused(
                    "no vehicle is waiting at this lane; the screen is refreshed",
                    "该车道没有等候的车辆,页面已刷新",
                    code="stale",
                )
            lane.lost_ticket(text, by=by.label, vehicle_class=str(vehicle_class or "car")[:32])
            return {"lane": self.lane_view(lane)}

        return self.run(request_id, act)

    def free_exit(
        self,
        request_id: object,
        lane_name: str,
        *,
        by: Guard,
        serial: object,
        reason: object,
        supervisor_id: object,
        supervisor_pin: object,
    ) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            self._on_duty()
            lane = self._lane(lane_name)
            why = clean_text(reason, "reason", "原因", MAX_REASON)
            self._stale(lane, serial)
            supervisor = self.roster.check_pin(
                str(supervisor_id or "")[:32], str(supervisor_pin or "")[:32], supervisor=True
            )
            self._emit(
                lane,
                EventType.FREE_EXIT,
                FreeExit(serial=str(serial)[:32], reason=why, authorised_by=supervisor.label),
            )
            lane.manual_raise(why, by=by.label, request_id=f"free-exit:{request_id}"[:64])
            lane.store.mark(str(serial), self.clock(), 0, "free")
            return {"lane": self.lane_view(lane), "authorised_by": supervisor.label}

        return self.run(request_id, act)

    def manual_raise(
        self, request_id: object, lane_name: str, *, by: Guard, reason: object
    ) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            self._on_duty()
            lane = self._lane(lane_name)
            why = clean_text(reason, "reason", "原因", MAX_REASON)
            lane.manual_raise(why, by=by.label, request_id=str(request_id))
            return {"lane": self.lane_view(lane)}

        return self.run(request_id, act)

    def manual_close(
        self, request_id: object, lane_name: str, *, by: Guard, reason: object
    ) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            self._on_duty()
            lane = self._lane(lane_name)
            why = clean_text(reason, "reason", "原因", MAX_REASON)
            lane.manual_close(why, by=by.label, request_id=str(request_id))
            return {"lane": self.lane_view(lane)}

        return self.run(request_id, act)

    def override_full(
        self, request_id: object, lane_name: str, *, by: Guard, reason: object
    ) -> dict[str, Any]:
        """Let a waiting visitor in although the lot is full (a resident's guest), with a reason."""

        def act() -> dict[str, Any]:
            self._on_duty()
            lane = self._lane(lane_name)
            why = clean_text(reason, "reason", "原因", MAX_REASON)
            lane.override_full(why, by=by.label)
            return {"lane": self.lane_view(lane)}

        return self.run(request_id, act)

    def incident(
        self,
        request_id: object,
        lane_name: str,
        *,
        by: Guard,
        kind: object,
        description: object,
        plate: object = None,
    ) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            self._on_duty()
            lane = self._lane(lane_name)
            if kind not in INCIDENT_KINDS:
                raise ConsoleRefused(
                    f"incident kind must be one of {', '.join(INCIDENT_KINDS)}",
                    "请选择事件类型",
                    status=422,
                )
            text = clean_text(description, "description", "事件描述", MAX_DESCRIPTION)
            car = str(plate or "").strip().upper()[:16] or None
            self._emit(
                lane,
                EventType.INCIDENT_REPORTED,
                IncidentReported(kind=kind, description=text, guard=by.label, plate=car),  # type: ignore[arg-type]
            )
            log.warning("incident reported", extra={"lane": lane.name, "kind": kind})
            return {"kind": kind}

        return self.run(request_id, act)

    def reprint(self, request_id: object, lane_name: str, *, by: Guard) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            self._on_duty()
            lane = self._lane(lane_name)
            paid = self.store.last_event(lane.name, EventType.PAYMENT_CONFIRMED)
            if paid is None or paid.get("method") == "none":
                raise ConsoleRefused(
                    "no receipt to reprint at this lane",
                    "本车道没有可重印的收据",
                    code="no_receipt",
                )
            printed = self._print_receipt(lane, str(paid["serial"]), by.label, reprint=True)
            if not printed:
                raise ConsoleRefused(
                    "the receipt printer is not working",
                    "收据打印机故障",
                    status=503,
                    code="printer",
                )
            return {"serial": paid["serial"]}

        return self.run(request_id, act)

    # ----------------------------------------------------------------- printing

    def fee_receipt(self, lane: Lane, serial: str) -> FeeReceipt | None:
        paid = self.store.last_event(lane.name, EventType.PAYMENT_CONFIRMED, serial=serial)
        if paid is None or paid.get("method") == "none":
            return None
        quoted = self.store.last_event(lane.name, EventType.FEE_QUOTED, serial=serial) or {}
        plate = (self.store.last_event(lane.name, EventType.LOST_TICKET, serial=serial) or {}).get(
            "plate"
        )
        at = self._paid_at(lane.name, serial)
        minutes = int(paid.get("minutes") or 0)
        return FeeReceipt(
            site=self.site,
            lane=lane.name,
            serial=serial,
            minutes=minutes,
            fee_minor=int(paid["fee_minor"]),
            currency=str(paid.get("currency") or self.currency),
            method=str(paid["method"]),
            paid_at=at,
            guard=paid.get("guard"),
            reference=str(paid.get("reference") or ""),
            plate=plate,
            entry_at=None if plate else at - timedelta(minutes=minutes),
            lines=tuple(
                LineItem(
                    str(i.get("label", "")), int(i.get("minutes", 0)), int(i.get("amount_minor", 0))
                )
                for i in quoted.get("lines", [])
            ),
        )

    def _paid_at(self, lane: str, serial: str) -> datetime:
        for lane_name, etype, data, at in reversed(
            self.store.events_since(self.clock() - timedelta(days=2))
        ):
            if (
                lane_name == lane
                and etype == EventType.PAYMENT_CONFIRMED
                and data.get("serial") == serial
            ):
                return at
        return self.clock()

    def _print_receipt(self, lane: Lane, serial: str, guard: str, *, reprint: bool) -> bool:
        receipt = self.fee_receipt(lane, serial)
        if receipt is None or self.printer is None:
            return False
        lines = receipt_lines(receipt)
        if reprint:
            lines.insert(1, f"重印 REPRINT {self.clock().astimezone():%Y-%m-%d %H:%M} {guard}")
        return self._print(
            lines, receipt_qr(receipt, self.receipt_key) if self.receipt_key else None
        )

    def _print(self, lines: list[str], qr: str | None) -> bool:
        """Print; a printer fault is logged and reported, never undoes what was already recorded."""
        if self.printer is None:
            return False
        try:
            self.printer.print_receipt(lines, qr)
        except GatepostError as exc:
            log.error("printing failed: %s", exc)
            return False
        return True


def _card_state(phase: Phase, message: str | None) -> str:
    if phase == Phase.CHECKING:
        return "reading"
    if phase == Phase.ISSUING:
        return "issuing"
    if phase == Phase.AWAITING_PAYMENT:
        return "verified"
    if message and message.startswith("rejected_"):
        return message
    return "none"


def _report(close: ShiftClose) -> dict[str, Any]:
    data = asdict(close)
    data["opened_at"] = format_ts(close.opened_at)
    data["closed_at"] = format_ts(close.closed_at)
    data["variance_minor"] = close.variance_minor
    data["expected_cash_minor"] = close.totals.expected_cash_minor
    data["lines"] = shift_report_lines(close)
    return data
