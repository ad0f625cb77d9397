"""Lane scenarios through the real drivers: badges, full lot, lost card, guard overrides,
faults, safety re-open, torn writes, forged and garbage input, restart recovery.

Every scenario runs on each shipped lane board (``board``, tests/lane/sim.py): the lane
is the agent's own assembly of that profile, on simulated pins and serial ports. A
scenario that needs a part a board does not have (a badge reader, limit switches, a
printer) says so and is skipped on that board.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from edge.errors import TicketRejected
from edge.hw.gpio import activate, deactivate
from edge.lane.inputs import ArmingChanged, BadgeRead, CardPlaced, PresenceChanged, Recover
from edge.lane.occupancy import Occupancy
from edge.sim.capture import escpos_qr_payloads, escpos_text
from edge.tariff import load_tariff
from edge.ticket import KeyRing, Ticket, encode_card
from tests.lane.conftest import ROOT
from tests.lane.sim import (
    SCENARIO_BOARDS,
    HandledInputs,
    event_types,
    events_of,
    settled,
    sim_profile,
    wait_for,
)
from tests.support.browser import lane_script

DAY_NIGHT = ROOT / "firmware_configs" / "tariffs" / "day_night_cn.toml"


@pytest.fixture(params=SCENARIO_BOARDS)
def board(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def need_badge_reader(sim) -> None:
    if sim.rdm6300 is None:
        pytest.skip(f"{sim.profile.board.name}: no badge reader on this board")


def need_limit_switches(sim) -> None:
    if not sim.has_limit_switches:
        pytest.skip(
            f"{sim.profile.board.name}: no limit switches, so the arm's real position is never seen"
        )


def let_in(entry, badge: str = "0A1B2C3D4E") -> None:
    """Raise an entry barrier for the waiting car as the board allows: a resident's badge, else a new card."""
    if entry.rdm6300 is not None:
        entry.rdm6300.present(badge)
    else:
        entry.place_card()


def close_command(sim):
    """(pin, level) that means "arm, come down": a CLOSE pulse, or a hold relay released."""
    barrier = sim.barrier
    if barrier.close_relay is not None:
        return barrier.close_relay.pin, bool(barrier.close_relay.active_high)
    return barrier.relay.pin, not bool(barrier.relay.active_high)


def _level(spec) -> bool:
    """The electrical level at which a profile's input pin means "active"."""
    return bool(spec.active_high) if spec.pull == "off" else spec.pull == "down"


def test_the_simulated_lane_is_wired_as_its_board_profile(lanes, board):
    entry = lanes("entry", camera=False)
    profile = entry.profile
    pins, spec = profile.board.pins, profile.barrier
    assert (entry.barrier.model, entry.barrier.travel_timeout_s) == (
        spec.model,
        spec.travel_timeout_s,
    )
    assert (entry.lane.badge_reader is None) == (profile.badge_reader is None)
    assert entry.has_limit_switches == (pins.opened_limit is not None)
    assert (entry.barrier.close_relay is None) == (pins.barrier_close is None)
    relay = entry.factory.pin(pins.barrier_open.pin)
    seen = len(relay.states)
    car = entry.vehicle()
    car.arrive()  # the car is on the profile's arming-loop pin, at the profile's active level
    assert entry.factory.pin(pins.arming_loop.pin).state == _level(pins.arming_loop)
    wait_for(lambda: entry.lane.status().phase == "waiting", what="lane sees the car")
    let_in(entry)
    wait_for(lambda: entry.barrier.state == "open", what="open")
    assert any(
        bool(change.state) == pins.barrier_open.active_high for change in relay.states[seen:]
    )  # energised
    if pins.opened_limit is not None:
        assert entry.factory.pin(pins.opened_limit.pin).state == _level(pins.opened_limit)
    if spec.model == "hold":
        assert relay.state == pins.barrier_open.active_high  # held while the arm is up
    car.drive_through()
    wait_for(lambda: entry.barrier.state == "closed", what="closed behind the car")
    close_pin, close_level = close_command(entry)
    assert close_pin.state == close_level or any(
        bool(c.state) == close_level for c in close_pin.states
    )
    if pins.closed_limit is not None:
        assert entry.factory.pin(pins.closed_limit.pin).state == _level(pins.closed_limit)


def test_resident_badge_passes_with_no_ticket_and_unknown_badge_is_refused(lanes):
    entry = lanes("entry", occupancy=Occupancy(capacity=1, occupied=1))  # full for visitors
    need_badge_reader(entry)
    car = entry.vehicle()
    car.arrive()
    entry.rdm6300.present("FFFFFFFFFF")
    wait_for(lambda: events_of(entry.outbox, "badge_rejected"), what="unknown badge refused")
    entry.rdm6300.remove()
    assert entry.barrier.state == "closed"
    entry.rdm6300.present("0A1B2C3D4E")
    wait_for(lambda: entry.barrier.state == "open", what="resident let in")
    entry.rdm6300.remove()
    car.drive_through()
    wait_for(lambda: entry.barrier.state == "closed", what="closed behind the resident")
    accepted = events_of(entry.outbox, "badge_accepted")
    assert accepted == [
        {"badge": "0A1B2C3D4E", "holder_class": "resident", "direction": "in", "snapshot": None}
    ]
    assert "ticket_issued" not in event_types(entry.outbox)


def test_full_lot_refuses_then_guard_overrides_through_the_booth_api(lanes):
    entry = lanes("entry", occupancy=Occupancy(capacity=10, reserved=2, occupied=8))
    api = lane_script(entry.lane)
    assert (
        api.post("/api/lane/override-full", json={"reason": "x"}).status_code == 409
    )  # nobody waiting
    car = entry.vehicle()
    car.arrive()
    wait_for(lambda: entry.lane.status().phase == "refused_full", what="refusal")
    assert entry.text.last == [
        "区内暂无车位,请停靠对面车场,多谢合作!",
        "No spaces available here. Please park at the car park opposite. Thank you!",
    ]
    handled = HandledInputs(entry.lane)
    entry.place_card()
    handled.wait(CardPlaced, 1, what="the card handled while full")
    assert entry.barrier.state == "closed" and "ticket_issued" not in event_types(entry.outbox)
    assert api.post("/api/lane/override-full", json={"reason": "   "}).status_code == 422
    assert (
        api.post("/api/lane/override-full", json={"reason": "unit 3-502 guest"}).status_code == 200
    )
    entry.pn532.remove_card()
    time.sleep(0.4)  # precondition: gone longer than the station's 0.3 s, so the card counts as new
    entry.place_card()
    wait_for(lambda: entry.barrier.state == "open", what="override then ticket")
    refused = events_of(entry.outbox, "entry_refused_full")
    assert [r["override"] for r in refused] == [False, True] and refused[1][
        "reason"
    ] == "unit 3-502 guest"


def test_lost_card_is_charged_from_the_tariff_with_the_plate_noted(lanes):
    exit_ = lanes("exit", tariff=load_tariff(DAY_NIGHT), camera=False)
    api = lane_script(exit_.lane)
    car = exit_.vehicle()
    car.arrive()
    assert api.post("/api/lane/lost-ticket", json={"plate": ""}).status_code == 422
    answer = api.post("/api/lane/lost-ticket", json={"plate": "粤B12345"})
    assert answer.status_code == 200 and answer.json()["fee_due_minor"] == 5000
    assert exit_.text.last[0] == "您的车计费停车0分钟,请交停车费50.00元"
    assert exit_.barrier.state == "closed"
    assert api.post("/api/lane/confirm-payment", json={"method": "cash"}).status_code == 200
    wait_for(lambda: exit_.barrier.state == "open", what="raise after paying the lost-ticket fee")
    lost = events_of(exit_.outbox, "lost_ticket")[0]
    assert lost["plate"] == "粤B12345" and lost["fee_minor"] == 5000
    assert events_of(exit_.outbox, "payment_confirmed")[0]["serial"] == lost["serial"]
    assert (
        api.post("/api/lane/confirm-payment", json={"method": "cash"}).status_code == 409
    )  # paid once


def test_manual_raise_needs_a_reason_and_is_audited_before_the_arm_moves(lanes):
    entry = lanes("entry", camera=False)
    api = lane_script(entry.lane)
    assert api.post("/api/lane/manual-raise", json={}).status_code == 422
    assert api.post("/api/lane/manual-raise", json={"reason": ""}).status_code == 422
    assert api.post("/api/lane/manual-raise", json={"reason": "ok", "extra": 1}).status_code == 422
    garbage = api.post(
        "/api/lane/manual-raise",
        content=b"\xff{not json",
        headers={"content-type": "application/json"},
    )
    assert garbage.status_code in (400, 422) and garbage.json()["detail"]
    assert api.post("/api/lane/confirm-payment", json={"method": "bitcoin"}).status_code == 422
    assert entry.barrier.state == "closed"
    assert api.post("/api/lane/manual-raise", json={"reason": "ambulance"}).status_code == 200
    wait_for(lambda: entry.barrier.state == "open", what="manual raise")
    types = event_types(entry.outbox)
    assert types.index("manual_raise") < types.index("barrier_opened")
    assert events_of(entry.outbox, "manual_raise")[0] == {
        "reason": "ambulance",
        "by": "token:script",
        "request_id": None,
    }
    state = api.get("/api/lane").json()
    assert state["phase"] == "open" and state["barrier"] in ("open", "opening")
    assert api.post("/api/lane/manual-close", json={"reason": "nobody came"}).status_code == 200
    wait_for(lambda: entry.barrier.state == "closed", what="manual close")
    assert "manual_close" in event_types(entry.outbox)


def test_barrier_that_never_arrives_puts_the_lane_out_of_service(lanes):
    entry = lanes("entry", barrier={"travel_timeout_s": 0.4}, camera=False)
    need_limit_switches(entry)
    need_badge_reader(entry)
    entry.mechanics.jam()
    car = entry.vehicle()
    car.arrive()
    entry.rdm6300.present("0A1B2C3D4E")
    wait_for(lambda: entry.lane.status().out_of_service, what="fault")
    fault = events_of(entry.outbox, "barrier_fault")[0]
    assert fault["expected"] == "open"
    assert entry.text.last[0] == "道闸故障,暂停使用,请联系岗亭"
    assert entry.lane.status().message == "out_of_service"
    handled = HandledInputs(entry.lane)
    entry.rdm6300.remove()
    time.sleep(
        2.0
    )  # precondition: past the badge reader's 1.5 s debounce, so the same badge counts again
    entry.rdm6300.present("0A1B2C3D4E")
    handled.wait(BadgeRead, 1, what="the badge handled while out of service")
    assert (
        len(events_of(entry.outbox, "badge_accepted")) == 1
    )  # nothing passes while out of service


def _intervals(pin, active_level: bool) -> list[tuple[float, float]]:
    """Times (since clear_states) during which a MockPin sat at ``active_level``."""
    spans, t, since = [], 0.0, None
    for delta, state in pin.states:
        t += delta
        if bool(state) == active_level and since is None:
            since = t
        elif bool(state) != active_level and since is not None:
            spans.append((since, t))
            since = None
    if since is not None:
        spans.append((since, float("inf")))
    return spans


def test_barrier_never_closes_on_a_lingering_car_and_reopens_for_a_follower(lanes):
    entry = lanes("entry", camera=False)
    close_pin, close_level = close_command(entry)
    safety = entry.lane.safety_loop
    car = entry.vehicle()
    car.arrive()
    let_in(entry)
    wait_for(lambda: entry.barrier.state == "open", what="open")
    close_pin.clear_states()
    safety.pin.clear_states()
    handled = HandledInputs(entry.lane)
    activate(safety)
    deactivate(entry.lane.arming_loop)
    # The car sits under the arm: once the lane has handled both changes, the arm is still up.
    handled.wait(PresenceChanged, 1, what="the car under the arm seen")
    handled.wait(ArmingChanged, 1, what="the arming loop cleared")
    assert entry.barrier.state == "open"
    deactivate(safety)
    wait_for(lambda: entry.barrier.state == "closing", what="closing")
    activate(safety)  # a follower noses under the arm as it comes down
    wait_for(lambda: entry.barrier.state in ("opening", "open"), what="safety re-open")
    time.sleep(0.1)  # the follower lingers a moment (not a check)
    deactivate(safety)
    wait_for(lambda: entry.barrier.state == "closed", what="closed after the follower left")
    present = _intervals(safety.pin, safety.active_high)
    closes = _intervals(close_pin, close_level)
    assert len(present) == 2 and closes  # two presences, at least one close command
    for c_start, _ in closes:
        assert not any(a <= c_start < b for a, b in present), (
            "close command given with a car present"
        )
    reopened = [e for e in events_of(entry.outbox, "barrier_opened") if e["cause"] == "safety"]
    assert reopened


def test_card_lifted_mid_write_is_never_a_valid_ticket_and_is_rewritten(lanes):
    entry = lanes("entry", camera=False)
    car = entry.vehicle()
    car.arrive()
    entry.pn532.tear_after_writes(3)
    torn = entry.place_card()
    wait_for(
        lambda: entry.text.last and entry.text.last[0].startswith("写卡未完成"),
        what="lifted message",
    )
    assert entry.barrier.state == "closed" and "ticket_issued" not in event_types(entry.outbox)
    with pytest.raises(TicketRejected) as refused:
        entry.codec.decode_card(torn.user_memory)
    assert refused.value.reason in ("half_written", "malformed", "forged")
    time.sleep(0.4)  # precondition: gone longer than the station's 0.3 s, so the card counts as new
    entry.pn532.place_card(torn)  # the driver puts it back: written again, whole
    wait_for(lambda: entry.barrier.state == "open", what="rewritten and opened")
    assert (
        entry.codec.decode_card(torn.user_memory).serial
        == events_of(entry.outbox, "ticket_issued")[0]["serial"]
    )


def test_forged_and_foreign_cards_and_garbage_frames_leave_the_barrier_closed(lanes):
    exit_ = lanes("exit", camera=False)
    car = exit_.vehicle()
    car.arrive()
    now = datetime.now(UTC) - timedelta(hours=1)
    foreign = encode_card(
        Ticket("FAKE1", "demo", now, "entry-1", "car", 1), KeyRing({1: b"x" * 32})
    )
    exit_.place_card(foreign)
    wait_for(lambda: events_of(exit_.outbox, "ticket_rejected"), what="forged card refused")
    exit_.pn532.remove_card()
    genuine = bytearray(exit_.codec.encode_card(exit_.codec.make("REAL1", now, "car")))
    genuine[12] ^= 0x01  # one bit changed on the card
    time.sleep(0.4)  # precondition: gone longer than the station's 0.3 s, so the card counts as new
    exit_.place_card(bytes(genuine))
    wait_for(
        lambda: len(events_of(exit_.outbox, "ticket_rejected")) == 2, what="altered card refused"
    )
    reasons = {r["reason"] for r in events_of(exit_.outbox, "ticket_rejected")}
    assert reasons <= {"forged", "unknown_key", "malformed", "half_written"}
    listings = exit_.pn532.commands.count(0x4A)
    rejected = exit_.lane.badge_reader.errors if exit_.rdm6300 is not None else 0
    exit_.pn532.inject(b"\x00\x00\xff\x05\xfb\xd5\x4b\x01\x01\x00\x00")  # a broken frame
    if exit_.rdm6300 is not None:
        exit_.rdm6300.send_raw(b"\x02ZZZZZZZZZZZZ\x03\x02123\x03" + bytes(range(256)))
    # Sync points: the card station has listed twice since (it read past the broken frame) and
    # the badge reader has rejected the garbage; whatever they handed the lane has run.
    wait_for(
        lambda: exit_.pn532.commands.count(0x4A) >= listings + 2,
        what="the card station past the broken frame",
    )
    if exit_.rdm6300 is not None:
        wait_for(
            lambda: exit_.lane.badge_reader.errors > rejected,
            what="the badge reader's garbage rejected",
        )
    settled(exit_.lane)
    assert exit_.barrier.state == "closed"
    assert "payment_confirmed" not in event_types(exit_.outbox)
    if exit_.rdm6300 is not None:
        exit_.rdm6300.present("0B0B0B0B0B")  # the lane still works: staff badge passes
    else:  # the lane still works: a genuine card inside the free period passes
        exit_.pn532.remove_card()
        time.sleep(
            0.4
        )  # precondition: gone longer than the station's 0.3 s, so the card counts as new
        recent = datetime.now(UTC) - timedelta(minutes=5)
        exit_.place_card(exit_.codec.encode_card(exit_.codec.make("REAL2", recent, "car")))
    wait_for(lambda: exit_.barrier.state == "open", what="lane alive after garbage")


def test_restart_recovers_to_a_safe_state(lanes, tmp_path):
    first = lanes("exit", camera=False)
    first.lane.manual_raise("test before power cut")
    wait_for(lambda: first.barrier.state == "open", what="open before restart")
    assert first.store.get("barrier") == "open"
    first.close()
    # Power back: the arm is physically up and a car sits under it.
    second = lanes("exit", camera=False, start=False)
    second.mechanics.position = 1.0
    second.mechanics.poll()
    activate(second.lane.safety_loop)
    handled = HandledInputs(second.lane)
    second.lane.start()
    handled.wait(Recover, 1, what="the restart's recovery handled")
    assert second.barrier.state in ("open", "opening")  # never down onto the car
    deactivate(second.lane.safety_loop)
    wait_for(lambda: second.barrier.state == "closed", what="closed once clear")
    assert any(
        e["cause"] in ("recovery", "cleared") for e in events_of(second.outbox, "barrier_closed")
    )


def test_restart_with_the_arm_already_down_reports_closed_not_closing(lanes):
    first = lanes("exit", camera=False)
    first.lane.manual_raise("test before power cut")
    wait_for(lambda: first.barrier.state == "open", what="open before restart")
    first.close()  # the lane state says "open"; the controller lowered the arm while the Pi was off
    second = lanes("exit", camera=False, start=False)
    need_limit_switches(second)
    assert second.barrier.state == "closed"  # the closed limit switch is made
    second.lane.start()
    # The recovery's close finds the arm down: no limit switch changes, yet the lane must settle.
    wait_for(lambda: second.lane.status().barrier == "closed", what="lane reports the arm closed")
    assert (
        event_types(second.outbox)[-1] == "barrier_closed"
    )  # the same outbox file: this start's recovery
    assert events_of(second.outbox, "barrier_closed")[-1]["cause"] == "recovery"
    status = second.lane.status()
    assert (status.barrier, status.phase, second.barrier.state) == ("closed", "idle", "closed")


def test_restart_with_the_arm_up_and_nobody_under_it_closes_and_reports_closed(lanes):
    second = lanes("exit", camera=False, start=False)
    second.store.put("barrier", "open")
    second.mechanics.position = 1.0
    second.mechanics.poll()
    if second.has_limit_switches:
        assert second.barrier.state == "open"
    second.lane.start()
    wait_for(lambda: second.barrier.state == "closed", what="recovery close completed")
    wait_for(lambda: second.lane.status().barrier == "closed", what="lane reports the arm closed")


def test_paper_ticket_printed_at_entry_and_read_by_the_exit_camera(lanes, board):
    profile = sim_profile(board)
    if profile.printer is None or profile.board.camera is None:
        pytest.skip(f"{profile.board.name}: no ticket printer or lane camera on this board")
    entry = lanes("entry", medium="paper", camera=False)
    exit_ = lanes("exit", clock=lambda: datetime.now(UTC) + timedelta(minutes=9.5))
    car = entry.vehicle()
    car.arrive()
    wait_for(lambda: entry.barrier.state == "open", what="paper ticket issued")
    car.drive_through()
    (qr_text,) = escpos_qr_payloads(entry.printer.captured)
    assert "请妥善保管" in escpos_text(entry.printer.captured)
    issued = events_of(entry.outbox, "ticket_issued")[0]
    assert issued["medium"] == "paper"
    out = exit_.vehicle()
    out.arrive()
    exit_.camera_source.show_qr(qr_text)
    wait_for(lambda: exit_.barrier.state == "open", what="exit by QR (inside the free 30 min)")
    quoted = events_of(exit_.outbox, "fee_quoted")[0]
    assert (
        quoted["serial"] == issued["serial"]
        and quoted["fee_minor"] == 0
        and quoted["minutes"] == 10
    )
    assert exit_.text.last[0] == "您的车计费停车10分钟,免费,请通行"


def test_an_event_that_cannot_be_stored_never_moves_the_barrier(lanes):
    entry = lanes("entry", camera=False)
    entry.outbox.close()  # the disk refuses every write from now on
    car = entry.vehicle()
    car.arrive()
    let_in(entry)
    wait_for(lambda: entry.lane.status().extra["storage_error"], what="storage error reported")
    settled(entry.lane)  # the refused decision and anything queued behind it have run
    assert entry.barrier.state == "closed"
    # Safety before bookkeeping: the lane says its records fail (tests/lane/test_storage_faults.py has the rest).
    assert entry.lane.status().storage_fault
    assert entry.display.rows and "记录故障" in "".join(entry.display.rows).replace(" ", "")
