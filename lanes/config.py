"""Settings of one lane's clearance logic; every window is in seconds."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from lanes.errors import ConfigError
from lanes.records import Direction


@dataclass(frozen=True, slots=True)
class LaneConfig:
    lane_id: str
    control_point: str
    direction: Direction
    # Beyond this age of the local cache, only a trip already known `clear` is released.
    stale_limit_s: float = 900.0
    # A vehicle not decided this long after arriving is referred with what is known.
    identify_timeout_s: float = 60.0
    # After the plate is read, how long to keep waiting for the tag before using the plate.
    tag_wait_s: float = 2.0
    # After arrival, how long to wait for the camera before identifying by tag alone.
    plate_wait_s: float = 5.0
    # Reads this long before the arming loop still count (readers see a tag early).
    pre_arm_window_s: float = 3.0
    min_plate_confidence: float = 0.80
    # "Far outside its time slot": earlier than slot_start - early, later than slot_end + late.
    slot_early_s: float = 3600.0
    slot_late_s: float = 7200.0
    # All loops clear this long means the vehicle has gone (loop chatter is not a departure).
    vacate_s: float = 3.0
    # A barrier that has not reached its limit this long after a command is faulty
    # (0: the barrier reports no limits, so none is waited for).
    barrier_travel_s: float = 8.0

    def __post_init__(self) -> None:
        if not self.lane_id:
            raise ConfigError("lane.id: must not be empty")
        if not self.control_point:
            raise ConfigError("lane.control_point: must not be empty")
        try:
            Direction(self.direction)
        except ValueError as exc:
            raise ConfigError(
                f"lane.direction: must be 'import' or 'export', not {self.direction!r}") from exc
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_s") and not (isinstance(value, int | float) and value >= 0):
                raise ConfigError(f"lane.{f.name}: must be a number of seconds >= 0, not {value!r}")
        if not 0.0 <= self.min_plate_confidence <= 1.0:
            raise ConfigError(
                f"lane.min_plate_confidence: must be within 0..1, not {self.min_plate_confidence!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (str(getattr(self, f.name)) if f.name == "direction" else getattr(self, f.name))
                for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LaneConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"lane: unknown setting(s) {', '.join(unknown)}")
        for name in ("lane_id", "control_point", "direction"):
            if name not in data:
                raise ConfigError(f"lane.{name}: required")
        values = dict(data)
        try:
            values["direction"] = Direction(values["direction"])
        except ValueError as exc:
            raise ConfigError(
                f"lane.direction: must be 'import' or 'export', not {values['direction']!r}") from exc
        return cls(**values)
