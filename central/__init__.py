"""Gatepost central: ingest, storage, API, dashboard and visitor log.

Central never talks to hardware; it reaches devices only through MQTT and
imports nothing from ``edge`` but the wire contract (:mod:`edge.wire`).
"""
