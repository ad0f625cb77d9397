"""The lane service: the pure machine wired to its barrier, loops, readers and outbox.

A :class:`Lane` is composed of named parts (``lane.barrier``,
``lane.arming_loop``, ``lane.safety_loop``, ``lane.card_station``…), as a
gpiozero board is. Every input — a loop edge, a card, a badge, a QR code, a
guard's button or API call, a barrier report, the passing of time — becomes
one :mod:`edge.lane.machine` input, handled under one lock, and the effects
are carried out in order on the calling thread:

* events go to the :class:`~edge.lane.ports.EventSink` first (durable when
  ``emit`` returns), through a :class:`~edge.link.storage.StorageGuard`;
* then the barrier, the display and the voice, the card writer or printer.

Safety before bookkeeping (DESIGN.md §4): when storage fails, the events are
held in memory by the guard and written in order when it recovers, and the
machine hears :class:`StorageFailed` (it starts no transit it cannot record).
A decision taken before the fault was known does not raise the barrier on its
unwritten record; every close, display and voice effect is still carried out:
the arm never stays up because a record could not be written. A failing
lane-state or used-ticket write is reported to the same guard.

With a camera and :class:`~edge.lane.snapshots.Snapshots`, each transit event
(ticket issued, fee quoted or badge accepted with a vehicle at the loop, and
every vehicle entered/exited) carries the name of its snapshot; the frame is
taken by the snapshot worker after the event is stored, never on the way to
the relay.

There is no sleep-polling: readers block in their drivers' ``poll(timeout)``,
loops call back from gpiozero's threads, and one timer thread waits exactly
until the machine's next deadline. A card frame therefore reaches the relay on
the reader's own thread in one pass (see ``tests/bench/lane_latency.py``).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edge.errors import GatepostError, TicketRejected
from edge.lane.machine import (
    ArmingChanged,
    BacklogChanged,
    BadgeRead,
    BarrierFaulted,
    BarrierReached,
    CancelPayment,
    CardPlaced,
    CloseBarrier,
    Effect,
    Emit,
    GuardChanged,
    IssueRequested,
    LaneInput,
    LaneMachine,
    LaneRefused,
    LaneStatus,
    LostTicketClaimed,
    ManualClose,
    ManualRaise,
    MarkUsed,
    OpenBarrier,
    OverrideFull,
    PaymentReceived,
    PresenceChanged,
    PrintTicket,
    ReadCard,
    ReaderFailed,
    Recover,
    RequestPayment,
    Show,
    StorageFailed,
    StorageRecovered,
    Tick,
    TicketInvalid,
    TicketPresented,
    TicketWriteFailed,
    TicketWritten,
    WriteCard,
)
from edge.lane.messages import Message
from edge.lane.ports import (
    Announcer,
    BadgeReader,
    Barrier,
    CardStation,
    Detector,
    Display,
    EventSink,
    PaymentPort,
    QrScanner,
    TicketCodec,
    TicketLike,
    TicketPrinter,
)
from edge.lane.snapshots import Snapshots
from edge.lane.used_tickets import UsedTickets
from edge.link.storage import STORAGE_ERRORS, Fault, StorageGuard
from edge.wire import EventData, EventType, OccupancyCorrected, RejectReason, format_ts, parse_ts

log = logging.getLogger("gatepost.lane")

READ_TIMEOUT_S = 0.5
"""How long a reader thread blocks in its driver before checking for shutdown."""

PASSAGE_EVENTS = frozenset({EventType.VEHICLE_ENTERED, EventType.VEHICLE_EXITED})
AT_LOOP_EVENTS = frozenset(
    {EventType.TICKET_ISSUED, EventType.FEE_QUOTED, EventType.BADGE_ACCEPTED}
)
"""Snapshot these only with a vehicle at the lane (a lost-ticket quote at the console has none)."""


@dataclass
class LaneParts:
    """The hardware of one lane; anything not fitted is None."""

    barrier: Barrier
    arming_loop: Detector
    safety_loop: Detector
    photo_eye: Detector | None = None
    card_station: CardStation | None = None
    badge_reader: BadgeReader | None = None
    display: Display | None = None
    announcer: Announcer | None = None
    printer: TicketPrinter | None = None
    camera: QrScanner | None = None


class NoPayments:
    """The payment port of an entry lane (nothing is ever due there)."""

    def request(self, serial: str, fee_minor: int, currency: str) -> None:
        raise LaneRefused("an entry lane takes no payments", "入口车道不收费")

    def cancel(self, serial: str) -> None:
        return None


class Lane:
    """One running entry or exit lane."""

    def __init__(
        self,
        machine: LaneMachine,
        parts: LaneParts,
        *,
        sink: EventSink,
        store: UsedTickets,
        codec: TicketCodec,
        payments: PaymentPort | None = None,
        name: str = "lane",
        snapshots: Snapshots | None = None,
        storage_hold_bound: int = 5000,
        storage_probe_s: float = 5.0,
    ) -> None:
        self.machine = machine
        self.parts = parts
        self.barrier = parts.barrier
        self.arming_loop = parts.arming_loop
        self.safety_loop = parts.safety_loop
        self.photo_eye = parts.photo_eye
        self.card_station = parts.card_station
        self.badge_reader = parts.badge_reader
        self.display = parts.display
        self.announcer = parts.announcer
        self.printer = parts.printer
        self.camera = parts.camera
        self.sink = sink
        self.store = store
        self.codec = codec
        self.payments = payments or NoPayments()
        self.name = name
        self.snapshots = snapshots
        self.storage = StorageGuard(
            _CurrentSink(self),
            hold_bound=storage_hold_bound,
            probe_interval_s=storage_probe_s,
            clock=machine.clock,
        )
        """Every event goes through it: held in memory while storage fails, written when it recovers."""
        self.storage.add_listener(self._storage_changed)
        self.storage.watch("lane_state", self._probe_lane_state)
        self._lock = threading.RLock()
        self._queue: deque[LaneInput] = deque()
        self._deferred: deque[LaneInput] = deque()
        """Inputs from threads that must not wait for the lane's lock (see backlog_changed)."""
        self._draining = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._vehicle = threading.Event()
        self._threads: list[threading.Thread] = []
        self.ready = threading.Event()
        self.on_effect: Callable[[Effect], None] | None = None
        """Observer for the demo and tests: called after each effect is carried out."""

    # ----------------------------------------------------------------- life cycle

    def start(self) -> None:
        """Wire the callbacks, bring the barrier to a safe state, start the reader threads."""
        self._wire_sensors()
        self.barrier.on_state = self._barrier_state
        self.barrier.on_fault = self._barrier_fault
        self.machine.presence = self._presence()
        self.machine.arming = bool(self.arming_loop.is_active)
        if self.machine.arming:
            self._vehicle.set()
        persisted = self.store.get("barrier", "closed")
        last_seen_text = self.store.get("last_seen")
        try:
            last_seen = parse_ts(last_seen_text) if last_seen_text else None
        except ValueError:
            log.error("stored clock high-water mark %r unreadable; ignoring it", last_seen_text)
            last_seen = None
        recover = getattr(self.barrier, "recover", None)
        if callable(recover):
            recover(persisted)
        self.submit(Recover(barrier_was_open=persisted == "open", last_seen=last_seen))
        if self.snapshots is not None:
            # A snapshot the disk refuses mid-run (full, read-only) is a storage fault like any other;
            # a folder unusable from the start only leaves transits without snapshots (health says so).
            self.snapshots.on_fault = self.storage.report
            self.storage.watch("snapshots", self.snapshots.probe_folder)
            self.snapshots.start()
        self.storage.start()
        self._spawn("timer", self._timer_loop)
        if self.card_station is not None:
            self._spawn("card", self._card_loop)
        if self.badge_reader is not None:
            self._spawn("badge", self._badge_loop)
        if self.camera is not None and self.machine.settings.role == "exit":
            self._spawn("camera", self._camera_loop)
        self.ready.set()
        log.info("lane %s ready (%s)", self.name, self.machine.settings.role)

    def stop(self) -> None:
        """Stop the threads; the barrier keeps its position (its own driver owns the pins)."""
        self._stop.set()
        self._wake.set()
        self._vehicle.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=3)
        if self.snapshots is not None:
            self.snapshots.stop()
        self._persist_time()
        self.storage.stop()

    def _spawn(self, what: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"{self.name}-{what}", daemon=True)
        self._threads.append(thread)
        thread.start()

    # ----------------------------------------------------------------- the one entry point

    def submit(self, item: LaneInput) -> list[Effect]:
        """Hand one input to the machine and carry out what it decides.

        Re-entrant: an input raised while effects run (a card read result, a
        barrier report from inside ``open()``) is queued and handled after the
        current one, in order. Raises :class:`LaneRefused` for a refused guard
        request (only for the caller's own input).
        """
        if self._stop.is_set():
            log.info("lane stopped: %s ignored", type(item).__name__)
            return []
        with self._lock:
            self._queue.append(item)
            if self._draining:
                return []
            self._draining = True
            done: list[Effect] = []
            try:
                first = True
                while self._queue:
                    current = self._queue.popleft()
                    try:
                        effects = self.machine.handle(current)
                    except LaneRefused:
                        if first:
                            raise
                        log.warning("queued lane input refused", exc_info=True)
                        continue
                    finally:
                        first = False
                    self._run(effects)
                    done += effects
            finally:
                self._draining = False
            self._wake.set()
            return done

    def _run(self, effects: list[Effect]) -> None:
        index = 0
        withheld = False  # this decision's record is not on disk: its barrier does not rise
        while index < len(effects):
            # Consecutive events are written together: one fsync before the relay, not several.
            batch: list[Emit] = []
            captures: list[str] = []
            while index < len(effects) and isinstance(effects[index], Emit):
                emit = self._name_snapshot(effects[index], captures)  # type: ignore[arg-type]
                effects[index] = emit
                batch.append(emit)
                index += 1
            if batch:
                lost = False
                try:
                    durable = self._store_events(batch)
                except _SinkFailed as exc:
                    log.critical(
                        "event neither stored nor held (%s); its barrier will not rise", exc
                    )
                    durable, lost = False, True
                if not durable and (lost or self.machine.storage_fault is None) and not withheld:
                    # Decided before the machine knew storage fails: no raise on an unwritten record.
                    withheld = True
                    rises = any(_withholdable(e) for e in effects[index:])
                    if rises:
                        log.critical(
                            "event not stored; the barrier will not rise for this decision"
                        )
                    self._queue.append(StorageFailed(self._fault_text(), open_withheld=rises))
                if self.snapshots is not None:
                    for ref in captures:
                        self.snapshots.capture(ref)
                for emitted in batch:
                    self._observe(emitted)
                continue
            effect = effects[index]
            index += 1
            if withheld and _withholdable(effect):
                # The mark, if any, is written with its held event when storage recovers.
                log.warning("%s withheld: its record is not on disk", type(effect).__name__)
                continue
            try:
                self._carry_out(effect)
            except GatepostError as exc:
                log.error("lane effect %s failed: %s", type(effect).__name__, exc)
            except Exception:  # a driver bug must not stop the lane
                log.exception("lane effect %s crashed", type(effect).__name__)
            self._observe(effect)

    def _name_snapshot(self, emit: Emit, captures: list[str]) -> Emit:
        """The event with its snapshot's name filled in, when this transit gets one."""
        snapshots = self.snapshots
        if snapshots is None or "snapshot" not in type(emit.data).model_fields:
            return emit
        kind = emit.event_type
        at_lane = self.machine.arming or self.machine.presence
        if kind not in PASSAGE_EVENTS and not (kind in AT_LOOP_EVENTS and at_lane):
            return emit
        hint = getattr(emit.data, "serial", None) or getattr(emit.data, "badge", None)
        ref = snapshots.reference(kind.value, hint, self.machine.now())
        if ref is None:
            log.warning("no snapshot for %s: %s", kind, snapshots.status)
            return emit
        captures.append(ref)
        return Emit(kind, emit.data.model_copy(update={"snapshot": ref}))

    def _observe(self, effect: Effect) -> None:
        if self.on_effect is not None:
            try:
                self.on_effect(effect)
            except Exception:
                log.exception("lane observer failed")

    def _store_events(self, batch: list[Emit]) -> bool:
        """Write events in one transaction: True when durable, False when held in memory.

        Raises _SinkFailed when they could be neither (a malformed event, or the
        in-memory hold full: the guard has logged each one whole).
        """
        try:
            return self.storage.store([(e.event_type, e.data) for e in batch])
        except Exception as exc:
            raise _SinkFailed(str(exc)) from exc

    def _fault_text(self) -> str:
        fault = self.storage.fault
        return fault.detail if fault is not None else "storage fault"

    @property
    def storage_error(self) -> str | None:
        """The storage fault's text while storage fails (health's ``storage``), else None."""
        fault = self.storage.fault
        return fault.detail if fault is not None else None

    def _storage_changed(self, fault: Fault | None) -> None:
        """The guard's listener: storage started failing (any store) or recovered."""
        self._guarded(StorageFailed(fault.detail) if fault is not None else StorageRecovered())

    def _probe_lane_state(self) -> None:
        self.store.put("storage_probe", format_ts(self.machine.now()))

    def _carry_out(self, effect: Effect) -> None:
        if isinstance(effect, OpenBarrier):
            self.barrier.open()
            # Recorded after the relay: the barrier_opened event is already durable, and on a
            # restart the barrier is closed unless a vehicle is under it, whatever this says.
            self._persist_barrier("open")
            self._already_there("open")
        elif isinstance(effect, CloseBarrier):
            closing = self.barrier.close(force=effect.cause == "manual")
            if closing:
                self._persist_barrier("closed")
                self._already_there("closed")
            else:
                log.warning("barrier refused to close (%s)", effect.cause)
        elif isinstance(effect, Show):
            self._say(effect.message)
        elif isinstance(effect, WriteCard):
            self._write_card(effect)
        elif isinstance(effect, PrintTicket):
            self._print_ticket(effect)
        elif isinstance(effect, ReadCard):
            self._read_card()
        elif isinstance(effect, MarkUsed):
            # On a real lane the mark was already stored with the payment (UsedTickets, outbox=…).
            try:
                self.store.ensure_used(
                    effect.serial, self.machine.now(), effect.fee_minor, effect.method
                )
            except STORAGE_ERRORS as exc:
                self.storage.report("used_tickets", exc)
        elif isinstance(effect, RequestPayment):
            self.payments.request(effect.serial, effect.fee_minor, effect.currency)
        elif isinstance(effect, CancelPayment):
            self.payments.cancel(effect.serial)

    def _already_there(self, position: str) -> None:
        """Tell the machine when the arm already stands where it was sent.

        The driver reports a position only when it changes: an arm found down by
        the restart recovery, then told to close, never reports "closed" again, and
        the lane would show "closing" for ever. Queued behind the current input.
        """
        if getattr(self.barrier, "state", None) == position:
            self.submit(BarrierReached(position))  # type: ignore[arg-type]

    def _persist_barrier(self, position: str) -> None:
        try:
            self.store.put("barrier", position)
        except STORAGE_ERRORS as exc:  # after the relay: the arm moved; only the note is missing
            self.storage.report("lane_state", exc)

    def _persist_time(self) -> None:
        seen = self.machine.last_seen
        if seen is not None:
            try:
                self.store.put("last_seen", format_ts(seen))
            except STORAGE_ERRORS as exc:
                log.error("cannot persist the clock high-water mark: %s", exc)
                self.storage.report("lane_state", exc)

    def _say(self, message: Message) -> None:
        # A pole display has two short rows: it shows the site's language; the
        # booth console (GET /api/lane) has the message key for both languages.
        language = self.machine.settings.language
        if self.display is not None:
            self.display.show([message.text(language)])
        if self.announcer is not None:
            self.announcer.say(message.text(language))

    # ----------------------------------------------------------------- tickets

    def _write_card(self, effect: WriteCard) -> None:
        station = self.card_station
        if station is None:
            self.submit(TicketWriteFailed("no card station fitted", lifted=False))
            return
        ticket = self.codec.make(effect.serial, effect.entry_at, effect.vehicle_class)
        try:
            station.write(self.codec.encode_card(ticket))
            # Read back and verify: only a ticket that decodes whole and identical counts.
            back = self.codec.decode_card(station.read())
        except (GatepostError, OSError) as exc:
            self.submit(TicketWriteFailed(f"{type(exc).__name__}: {exc}"))
            return
        if back.serial != ticket.serial or back.entry_at != ticket.entry_at:
            self.submit(TicketWriteFailed("card read back a different ticket"))
            return
        self.submit(TicketWritten(ticket.serial, key_id=ticket.key_id))

    def _print_ticket(self, effect: PrintTicket) -> None:
        printer = self.printer
        if printer is None:
            self.submit(TicketWriteFailed("no ticket printer fitted", lifted=False))
            return
        ticket = self.codec.make(effect.serial, effect.entry_at, effect.vehicle_class)
        local = effect.entry_at.astimezone()
        lines = [
            f"No. {ticket.serial}",
            f"入场 Entry {local:%Y-%m-%d %H:%M}",
            "请妥善保管,出场时出示 Keep this ticket for the exit",
        ]
        try:
            printer.print_ticket(self.codec.encode_qr(ticket), lines)
        except (GatepostError, OSError) as exc:
            self.submit(TicketWriteFailed(f"printer: {exc}", lifted=False))
            return
        self.submit(TicketWritten(ticket.serial, key_id=ticket.key_id))

    def _read_card(self) -> None:
        station = self.card_station
        if station is None:
            return
        try:
            data = station.read()
        except (GatepostError, OSError) as exc:
            self.submit(ReaderFailed("card_station", f"read failed: {exc}"))
            return
        self._present(self.codec.decode_card, data, "card")

    def _present(
        self, decode: Callable[[Any], TicketLike], payload: bytes | str, medium: str
    ) -> None:
        """Decode and verify a presented ticket, then hand the verdict to the machine."""
        try:
            ticket = decode(payload)
        except TicketRejected as exc:
            reason = (
                exc.reason
                if exc.reason in RejectReason.__members__.values()
                else RejectReason.MALFORMED
            )
            self.submit(TicketInvalid(RejectReason(reason), None, exc.detail or str(exc)))
            return
        except GatepostError as exc:
            self.submit(TicketInvalid(RejectReason.MALFORMED, None, str(exc)))
            return
        used = self.store.is_used(ticket.serial)
        self.submit(TicketPresented(ticket, medium, already_used=used))  # type: ignore[arg-type]

    # ----------------------------------------------------------------- reader threads

    def _card_loop(self) -> None:
        station = self.card_station
        assert station is not None
        while not self._stop.is_set():
            try:
                uid = station.poll(READ_TIMEOUT_S)
            except Exception:
                log.exception("card station poll crashed")
                self._stop.wait(1.0)
                continue
            if uid:
                text = uid.hex() if isinstance(uid, bytes) else str(uid)
                self._guarded(CardPlaced(text.upper()))

    def _badge_loop(self) -> None:
        reader = self.badge_reader
        assert reader is not None
        while not self._stop.is_set():
            try:
                badge = reader.poll(READ_TIMEOUT_S)
            except Exception:
                log.exception("badge reader poll crashed")
                self._stop.wait(1.0)
                continue
            if badge:
                self._guarded(BadgeRead(badge))

    def _camera_loop(self) -> None:
        camera = self.camera
        assert camera is not None
        last: str | None = None
        while not self._stop.is_set():
            # The camera only scans while a vehicle is on the arming loop. Clear, then look
            # again, so an arrival between the look and the clear is never missed.
            if not self.arming_loop.is_active:
                last = None
                self._vehicle.clear()
                if not self.arming_loop.is_active and not self._stop.is_set():
                    self._vehicle.wait()
                continue
            try:
                text = camera.read_qr(READ_TIMEOUT_S)
            except GatepostError as exc:
                log.debug("camera read failed: %s", exc)  # the camera logs each change of state
                self._stop.wait(1.0)
                continue
            except Exception:
                log.exception("camera read failed")
                self._stop.wait(1.0)
                continue
            if text and text != last:
                last = text
                self._present(self.codec.decode_qr, text, "paper")

    def _timer_loop(self) -> None:
        while not self._stop.is_set():
            deadline = self.machine.next_deadline()
            timeout = None
            if deadline is not None:
                # A floor, so a deadline the machine cannot act on yet never becomes a busy loop.
                timeout = max(0.01, (deadline - self.machine.now()).total_seconds())
            woke = self._wake.wait(timeout)
            if self._stop.is_set():
                return
            if woke:
                self._wake.clear()
                while self._deferred:
                    self._guarded(self._deferred.popleft())
                continue
            self._guarded(Tick())
            self._persist_time()

    def _guarded(self, item: LaneInput) -> None:
        """Submit from a reader, sensor or timer thread: nothing may kill that thread."""
        try:
            self.submit(item)
        except LaneRefused as exc:
            log.info("input refused: %s", exc)
        except Exception:
            log.exception("lane input %s failed", type(item).__name__)

    # ----------------------------------------------------------------- sensors and barrier

    def _presence(self) -> bool:
        return bool(self.safety_loop.is_active) or bool(
            self.photo_eye is not None and self.photo_eye.is_active
        )

    def _wire_sensors(self) -> None:
        def arming(active: bool) -> Callable[[], None]:
            def changed() -> None:
                if active:
                    self._vehicle.set()
                self._guarded(ArmingChanged(active))

            return changed

        def presence() -> None:
            self._guarded(PresenceChanged(self._presence()))

        _listen(self.arming_loop, arming(True), arming(False))
        _listen(self.safety_loop, presence, presence)
        if self.photo_eye is not None:
            _listen(self.photo_eye, presence, presence)

    def _barrier_state(self, state: str) -> None:
        if state in ("open", "closed"):
            self._guarded(BarrierReached(state))  # type: ignore[arg-type]

    def _barrier_fault(self, expected: str, detail: str) -> None:
        self._guarded(BarrierFaulted("open" if expected == "open" else "closed", detail))

    # ----------------------------------------------------------------- guard and booth

    def manual_raise(
        self, reason: str, by: str = "guard", request_id: str | None = None, remote: bool = False
    ) -> None:
        """Raise by hand: a guard on duty at the booth, or central's audited command (``remote``)."""
        self.submit(ManualRaise(reason, by, request_id, remote))

    def manual_close(self, reason: str, by: str = "guard", request_id: str | None = None) -> None:
        self.submit(ManualClose(reason, by, request_id))

    def override_full(self, reason: str, by: str = "guard") -> None:
        self.submit(OverrideFull(reason, by))

    def lost_ticket(self, plate: str, by: str = "guard", vehicle_class: str = "car") -> None:
        self.submit(LostTicketClaimed(plate, by, vehicle_class))

    def payment_received(self, method: str, reference: str = "", by: str | None = None) -> None:
        """The payment port's confirmation: guard cash button, booth API, or a provider."""
        if method not in ("cash", "epay"):
            raise LaneRefused(
                f"unknown payment method {method!r}; use cash or epay", "未知付款方式"
            )
        self.submit(PaymentReceived(method, reference, by))  # type: ignore[arg-type]

    def ticket_button(self) -> None:
        self._guarded(IssueRequested())

    def booth_button(self, name: str) -> None:
        """Route a BoothButtons press; a hardware button carries no reason, so it says so.

        A refused press (nobody on duty, nothing due) is logged in both languages: a
        hardware button has nobody to answer to, and the press must not look like a crash.
        """
        by = "booth button"
        try:
            if name == "confirm_payment":
                self.payment_received("cash", by=by)
            elif name == "manual_raise":
                self.manual_raise("booth button (no reason entered)", by=by)
            elif name == "manual_close":
                self.manual_close("booth button", by=by)
            else:
                log.warning("unknown booth button %r ignored", name)
        except LaneRefused as exc:
            log.warning("booth button %s refused: %s / %s", name, exc, exc.zh)

    def set_guard_on_duty(self, guard: str | None) -> None:
        """Who is on duty at the booth; ``None`` leaves the lane unattended (``lane.unattended_mode``).

        The console calls this when a guard signs on or off (the sign-on events and
        the shift record are the console's).
        """
        if guard is not None:
            if not isinstance(guard, str) or not guard.strip() or len(guard.strip()) > 64:
                raise LaneRefused(
                    f"guard on duty must be 1-64 characters, got {guard!r}",
                    "当班人员名称须为1至64个字符",
                )
            guard = guard.strip()
        self.submit(GuardChanged(guard))

    def backlog_changed(self, near_full: bool, depth: int = 0, bound: int = 0) -> None:
        """The outbox crossed its near-full mark (``Outbox.on_near_full``): alarm on the lane.

        Safe from the outbox's notify on the lane's own thread (queued behind the current input).
        From another thread that writes while holding the storage guard (the console, the guard's
        probe) it never waits for the lane's lock: the timer thread hands it to the machine.
        """
        item = BacklogChanged(near_full, depth, bound)
        if self._lock.acquire(blocking=False):
            try:
                self._guarded(item)
            finally:
                self._lock.release()
            return
        self._deferred.append(item)
        self._wake.set()

    # ----------------------------------------------------------------- site config from central

    def set_whitelist(self, entries: dict[str, str]) -> None:
        """Replace the badge / card-UID whitelist (central's ``config/whitelist``)."""
        with self._lock:
            self.machine.whitelist = {k.strip().upper(): v for k, v in entries.items()}
        log.info("whitelist updated: %d entries", len(entries))

    def correct_occupancy(self, occupied: int, reason: str, by: str) -> int:
        """Set the local count by hand or from central; audited as ``occupancy_corrected``."""
        reason = (reason or "").strip()
        if not reason:
            raise LaneRefused("an occupancy correction needs a reason", "修正车位数须填写原因")
        with self._lock:
            self.storage.emit(
                EventType.OCCUPANCY_CORRECTED,
                OccupancyCorrected(occupied=occupied, reason=reason[:500], by=by[:64]),
            )
            return self.machine.occupancy.correct(occupied)

    def set_clock_sync(self, synced: bool) -> None:
        with self._lock:
            self.machine.set_clock_sync(synced)

    def status(self) -> LaneStatus:
        with self._lock:
            status = self.machine.status()
        status.extra = {
            "name": self.name,
            "barrier_driver": str(getattr(self.barrier, "state", "unknown")),
            "card_station": str(getattr(self.card_station, "status", "none"))
            if self.card_station
            else None,
            "storage_error": self.storage_error,
            "storage_held": self.storage.held,
            "ready": self.ready.is_set(),
            "camera": str(getattr(self.camera, "status", "ok"))
            if self.camera is not None
            else None,
            "snapshots": self.snapshots.status if self.snapshots is not None else None,
        }
        return status


def _withholdable(effect: Effect) -> bool:
    """What a decision whose record is not on disk leaves undone: its raise and its used mark.

    Never the safety re-open over a vehicle under a closing arm, and never a close.
    """
    if isinstance(effect, OpenBarrier):
        return effect.cause != "safety"
    return isinstance(effect, MarkUsed)


class _CurrentSink:
    """The storage guard's writer: whatever ``lane.sink`` is now.

    The booth console puts its shift ledger in front of the outbox after the
    lane is built (:func:`edge.console.ledger.watch_lane`); held events go the
    same way when storage recovers.
    """

    def __init__(self, lane: Lane) -> None:
        self._lane = lane

    def emit_many(
        self, events: Sequence[tuple[EventType, EventData]], *, at: datetime | None = None
    ) -> Sequence[Any]:
        sink = self._lane.sink
        emit_many = getattr(sink, "emit_many", None)
        if callable(emit_many):
            return list(emit_many(events, at=at) if at is not None else emit_many(events))
        return [sink.emit(t, d) for t, d in events]


class _SinkFailed(Exception):
    """Internal: the outbox did not take an event, so nothing after it may happen."""


def _listen(sensor: Detector, on: Callable[[], None], off: Callable[[], None]) -> None:
    """Subscribe to a sensor without taking its own ``when_*`` slots when it allows that."""
    subscribe = getattr(sensor, "subscribe", None)
    if callable(subscribe):
        subscribe(activated=on, deactivated=off)
    else:
        sensor.when_activated = on
        sensor.when_deactivated = off


def utc_clock() -> datetime:
    return datetime.now(UTC)
