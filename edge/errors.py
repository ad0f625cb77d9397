"""One exception root for Gatepost, with leaves that also inherit a built-in.

Catching ``GatepostError`` catches everything the project raises on purpose;
catching ``ValueError`` still works for code that only knows the built-ins.
"""

from __future__ import annotations


class GatepostError(Exception):
    """Root of every error Gatepost raises deliberately."""


class ConfigError(GatepostError, ValueError):
    """A configuration file or value is invalid.

    ``source`` names the file (and line, where known) so the installer can fix
    it without a traceback.
    """

    def __init__(self, message: str, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class TariffError(ConfigError):
    """A tariff is invalid (negative price, overlapping bands, unknown zone…)."""


class QuoteError(GatepostError, ValueError):
    """A fee cannot be quoted for these inputs (exit before entry, unknown class)."""


class FrameError(GatepostError, ValueError):
    """A serial frame from a device is malformed (checksum, length, preamble)."""


class DeviceTimeout(GatepostError, TimeoutError):
    """A device did not answer in time."""


class DeviceError(GatepostError, IOError):
    """A device answered with an error status or vanished."""


class TicketRejected(GatepostError, ValueError):
    """A ticket failed verification; ``reason`` is one of :class:`edge.wire.RejectReason`."""

    def __init__(self, reason: str, detail: str = "", serial: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.serial = serial
        """The ticket's serial when it could be read (forged, wrong site, unknown key), for the event."""
        super().__init__(f"ticket rejected: {reason}" + (f" ({detail})" if detail else ""))


class BarrierFault(GatepostError, RuntimeError):
    """The barrier did not reach its commanded position in time."""


class PayloadError(GatepostError, ValueError):
    """An MQTT payload does not satisfy the wire contract."""


class OutboxFull(GatepostError, RuntimeError):
    """The outbox refused a droppable event because it is at its bound."""


class StorageFault(GatepostError, OSError):
    """A local store could not be written (disk full, read-only, I/O error, corrupt database).

    Safety comes before bookkeeping (DESIGN.md §4): a lane that gets this keeps
    closing its barrier, holds the event in memory and stops starting transits
    it cannot record, until storage recovers.
    """
