"""Ack after commit: SIGKILL the ingest process mid-stream, restart it, nothing is lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from central.db.models import Event
from tests.central.ingest.conftest import arrived, count, quarantine_reasons, wait_until

N = 3000


def _spawn(db_url: str, port: int, log: Path) -> subprocess.Popen:
    env = os.environ | {
        "GATEPOST_DB_URL": db_url,
        "GATEPOST_BROKER_PORT": str(port),
        "GATEPOST_CLIENT_ID": "crash-test",
        "GATEPOST_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from edge.cli import main; main()",
            "--log-level",
            "WARNING",
            "central",
            "run",
            "--ingest-only",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def test_sigkill_mid_stream_loses_nothing(broker, engine, db_url, publisher, tmp_path):
    log = tmp_path / "ingest.log"
    proc = _spawn(db_url, broker.port, log)
    try:
        # Let it connect and create its persistent session (SUBACK) before the stream starts.
        probe = arrived("s1", "lane-1", 1)

        def probe_stored() -> bool:
            publisher.flush(
                [publisher.event(probe)]
            )  # resent until the process is subscribed; replays are harmless
            return count(engine) == 1

        wait_until(probe_stored, timeout=30, what="ingest process up")
        events = [arrived("s1", "lane-1", seq) for seq in range(2, N + 1)]
        infos: list = []

        def stream() -> None:
            # Paced like busy lanes (~1,500 events/s), so the kill lands mid-stream: all at
            # once, a fast ingest stored the lot before the test could kill it.
            for start in range(0, len(events), 150):
                infos.extend(publisher.event(e) for e in events[start : start + 150])
                time.sleep(0.1)

        lanes = threading.Thread(target=stream, name="lanes")
        lanes.start()
        wait_until(lambda: count(engine) > N // 5, timeout=60, what="part of the stream stored")
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: like a power cut
        proc.wait(10)
        stored_at_kill = count(engine)
        lanes.join(30)
        publisher.flush(infos, timeout=60)  # the broker queues the rest for the persistent session
        proc = _spawn(db_url, broker.port, log)
        wait_until(lambda: count(engine) == N, timeout=90, what="every event after restart")
        assert stored_at_kill < N, "the kill came too late to test anything"
        with engine.connect() as conn:
            seqs = conn.execute(
                select(
                    func.count(func.distinct(Event.seq)), func.min(Event.seq), func.max(Event.seq)
                )
            ).one()
        assert tuple(seqs) == (N, 1, N)
        assert quarantine_reasons(engine) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
