"""Device time of an event, parsed once: ingest reads it for sorting, tickets and occupancy."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from edge.wire import Envelope, parse_ts

_parse = lru_cache(maxsize=8192)(parse_ts)


def event_time(envelope: Envelope) -> datetime:
    """``envelope.timestamp`` without re-parsing the same text within a batch."""
    return _parse(envelope.ts)
