"""The PN532's register space as ReadRegister/WriteRegister see it (user manual §7.2.4–7.2.5).

Host drivers such as nfcpy program the contactless interface unit (CIU, a
PN512 inside the PN532, registers ``6301``–``633F``) directly: they read
``CIU_RxMode`` and clear its RxCRCEn bit so that a Type 2 tag's 4-bit ACK is
handed up instead of being reported as a CRC error, and they read
``CIU_FIFOData`` after a failed listing to see whether any card answered.
This file keeps those registers with the meaning the emulator gives them;
every other address reads back what was last written (00 at power-up).
"""

from __future__ import annotations

from collections import deque

CIU_TX_MODE = 0x6302
CIU_RX_MODE = 0x6303
CIU_TX_CONTROL = 0x6304
CIU_TX_AUTO = 0x6305
CIU_FIFO_DATA = 0x6339
CIU_FIFO_LEVEL = 0x633A

CRC_EN = 0x80  # TxMode/RxMode bit 7: the CIU appends / checks and strips CRC_A
TX_RF_EN = 0x03  # TxControl bits 0–1: the antenna drivers, i.e. the RF field
FORCE_100_ASK = 0x40  # TxAuto bit 6: type A modulation
FIFO_FLUSH = 0x80  # FIFOLevel bit 7 written: empty the FIFO
FIFO_SIZE = 64
SENS_REQ = 0x26  # REQA: left in the FIFO when no card answered a listing


class Registers:
    """Register file with the CIU's FIFO; addresses are 16-bit, values bytes."""

    def __init__(self) -> None:
        self._values: dict[int, int] = {
            CIU_TX_MODE: CRC_EN,
            CIU_RX_MODE: CRC_EN,
            CIU_TX_CONTROL: 0x80,
            CIU_TX_AUTO: FORCE_100_ASK,
        }
        self._fifo: deque[int] = deque(maxlen=FIFO_SIZE)

    def read(self, address: int) -> int:
        """ReadRegister of one address; reading FIFOData takes a byte out of the FIFO."""
        if address == CIU_FIFO_DATA:
            return self._fifo.popleft() if self._fifo else 0x00
        if address == CIU_FIFO_LEVEL:
            return len(self._fifo)
        return self._values.get(address, 0x00)

    def write(self, address: int, value: int) -> None:
        """WriteRegister of one address; FIFOData appends, FIFOLevel bit 7 flushes."""
        if address == CIU_FIFO_DATA:
            self._fifo.append(value)
        elif address == CIU_FIFO_LEVEL:
            if value & FIFO_FLUSH:
                self._fifo.clear()
        else:
            self._values[address] = value & 0xFF

    def flag(self, address: int, mask: int) -> bool:
        """True when any bit of ``mask`` is set in the register at ``address``."""
        return bool(self._values.get(address, 0x00) & mask)

    def set_bits(self, address: int, mask: int, on: bool) -> None:
        """Set or clear the bits of ``mask`` (the firmware doing it, not the host)."""
        value = self._values.get(address, 0x00)
        self._values[address] = value | mask if on else value & ~mask & 0xFF

    def load_fifo(self, data: bytes) -> None:
        """Replace the FIFO contents (what the CIU last sent or received)."""
        self._fifo.clear()
        self._fifo.extend(data)

    def configure_type_a(self) -> None:
        """What the firmware sets before a 106 kbps type A listing: CRC on both ways, 100 % ASK."""
        self._values[CIU_TX_MODE] = CRC_EN
        self._values[CIU_RX_MODE] = CRC_EN
        self.set_bits(CIU_TX_AUTO, FORCE_100_ASK, True)
