"""The gate lane: entry (进车写卡) and exit (出车验卡收费).

- :mod:`edge.lane.machine` — the pure state machine (inputs in, effects out; takes a clock)
- :mod:`edge.lane.inputs`, :mod:`edge.lane.effects` — its vocabulary
- :mod:`edge.lane.lane` — the service wiring the machine to barrier, loops, readers and outbox
- :mod:`edge.lane.ports` — the small interfaces the service talks to
- :mod:`edge.lane.assemble` — a lane's parts from its hardware profile (real or simulated)
- :mod:`edge.lane.api` — the booth console's local HTTP API
- :mod:`edge.lane.occupancy`, :mod:`edge.lane.used_tickets`, :mod:`edge.lane.payments`,
  :mod:`edge.lane.codec`, :mod:`edge.lane.messages` — local count, local state, payment
  port, bound ticket keys, person-facing texts (zh-CN / English)
"""
