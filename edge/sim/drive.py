"""Drive a simulated site's lanes with the traffic model, at the byte and pin level.

Each lane agent gets a :class:`LaneDriver`: a worker that takes one car at a
time, moves the simulated loops, presents blank or written cards to the
PN532 emulator and badges to the RDM6300 emulator, and does what the guard
in the booth would (confirm the cash, override a full lot, note a lost card).
With a booth console (:class:`~edge.console.booth.Booth`) the guard's part
goes through it, as the guard's taps on the console page do, and as the guard
who signed on with a PIN (``SiteDriver.signed_on``): the Booth books every
action to that guard and refuses one without. The lobby kiosk
gets a :class:`KioskDriver`: visitors fill in the check-in form and later
show their pass to the kiosk camera. The :class:`SiteDriver` paces the
:class:`~edge.sim.traffic.TrafficModel` against the site's
:class:`~edge.sim.site.SimClock` and hands each happening to the right
worker; it tells the model what really happened, because the lanes and the
kiosk, not the model, decide who gets in.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Self

from edge.errors import GatepostError
from edge.kiosk.desk import KioskError
from edge.kiosk.visit import VisitorForm
from edge.lane.machine import LaneRefused
from edge.sim.pn532_emulator import NtagMemory
from edge.sim.site import SimClock
from edge.sim.traffic import (
    Arrive,
    CheckIn,
    CheckOut,
    Depart,
    Happening,
    Incident,
    LobbyVisitor,
    ReaderFault,
    TrafficModel,
    Vehicle,
)
from edge.sim.vehicle import VehicleSimulator
from edge.wire import EventType, IncidentReported

log = logging.getLogger("gatepost.sim.drive")

GUARD = "demo-guard"
WAIT_S = 6.0


def _wait(
    predicate: Callable[[], bool], timeout: float = WAIT_S, stop: threading.Event | None = None
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if stop is not None and stop.is_set():
            return False
        time.sleep(0.01)
    return predicate()


@dataclass
class Tally:
    """What the drivers did, for the demo's summary and the soak's reconciliation."""

    entries: int = 0
    exits: int = 0
    refused: int = 0
    overrides: int = 0
    lost_cards: int = 0
    incidents: int = 0
    reader_faults: int = 0
    failed: int = 0
    fees_paid_minor: int = 0
    cards_inside: int = 0
    barrier_faults: int = 0
    visitors_checked_in: int = 0
    visitors_checked_out: int = 0
    shift_handovers: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class _OneAtATime:
    """A worker thread that handles the happenings queued for one place in order.

    One that goes wrong is logged and counted as failed, never stops the site.
    """

    def __init__(self, site: SiteDriver, name: str) -> None:
        self.site = site
        self.jobs: queue.Queue[Happening | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.jobs.put(None)
        self._thread.join(timeout=15)

    def handle(self, job: Happening) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is None or self.site.stop_event.is_set():
                    return
                self.handle(job)
            except Exception:
                log.exception("simulated %s failed", type(job).__name__)
                self.site.tally.add(failed=1)
            finally:
                self.jobs.task_done()


class LaneDriver(_OneAtATime):
    """One worker per lane agent: takes the cars queued for it, one at a time."""

    def __init__(self, agent: Any, site: SiteDriver) -> None:
        super().__init__(site, f"drive-{agent.config.device.id}")
        self.agent = agent

    @property
    def lane(self) -> Any:
        return self.agent.lane

    @property
    def sims(self) -> Any:
        return self.agent.assembly.sims

    def handle(self, job: Happening) -> None:
        if self._phase() == "out_of_service":
            self.barrier_fault()
        if isinstance(job, Arrive):
            self.enter(job.vehicle)
        elif isinstance(job, Depart):
            self.leave(job.vehicle, job.lost_card)
        elif isinstance(job, Incident):
            self.incident(job)
        elif isinstance(job, ReaderFault):
            self.reader_fault(job.minutes)

    def barrier_fault(self) -> None:
        """What a guard does about a barrier in fault: look at the arm, then close it by hand.

        The simulated site has no cause of barrier faults, so each one is a defect the soak
        reports (``barrier_faults``); the guard's reset only keeps a live demo going.
        """
        fault = self.lane.status().fault
        log.error(
            "%s barrier fault (%s): the guard checks the arm and closes it by hand",
            self.agent.config.device.id,
            fault,
        )
        self.site.tally.add(barrier_faults=1)
        reason = "检查道闸后手动落杆 / arm checked by eye, closed by hand"
        try:
            if self.site.booth is not None:
                self.site.booth.manual_close(
                    _rid(), self.lane.name, by=self.site.signed_on, reason=reason
                )
            else:
                self.lane.manual_close(reason, by=GUARD)
        except (LaneRefused, GatepostError) as exc:
            log.warning("manual close refused: %s", exc)
        _wait(lambda: self._phase() != "out_of_service", timeout=3.0)

    def incident(self, job: Incident) -> None:
        """The guard reports an incident from the booth (行车纠纷 / 强行进入 → an alarm on central)."""
        if self.site.booth is not None:
            try:
                self.site.booth.incident(
                    _rid(),
                    self.lane.name,
                    by=self.site.signed_on,
                    kind=job.kind,
                    description=job.description,
                )
            except GatepostError as exc:
                log.warning("incident not reported at the booth: %s", exc)
                return
        else:
            self.agent.outbox.emit(
                EventType.INCIDENT_REPORTED,
                IncidentReported(kind=job.kind, description=job.description, guard=GUARD),
            )
        self.site.tally.add(incidents=1)

    # ----------------------------------------------------------------- a car at the lane

    def _car(self) -> VehicleSimulator:
        lane = self.lane
        return VehicleSimulator(
            arming_loop=lane.arming_loop,
            safety_loop=lane.safety_loop,
            photo_eye=lane.photo_eye,
            barrier=lane.barrier,
            step_s=0.02,
        )

    def _phase(self) -> str:
        return str(self.lane.status().phase)

    def _pass(self, car: VehicleSimulator) -> bool:
        stop = self.site.stop_event
        if not _wait(lambda: self.lane.barrier.state == "open", stop=stop):
            car.leave()
            return False
        car.drive_through()
        _wait(lambda: self._phase() == "idle" and self.lane.barrier.state == "closed", stop=stop)
        return True

    def enter(self, vehicle: Vehicle) -> None:
        car, sims = self._car(), self.sims
        car.arrive()
        if not _wait(lambda: self._phase() in ("waiting", "refused_full"), timeout=2.0):
            car.leave()
            return self._gave_up(vehicle, failed=True)
        if vehicle.kind == "resident":
            sims.rdm6300.present(vehicle.badge)
            try:
                passed = self._pass(car)
            finally:
                sims.rdm6300.remove()
            return self._entered(vehicle) if passed else self._gave_up(vehicle, failed=True)
        _wait(lambda: self._phase() == "refused_full", timeout=0.1)
        if self._phase() == "refused_full":
            self.site.tally.add(refused=1)
            if not self.site.decide(lambda m: m.refused(vehicle)):
                time.sleep(0.2)  # the driver reads the redirect sign, then backs away
                car.leave()
                return self._gave_up(vehicle)
            reason = "业主访客,岗亭放行 / guest of a resident, let in by the guard"
            try:
                if self.site.booth is not None:
                    self.site.booth.override_full(
                        _rid(), self.lane.name, by=self.site.signed_on, reason=reason
                    )
                else:
                    self.lane.override_full(reason, by=GUARD)
            except (LaneRefused, GatepostError) as exc:
                log.info("override refused: %s", exc)
                car.leave()
                return self._gave_up(vehicle)
            self.site.tally.add(overrides=1)
        card = NtagMemory(uid=uuid.uuid4().bytes[:7])
        sims.pn532.place_card(card)
        try:
            passed = self._pass(car)
        finally:
            sims.pn532.remove_card()
        if not passed:
            return self._gave_up(vehicle, failed=True)
        self.site.cards[vehicle.id] = card
        self.site.tally.add(cards_inside=1)
        return self._entered(vehicle)

    def leave(self, vehicle: Vehicle, lost_card: bool) -> None:
        car, sims = self._car(), self.sims
        car.arrive()
        _wait(lambda: self._phase() == "waiting", timeout=2.0)
        card = self.site.cards.pop(vehicle.id, None)
        paid = False
        if vehicle.kind == "resident":
            sims.rdm6300.present(vehicle.badge)
        elif lost_card or card is None:
            self._lost_ticket(vehicle)
            self.site.tally.add(lost_cards=1, cards_inside=-1 if card is not None else 0)
            paid = self._pay()
        else:
            paid = self._present_card(card)
            if not paid:  # the guard takes the card and charges it as lost
                sims.pn532.remove_card()
                self._lost_ticket(vehicle)
                self.site.tally.add(lost_cards=1)
                paid = self._pay()
            self.site.tally.add(cards_inside=-1)
        try:
            passed = self._pass(car)
        finally:
            sims.rdm6300.remove()
            sims.pn532.remove_card()
        if passed:
            self.site.decide(lambda m: m.exited(vehicle))
            self.site.tally.add(exits=1)
        else:
            log.warning("simulated exit of %s did not pass (paid=%s)", vehicle.id, paid)
            self.site.tally.add(failed=1)
            self.site.decide(lambda m: m.exited(vehicle))  # it leaves anyway, on a manual raise

    def _present_card(self, card: NtagMemory) -> bool:
        """Place the card; a reader that is down gets two more tries after a pause."""
        for attempt in range(3):
            self.sims.pn532.place_card(card)
            if _wait(
                lambda: self.lane.payments.due is not None or self.lane.barrier.state == "open",
                timeout=3.0,
            ):
                return self._pay()
            self.sims.pn532.remove_card()
            log.info("card not read (attempt %d); trying again", attempt + 1)
            time.sleep(0.6)
        return False

    def _lost_ticket(self, vehicle: Vehicle) -> None:
        """The guard types the plate for a lost card (lost-ticket fee)."""
        if self.site.booth is not None:
            self.site.booth.lost_card(
                _rid(), self.lane.name, by=self.site.signed_on, plate=vehicle.plate
            )
        else:
            self.lane.lost_ticket(vehicle.plate, by=GUARD)

    def _pay(self) -> bool:
        if not _wait(
            lambda: self.lane.payments.due is not None or self.lane.barrier.state == "open",
            timeout=3.0,
        ):
            return False
        due = self.lane.payments.due
        if due is not None:
            if self.site.booth is not None:
                # The guard takes the cash and taps "confirm payment" for the serial on the screen.
                try:
                    self.site.booth.confirm_payment(
                        _rid(),
                        self.lane.name,
                        by=self.site.signed_on,
                        serial=due.serial,
                        method="cash",
                    )
                except GatepostError as exc:
                    log.warning("payment not confirmed at the booth: %s", exc)
                    return False
            else:
                self.lane.payment_received("cash", by=GUARD)
            self.site.tally.add(fees_paid_minor=due.fee_minor)
        return True

    def reader_fault(self, minutes: float) -> None:
        """The exit card reader goes silent for a while (a loose cable), then answers again."""
        answers = max(3, min(20, int(minutes * 60 / max(self.site.speed, 1.0) / 0.5)))
        for _ in range(answers):
            self.sims.pn532.fault_next("silence")
        self.site.tally.add(reader_faults=1)
        log.warning(
            "simulated card reader fault at %s (%d silent answers)",
            self.agent.config.device.id,
            answers,
        )

    def _entered(self, vehicle: Vehicle) -> None:
        self.site.tally.add(entries=1)
        now = self.site.clock()
        self.site.decide(lambda m: m.entered(vehicle, now))

    def _gave_up(self, vehicle: Vehicle, failed: bool = False) -> None:
        if failed:
            log.warning(
                "simulated entry of %s failed at %s", vehicle.id, self.agent.config.device.id
            )
            self.site.tally.add(failed=1)
        self.site.decide(lambda m: m.gave_up(vehicle))


def _rid() -> str:
    """A console request id, new for each tap."""
    return uuid.uuid4().hex


class KioskDriver(_OneAtATime):
    """The lobby: visitors check in on the kiosk form and check out with their pass, one at a time."""

    def __init__(self, kiosk: Any, site: SiteDriver) -> None:
        super().__init__(site, "drive-kiosk")
        self.kiosk = kiosk  # a running KioskAgent (simulated camera and printer)
        self.passes: dict[str, str] = {}

    def handle(self, job: Happening) -> None:
        if isinstance(job, CheckIn):
            self.check_in(job.visitor)
        elif isinstance(job, CheckOut):
            self.check_out(job.visitor)

    def check_in(self, visitor: LobbyVisitor) -> None:
        desk = self.kiosk.kiosk
        photo_id = None
        if visitor.category == "guest":  # guests take the optional photo; the face check passes
            self.kiosk.camera_source.show_face()
            photo = desk.take_photo()
            photo_id = photo.get("photo_id") if photo.get("ok") else None
        form = VisitorForm(
            category=visitor.category,
            name=visitor.name,
            host=visitor.host,
            unit=visitor.unit,
            purpose=visitor.purpose,
            party_size=visitor.party_size,
            agency=visitor.agency,
            pass_number=visitor.pass_number,
            company=visitor.company,
            work_order=visitor.work_order,
            consent=True,
        )
        try:
            answer = desk.check_in(_rid(), form, photo_id)
        except KioskError as exc:
            log.warning("simulated check-in of %s refused: %s", visitor.id, exc)
            self.site.tally.add(failed=1)
            return
        if not answer.get("ok"):
            log.warning("simulated check-in of %s not admitted: %s", visitor.id, answer)
            return
        self.passes[visitor.id] = answer["pass_qr"]
        self.site.tally.add(visitors_checked_in=1)
        now = self.site.clock()
        self.site.decide(lambda m: m.checked_in(visitor, now))

    def check_out(self, visitor: LobbyVisitor) -> None:
        pass_qr = self.passes.pop(visitor.id, None)
        if pass_qr is None:
            self.site.decide(lambda m: m.checked_out(visitor))
            return
        camera = self.kiosk.camera_source
        camera.show_qr(pass_qr)
        try:
            self.kiosk.kiosk.scan_checkout()
        except KioskError as exc:
            log.warning("simulated check-out of %s refused: %s", visitor.id, exc)
            self.site.tally.add(failed=1)
            return
        finally:
            camera.show_nobody()
        self.site.tally.add(visitors_checked_out=1)
        self.site.decide(lambda m: m.checked_out(visitor))


class SiteDriver:
    """Paces the traffic model against the site clock at ``speed`` and dispatches to the lanes.

    ``booth``: the post's :class:`~edge.console.booth.Booth`; the guard's actions go through it.
    ``kiosk``: a running lobby :class:`~edge.kiosk.agent.KioskAgent`. ``on_time(now)`` is called
    after each step of the simulated clock (the demo's shift handovers).
    """

    MAX_QUEUE = 8
    """Cars waiting at one lane before the simulated clock holds back (the lanes set the pace)."""

    def __init__(
        self,
        model: TrafficModel,
        clock: SimClock,
        entries: list[Any],
        exit_: Any,
        *,
        speed: float,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        booth: Any = None,
        kiosk: Any = None,
        on_time: Callable[[datetime], None] | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.model = model
        self.clock = clock
        self.speed = speed
        self.wall = wall
        self.booth = booth
        self.signed_on: Any = None
        """The :class:`~edge.console.guards.Guard` whose PIN sign-on the booth accepted (set by the demo)."""
        self.on_time = on_time
        self.stop_event = threading.Event()
        self.tally = Tally()
        self.cards: dict[str, NtagMemory] = {}
        self._lock = threading.Lock()
        self.entries = [LaneDriver(a, self) for a in entries]
        self.exit = LaneDriver(exit_, self)
        self.kiosk = KioskDriver(kiosk, self) if kiosk is not None else None
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()

    def guard(self) -> str:
        """How events name the guard on duty: the booth's sign-on, or the demo's stand-in."""
        duty = self.booth.duty() if self.booth is not None else None
        return str(duty["guard"]) if duty else GUARD

    @property
    def workers(self) -> tuple[Any, ...]:
        return (*self.entries, self.exit, *((self.kiosk,) if self.kiosk is not None else ()))

    def decide(self, call: Callable[[TrafficModel], Any]) -> Any:
        with self._lock:
            return call(self.model)

    def start(self, until: datetime | None = None) -> SiteDriver:
        for driver in self.workers:
            driver.start()
        self._thread = threading.Thread(target=self.run, args=(until,), name="traffic", daemon=True)
        self._thread.start()
        return self

    def run(self, until: datetime | None = None) -> None:
        """Dispatch happenings until ``until`` (simulated) or the stop event; then let the lanes finish."""
        sim0, real0 = self.clock(), time.monotonic()
        try:
            while not self.stop_event.is_set():
                at = self.decide(lambda m: m.next_time())
                if until is not None and at > until:
                    break
                paced = real0 + (at - sim0).total_seconds() / self.speed - time.monotonic()
                live = (
                    at - self.wall()
                ).total_seconds()  # the simulated site never runs ahead of now
                if max(paced, live) > 0 and self.stop_event.wait(max(paced, live)):
                    break
                while self._busy() and not self.stop_event.is_set():
                    time.sleep(0.02)
                now = self.clock.advance_to(at)
                if self.on_time is not None:
                    try:
                        self.on_time(now)
                    except Exception:
                        log.exception("on_time hook failed at %s", now)
                for happening in self.decide(partial(TrafficModel.due, now=now)):
                    self._dispatch(happening)
            self.drain()
            if until is not None and not self.stop_event.is_set():
                self.clock.advance_to(until)
        finally:
            self.finished.set()

    def _busy(self) -> bool:
        return any(d.jobs.qsize() >= self.MAX_QUEUE for d in self.workers)

    def _dispatch(self, happening: Happening) -> None:
        if isinstance(happening, (Arrive, Incident)):
            self.entries[happening.lane % len(self.entries)].jobs.put(happening)
        elif isinstance(happening, (CheckIn, CheckOut)):
            if self.kiosk is not None:
                self.kiosk.jobs.put(happening)
            elif isinstance(happening, CheckOut):
                visitor = happening.visitor  # no kiosk to check out at: the visit just ends
                self.decide(lambda m: m.checked_out(visitor))
        else:
            self.exit.jobs.put(happening)

    def drain(self, timeout: float = 120.0) -> bool:
        """Wait until every lane has dealt with its queue."""
        deadline = time.monotonic() + timeout
        drivers = self.workers
        while time.monotonic() < deadline:
            if all(d.jobs.unfinished_tasks == 0 for d in drivers):
                return True
            if self.stop_event.is_set():
                return False
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        for driver in self.workers:
            driver.stop()
