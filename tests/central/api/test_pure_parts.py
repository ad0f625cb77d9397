"""The pure parts, without a server: alarm rules, login throttle, password rules, report days; and the 0002_ops migration."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import inspect

from central.alarms import store
from central.alarms.kinds import AlarmKind, AlarmThresholds
from central.alarms.rules import (
    BarrierWatch,
    DeviceFacts,
    Signal,
    from_device,
    from_event,
    from_gaps,
    from_occupancy,
)
from central.auth.errors import WeakPassword
from central.auth.passwords import hash_password, verify_password
from central.auth.proxies import client_address, parse_networks
from central.auth.roles import Role, allows
from central.auth.throttle import LoginThrottle
from central.db.session import make_engine, make_sessions, upgrade
from central.reports import build_daily, day_bounds

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
LIMITS = AlarmThresholds()


def kinds(signals, action="raise"):
    return {s.kind for s in signals if s.action == action}


def test_missed_heartbeats_make_a_device_offline():
    fresh = DeviceFacts("s", "d", True, T0 - timedelta(seconds=30), {"outbox_depth": 0})
    stale = DeviceFacts(
        "s", "d", True, T0 - timedelta(seconds=LIMITS.heartbeat_timeout_s + 1), {"outbox_depth": 0}
    )
    assert AlarmKind.DEVICE_OFFLINE in kinds(from_device(fresh, T0, LIMITS), "clear")
    (sig,) = from_device(stale, T0, LIMITS)
    assert sig.kind == AlarmKind.DEVICE_OFFLINE and sig.detail["cause"] == "missed_heartbeats"


def test_offline_device_health_is_ignored():
    facts = DeviceFacts("s", "d", False, T0, {"outbox_depth": 99999, "clock_skew_ms": 99999})
    assert kinds(from_device(facts, T0, LIMITS)) == {AlarmKind.DEVICE_OFFLINE}


def test_outbox_hysteresis():
    mid = DeviceFacts("s", "d", True, T0, {"outbox_depth": 100})
    assert not [
        s for s in from_device(mid, T0, LIMITS) if s.kind == AlarmKind.OUTBOX_BACKLOG
    ]  # neither raise nor clear


def test_event_rules():
    assert kinds(
        from_event("s", "d", "incident_reported", {"kind": "forced_entry", "description": "x"}, T0)
    ) == {AlarmKind.FORCED_ENTRY}
    assert kinds(
        from_event("s", "d", "incident_reported", {"kind": "damage", "description": "x"}, T0)
    ) == {AlarmKind.INCIDENT}
    assert kinds(from_event("s", "d", "ticket_rejected", {"reason": "unknown_key"}, T0)) == {
        AlarmKind.FORGED_OR_REUSED_TICKET
    }
    assert from_event("s", "d", "ticket_rejected", {"reason": "malformed"}, T0) == []
    assert from_event("s", "d", "vehicle_arrived", {"lane_role": "exit"}, T0) == []
    (full,) = from_event("s", "entry-1", "entry_refused_full", {"occupied": 9, "capacity": 9}, T0)
    assert full.device == "" and full.detail["lane"] == "entry-1"


def test_occupancy_and_gap_rules():
    assert kinds(from_occupancy("s", 10, 10, T0)) == {AlarmKind.LOT_FULL}
    assert kinds(from_occupancy("s", 9, 10, T0), "clear") == {AlarmKind.LOT_FULL}
    assert kinds(from_occupancy("s", 9, None, T0), "clear") == {AlarmKind.LOT_FULL}
    sigs = from_gaps({("s", "a"): [(2, 4)]}, [("s", "a"), ("s", "b")], T0)
    assert [(x.device, x.action, x.detail.get("missing")) for x in sigs] == [
        ("a", "raise", 3),
        ("b", "clear", None),
    ]


def test_barrier_watch_uses_its_clock():
    watch = BarrierWatch()
    limits = AlarmThresholds(barrier_open_max_s=60)
    watch.observe_event("s", "d", "barrier_opened", T0)
    assert kinds(watch.tick([("s", "d")], T0 + timedelta(seconds=59), limits)) == set()
    assert kinds(watch.tick([("s", "d")], T0 + timedelta(seconds=61), limits)) == {
        AlarmKind.BARRIER_HELD_OPEN
    }
    watch.observe_event("s", "d", "barrier_closed", T0 + timedelta(seconds=62))
    assert kinds(watch.tick([("s", "d")], T0 + timedelta(seconds=63), limits), "clear") == {
        AlarmKind.BARRIER_HELD_OPEN
    }


def test_alarm_store_state_machine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/a.db")
    upgrade(engine)
    sessions = make_sessions(engine)
    raise_ = Signal(
        "raise", "s", "d", AlarmKind.DEVICE_OFFLINE, T0, {"cause": "last_will", "last_seen_s": 1}
    )
    with sessions() as db:
        (alarm,) = store.apply(db, [raise_])
        assert alarm.state == "active_unacknowledged"
        # the same condition reported again on the next tick is not news
        assert (
            store.apply(
                db,
                [
                    Signal(
                        "raise",
                        "s",
                        "d",
                        AlarmKind.DEVICE_OFFLINE,
                        T0 + timedelta(seconds=1),
                        {"cause": "last_will", "last_seen_s": 2},
                    )
                ],
            )
            == []
        )
        store.acknowledge(db, alarm.id, by="sup", by_role="supervisor", note="on it", now=T0)
        assert alarm.state == "active_acknowledged"
        # an occurrence kind ignores an automatic clear
        fault = Signal("raise", "s", "d", AlarmKind.BARRIER_FAULT, T0, {})
        (f,) = store.apply(db, [fault])
        assert store.apply(db, [Signal("clear", "s", "d", AlarmKind.BARRIER_FAULT, T0)]) == []
        assert f.state == "active_unacknowledged"
        # a condition clears itself; a new raise afterwards is a new alarm
        store.apply(db, [Signal("clear", "s", "d", AlarmKind.DEVICE_OFFLINE, T0)])
        assert (
            alarm.state == "cleared" and alarm.active_key is None and alarm.cleared_by == "system"
        )
        (again,) = store.apply(db, [raise_])
        assert again.id != alarm.id
        db.commit()
    engine.dispose()


def test_throttle_delays_the_failing_source_progressively_and_never_its_neighbour():
    now = [0.0]
    t = LoginThrottle(
        lambda: now[0], pair_free=3, source_free=10, account_free=5, base_delay=10, window=1000
    )
    for _ in range(3):
        t.failure("Admin", "10.0.0.66")
    assert t.retry_after("admin", "10.0.0.66") == 10  # 3 free tries, then a delay
    assert t.retry_after("admin", "10.0.0.5") == 0  # the real admin elsewhere is not held back
    assert (
        t.retry_after("sup", "10.0.0.66") == 0
    )  # another account from the same source: under its own limit
    now[0] = 11
    t.failure("admin", "10.0.0.66")
    assert t.retry_after("admin", "10.0.0.66") == 20  # each further failure doubles the wait
    t.success("admin", "10.0.0.66")
    assert t.retry_after("admin", "10.0.0.66") == 0


def test_throttle_a_botnet_on_one_account_waits_per_address_but_the_owner_does_not():
    now = [0.0]
    t = LoginThrottle(
        lambda: now[0], pair_free=3, source_free=10, account_free=5, base_delay=10, window=1000
    )
    for i in range(8):
        t.failure("admin", f"10.0.1.{i}")  # one try each: under every per-source limit
    assert all(
        t.retry_after("admin", f"10.0.1.{i}") > 0 for i in range(8)
    )  # the account's count holds them
    assert t.retry_after("admin", "10.0.0.5") == 0  # a clean source is never refused
    assert t.retry_after("admin", "10.0.1.0") == 10 * 2**3


def test_throttle_spray_from_one_source_and_success_does_not_wipe_it():
    now = [0.0]
    t = LoginThrottle(
        lambda: now[0], pair_free=3, source_free=4, account_free=50, base_delay=10, window=100
    )
    for i in range(4):
        t.failure(f"user{i}", "10.0.0.66")
    assert t.retry_after("anyone", "10.0.0.66") == 10
    t.success("mine", "10.0.0.66")  # signing in to one's own account does not reset the spray count
    assert t.retry_after("anyone", "10.0.0.66") == 10
    now[0] = 200  # failures age out after the window
    assert t.retry_after("anyone", "10.0.0.66") == 0


def test_throttle_memory_stays_bounded_under_a_spray():
    now = [0.0]
    t = LoginThrottle(lambda: now[0], max_keys=300)
    for i in range(1000):
        t.failure(f"u{i}", f"10.{i // 250}.{i % 250}.1")
    assert len(t._failures) <= 300


def test_forwarded_for_is_read_only_from_trusted_proxies():
    proxies = parse_networks("127.0.0.1, 10.1.0.0/16")
    assert client_address("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"  # no proxies configured
    assert client_address("192.0.2.7", ["203.0.113.9"], proxies) == "192.0.2.7"  # not a proxy
    assert client_address("127.0.0.1", ["203.0.113.9"], proxies) == "203.0.113.9"
    # the client's own entries sit left of what the proxies appended: ignored
    assert client_address("127.0.0.1", ["1.2.3.4, 203.0.113.9, 10.1.2.3"], proxies) == "203.0.113.9"
    assert client_address("127.0.0.1", ["1.2.3.4", "203.0.113.9"], proxies) == "203.0.113.9"
    assert client_address("127.0.0.1", ["not-an-ip"], proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", [], proxies) == "127.0.0.1"
    assert client_address("::ffff:127.0.0.1", ["203.0.113.9"], proxies) == "203.0.113.9"
    with pytest.raises(ValueError, match="'10.0.0.300'"):
        parse_networks("10.0.0.1, 10.0.0.300")


def test_passwords():
    for weak in ("short", "aaaaaaaaaaaaaa", "x" * 300):
        with pytest.raises(WeakPassword):
            hash_password(weak)
    h = hash_password("a-good-passphrase")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "a-good-passphrase") and not verify_password(h, "a-good-passphrasE")
    assert not verify_password(None, "gatepost-no-such-user") and not verify_password(
        "garbage", "x"
    )


def test_roles():
    assert allows(Role.ADMIN, Role.SUPERVISOR) and allows("supervisor", "guard")
    assert (
        not allows("guard", "supervisor")
        and not allows("kiosk", "guard")
        and not allows("device", "guard")
    )


def test_report_day_is_local_and_dst_aware():
    start, end = day_bounds(date(2026, 11, 27), "Asia/Shanghai")
    assert start == datetime(2026, 11, 26, 16, 0, tzinfo=UTC) and end - start == timedelta(hours=24)
    start, end = day_bounds(date(2026, 3, 8), "America/New_York")  # spring forward
    assert end - start == timedelta(hours=23)
    empty = build_daily("s", date(2026, 11, 27), "UTC", [])
    assert empty.revenue_minor == 0 and empty.stats["average_stay_min"] is None


def test_migration_0002_matches_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from central.db.base import Base

    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    upgrade(engine)
    mine = {"users", "auth_sessions", "api_tokens", "audit_log", "alarms", "remote_commands"}
    assert mine <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diff if any(t in repr(d) for t in mine)]
    assert ours == [], ours
    engine.dispose()


@pytest.mark.postgres
def test_migration_0002_on_postgresql(pg_url):
    engine = make_engine(pg_url)
    upgrade(engine)
    assert {"users", "alarms", "audit_log", "remote_commands"} <= set(
        inspect(engine).get_table_names()
    )
    sessions = make_sessions(engine)
    with sessions() as db:
        store.apply(db, [Signal("raise", "s", "d", AlarmKind.CLOCK_SKEW, T0, {"skew_ms": 9000})])
        db.commit()
        assert store.listing(db, state="active")[0].first_at == T0
    engine.dispose()
