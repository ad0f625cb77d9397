"""Gatepost edge agent: the software on each lane and kiosk Raspberry Pi.

Only :mod:`edge.wire` (the MQTT wire contract) and :mod:`edge.errors` are
imported by central; everything else here may need the ``edge`` extra
(gpiozero, pyserial, OpenCV).
"""

__version__ = "0.1.0"
