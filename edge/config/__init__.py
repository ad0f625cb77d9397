"""Agent configuration: the lane/kiosk TOML file and the hardware profiles it names.

    from edge.config import load_config
    config = load_config("/etc/gatepost/lane.toml")   # raises ConfigFileError, never a traceback
    config.profile.board.pins.safety_loop.pin

Pure pydantic models and TOML reading; no hardware is touched here.
"""

from edge.config.load import (
    ConfigFileError,
    Problem,
    find_line,
    load_config,
    load_part,
    load_profile,
)
from edge.config.profile import (
    BadgeReaderProfile,
    BarrierProfile,
    BoardProfile,
    CardReaderProfile,
    DisplayProfile,
    HardwareProfile,
    InputPin,
    OutputPin,
    PinMap,
    PrinterProfile,
)
from edge.config.schema import AgentConfig

__all__ = [
    "AgentConfig",
    "BadgeReaderProfile",
    "BarrierProfile",
    "BoardProfile",
    "CardReaderProfile",
    "ConfigFileError",
    "DisplayProfile",
    "HardwareProfile",
    "InputPin",
    "OutputPin",
    "PinMap",
    "PrinterProfile",
    "Problem",
    "find_line",
    "load_config",
    "load_part",
    "load_profile",
]
