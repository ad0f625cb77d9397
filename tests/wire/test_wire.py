"""The wire contract: topics, envelope, payload validation, commands, site config."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge import wire
from edge.errors import PayloadError
from edge.wire import EventType


def _ticket_issued() -> wire.TicketIssued:
    return wire.TicketIssued(
        serial="A1B2C3",
        entry_at="2026-11-26T08:00:00.000Z",
        vehicle_class="car",
        medium="card",
        key_id=1,
    )


def test_topics_are_built_and_parsed_back():
    topic = wire.event_topic("site-a", "lane-1", EventType.TICKET_ISSUED)
    assert topic == "gatepost/v1/site-a/lane-1/event/ticket_issued"
    assert wire.parse_topic(topic) == wire.TopicParts("site-a", "lane-1", "event", "ticket_issued")
    assert wire.parse_topic(wire.config_topic("site-a", "tariff")).kind == "config"
    assert wire.parse_topic(wire.status_topic("site-a", "lane-1")).kind == "status"
    assert wire.parse_topic(wire.cmd_topic("site-a", "lane-1", "raise")).name == "raise"


@pytest.mark.parametrize("bad", ["", "Site", "a/b", "a+b", "#", "x" * 49, "lane 1"])
def test_ids_that_would_break_topics_are_refused(bad):
    with pytest.raises(PayloadError):
        wire.device_prefix(bad, "lane-1")


@pytest.mark.parametrize(
    "topic",
    ["other/v1/a/b/status", "gatepost/v1/a", "gatepost/v1/a/b/event", "gatepost/v1/a/b/x/y/z"],
)
def test_foreign_topics_are_refused(topic):
    with pytest.raises(PayloadError):
        wire.parse_topic(topic)


def test_envelope_round_trip():
    env = wire.make_event("site-a", "lane-1", 7, _ticket_issued(), EventType.TICKET_ISSUED)
    parsed, data = wire.parse_event(env_topic(env), env.to_json())
    assert parsed == env and data == _ticket_issued()
    assert parsed.ts.endswith("Z") and len(parsed.ts) == len("2026-11-26T08:00:00.000Z")


def env_topic(env: wire.Envelope) -> str:
    return wire.event_topic(env.site, env.device, env.type)


def test_make_event_refuses_a_payload_of_another_type():
    with pytest.raises(PayloadError):
        wire.make_event("s", "d", 1, _ticket_issued(), EventType.FEE_QUOTED)


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda d: d.update(site="site-b"), "topic says"),
        (lambda d: d.update(seq="seven"), "seq"),
        (lambda d: d.update(seq=0), "seq"),
        (lambda d: d.update(ts="2026-11-26 08:00"), "ts"),
        (lambda d: d.update(type="ticket_eaten"), "type"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d["data"].update(medium="stone"), "medium"),
        (lambda d: d["data"].pop("serial"), "serial"),
    ],
)
def test_envelope_violations_name_their_reason(mutate, reason):
    env = wire.make_event("site-a", "lane-1", 7, _ticket_issued(), EventType.TICKET_ISSUED)
    doc = json.loads(env.to_json())
    mutate(doc)
    with pytest.raises(PayloadError, match=reason):
        wire.parse_event(env_topic(env), json.dumps(doc).encode())


def test_oversized_and_non_json_payloads_are_refused():
    topic = wire.event_topic("s", "d", "ticket_issued")
    with pytest.raises(PayloadError, match="too large"):
        wire.parse_event(topic, b"{" + b" " * wire.MAX_PAYLOAD_BYTES + b"}")
    for junk in (b"\xff\xfe", b"[1,2]", b"null", b"{", b""):
        with pytest.raises(PayloadError):
            wire.parse_event(topic, junk)


@given(st.binary(max_size=300))
def test_no_bytes_crash_the_event_parser(payload):
    with contextlib.suppress(PayloadError):
        wire.parse_event("gatepost/v1/s/d/event/ticket_issued", payload)


def test_uuid7_is_time_ordered_and_unique():
    ids = [wire.uuid7(now_ms=1_700_000_000_000 + i) for i in range(200)]
    assert ids == sorted(ids) and len(set(ids)) == 200
    assert all(i[14] == "7" for i in ids)


def test_timestamps_are_utc_with_milliseconds():
    moment = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    text = wire.format_ts(moment)
    assert text == "2026-03-28T17:30:00.123Z"
    assert wire.parse_ts(text) == moment.replace(microsecond=123000)
    with pytest.raises(ValueError):
        wire.format_ts(datetime(2026, 1, 1))


def _command(**overrides) -> bytes:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    doc = {
        "v": 1,
        "id": "req-0001",
        "name": "raise",
        "by": "supervisor",
        "issued_at": wire.format_ts(now),
        "expires_at": wire.format_ts(now + timedelta(seconds=30)),
        "args": {"reason": "ambulance"},
    }
    doc.update(overrides)
    return json.dumps(doc).encode()


def test_commands_are_validated_against_topic_and_args():
    topic = wire.cmd_topic("s", "d", "raise")
    cmd = wire.parse_command(topic, _command(), retained=False)
    assert cmd.name == wire.CommandName.RAISE
    assert not cmd.expired(datetime(2026, 11, 26, 0, 0, 10, tzinfo=UTC))
    assert cmd.expired(datetime(2026, 11, 26, 0, 1, tzinfo=UTC))
    with pytest.raises(PayloadError, match="reason"):
        wire.parse_command(topic, _command(args={"reason": ""}), retained=False)
    with pytest.raises(PayloadError, match="topic command"):
        wire.parse_command(wire.cmd_topic("s", "d", "set_capacity"), _command(), retained=False)
    with pytest.raises(PayloadError, match="takes no args"):
        wire.parse_command(
            wire.cmd_topic("s", "d", "reload_tariff"),
            _command(name="reload_tariff"),
            retained=False,
        )


def test_site_config_is_validated_by_kind():
    doc = {
        "v": 1,
        "kind": "capacity",
        "version": 3,
        "ts": "2026-11-26T00:00:00.000Z",
        "data": {"capacity": 120, "reserved": 10},
    }
    parsed = wire.parse_site_config(wire.config_topic("s", "capacity"), json.dumps(doc).encode())
    assert parsed.version == 3
    doc["data"]["capacity"] = -1
    with pytest.raises(PayloadError, match="capacity"):
        wire.parse_site_config(wire.config_topic("s", "capacity"), json.dumps(doc).encode())
    with pytest.raises(PayloadError, match="kind"):
        wire.parse_site_config(wire.config_topic("s", "whitelist"), json.dumps(doc).encode())


def test_config_versions_are_central_time_and_never_go_back():
    """A restored database holds old versions; a new document still outranks everything published since."""
    now = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    ms = int(now.timestamp() * 1000)
    assert wire.config_version(now) == ms
    assert (
        wire.config_version(now, 608) == ms
    )  # an old counter value (or a restored one) is left behind
    assert wire.config_version(now, ms) == ms + 1  # two documents in one millisecond stay apart
    published_before_restore = wire.config_version(now - timedelta(hours=3), 5)
    restored_row = wire.config_version(now - timedelta(days=1))
    assert wire.config_version(now, restored_row) > published_before_restore
