"""Commands from central: acted on once, never when retained, expired, repeated or malformed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from edge.link.commands import CommandHandler
from edge.link.mqtt import MqttLink
from edge.wire import Command, CommandName, cmd_result_topic, cmd_topic, format_ts
from tests.link.helpers import Collector, publish, wait_until

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
RESULTS = cmd_result_topic("site-a", "lane-1")


def command(request_id: str, name: str = "raise", *, expires_in: float = 60, **args) -> bytes:
    if name == "raise" and not args:
        args = {"reason": "guard asked by phone"}
    doc = Command(
        id=request_id,
        name=CommandName(name),
        issued_at=format_ts(NOW),
        expires_at=format_ts(NOW + timedelta(seconds=expires_in)),
        by="supervisor",
        args=args,
    )
    return doc.model_dump_json().encode()


@pytest.fixture
def lane(broker, tmp_path):
    """A device link with a command handler whose barrier raise is counted."""
    clock = [NOW]
    link = MqttLink("site-a", "lane-1", host="127.0.0.1", port=broker.port)
    handler = CommandHandler(
        link, "site-a", "lane-1", tmp_path / "state.db", clock=lambda: clock[0]
    )
    raises: list[Command] = []

    def do_raise(cmd: Command) -> tuple[bool, str]:
        raises.append(cmd)
        return True, "barrier raised"

    def broken(cmd: Command) -> tuple[bool, str]:
        raise RuntimeError("relay driver bug")

    handler.on("raise", do_raise)
    handler.on(CommandName.SET_CAPACITY, broken)
    handler.start()
    results = Collector(broker.port, RESULTS).start()
    link.start()
    assert link.connected.wait(15)
    yield link, handler, raises, results, clock
    results.stop()
    link.stop()
    handler.close()


def send(broker, name: str, payload: bytes, **kw) -> None:
    publish(broker.port, cmd_topic("site-a", "lane-1", name), payload, **kw)


def result(results: Collector, n: int) -> dict:
    msgs = results.wait_for(n, 15)
    assert len(msgs) >= n, f"only {len(msgs)} results"
    return json.loads(msgs[n - 1].payload)


def test_a_valid_command_is_acted_on_once_and_answered(broker, lane):
    _, handler, raises, results, _ = lane
    send(broker, "raise", command("req-00001"))
    answer = result(results, 1)
    assert answer["id"] == "req-00001" and answer["status"] == "done" and answer["ok"] is True
    assert answer["detail"] == "barrier raised"
    assert [c.id for c in raises] == ["req-00001"]
    send(broker, "raise", command("req-00001"))  # the same request again
    assert result(results, 2)["status"] == "duplicate"
    assert len(raises) == 1
    assert handler.status_of("req-00001") == "done"


def test_a_retained_command_is_never_acted_on(broker, tmp_path):
    send(broker, "raise", command("req-retained"), retain=True)  # left on the broker
    link = MqttLink("site-a", "lane-1", host="127.0.0.1", port=broker.port)
    handler = CommandHandler(link, "site-a", "lane-1", tmp_path / "state.db", clock=lambda: NOW)
    raises = []
    handler.on("raise", lambda c: (raises.append(c), (True, ""))[1])
    results = Collector(broker.port, RESULTS).start()
    handler.start()
    link.start()
    try:
        answer = result(results, 1)
        assert answer["status"] == "retained" and answer["ok"] is False
        assert raises == []
    finally:
        results.stop()
        link.stop()
        handler.close()


def test_an_expired_command_is_refused(broker, lane):
    _, _, raises, results, clock = lane
    clock[0] = NOW + timedelta(minutes=5)
    send(broker, "raise", command("req-late01", expires_in=60))
    answer = result(results, 1)
    assert answer["status"] == "expired" and raises == []


@pytest.mark.parametrize(
    "name, payload",
    [
        ("raise", b"{not json"),
        ("raise", b'{"id": "req-bad001", "name": "raise"}'),  # fields missing
        ("raise", command("req-bad002", "raise", reason="")),  # empty reason
        ("set_capacity", command("req-bad003", "raise")),  # topic and payload disagree
        ("open_all", b"{}"),
    ],
)
def test_malformed_commands_are_answered_invalid(broker, lane, name, payload):
    _, _, raises, results, _ = lane
    send(broker, name, payload)
    answer = result(results, 1)
    assert answer["status"] == "invalid" and not answer["ok"]
    assert raises == []


def test_unsupported_and_failing_commands_are_refused_not_crashed(broker, lane):
    _, _, raises, results, _ = lane
    send(broker, "reload_tariff", command("req-nosup1", "reload_tariff"))
    assert result(results, 1)["status"] == "refused"
    send(broker, "set_capacity", command("req-crash1", "set_capacity", capacity=120))
    answer = result(results, 2)
    assert answer["status"] == "refused" and "RuntimeError" in answer["detail"]
    send(broker, "raise", command("req-after1"))  # the link still works
    assert result(results, 3)["status"] == "done" and len(raises) == 1


def test_seen_ids_survive_a_restart(broker, lane, tmp_path):
    link, handler, raises, results, _ = lane
    send(broker, "raise", command("req-boot01"))
    assert result(results, 1)["status"] == "done"
    link.stop()
    handler.close()
    # The lane reboots; a replay of the same request reaches it again.
    again = CommandHandler(link, "site-a", "lane-1", tmp_path / "state.db", clock=lambda: NOW)
    again.on("raise", lambda c: (raises.append(c), (True, ""))[1])
    answer = again.handle(cmd_topic("site-a", "lane-1", "raise"), command("req-boot01"), False)
    assert answer.status == "duplicate" and len(raises) == 1
    again.close()


def test_commands_queued_while_offline_arrive_after_reconnect(broker, lane):
    link, _, raises, results, _ = lane
    link.stop()  # clean stop keeps the persistent session at the broker
    send(broker, "raise", command("req-queue1"))
    link.start()
    assert wait_until(lambda: len(raises) == 1, 10)
    assert result(results, 1)["status"] == "done"
