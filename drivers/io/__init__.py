"""Lane I/O module on RS-485 (Modbus RTU): barrier, traffic light, inspection sign, loops."""

from drivers.io.module import InputChanged, IoEvent, LaneIO, SafetyLoopOccupied, WatchdogFellBack

__all__ = ["InputChanged", "IoEvent", "LaneIO", "SafetyLoopOccupied", "WatchdogFellBack"]
