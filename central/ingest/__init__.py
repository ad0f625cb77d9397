"""Ingest: MQTT messages in, database rows out, acknowledged only after the commit.

- :mod:`central.ingest.worker` — one MQTT client + one database thread (batching, ack after commit)
- :mod:`central.ingest.batch` — one transaction: classify, store idempotently, fold, quarantine
- :mod:`central.ingest.gaps`, :mod:`.tickets`, :mod:`.occupancy`, :mod:`.devices`, :mod:`.quarantine`
- :mod:`central.ingest.hooks` — ``on_committed(report)`` listeners, called after each commit
- :mod:`central.ingest.housekeeping` — occupancy republish/sample/reconcile, time beacon
- :mod:`central.ingest.service` — the above built from settings, for ``gatepost central run``
"""
