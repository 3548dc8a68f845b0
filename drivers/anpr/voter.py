"""Combine the reads of one vehicle's frames into one decision.

Each frame's read votes for its plate with its confidence; a no-read votes for nothing
but still counts as a frame seen. The decision is made once it is stable: the leading
plate has at least ``min_agree`` reads, carries at least ``min_share`` of all the
confidence cast, and no rival comes close. One bad frame, however confident, can
therefore never decide alone, and two different plates read with similar weight give no
decision at all (a tag moved to another truck is caught by the kiosk, not guessed here).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Decision:
    plate: str | None
    confidence: float  # the leader's share of all confidence cast
    frames: int  # frames fed, reads and no-reads
    reads: int  # frames that read the decided plate


@dataclass
class PlateVoter:
    """Feed one vehicle's reads with ``add``; ask ``decision()`` at any time."""

    min_agree: int = 2
    min_share: float = 0.7
    weights: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    frames: int = 0

    def __post_init__(self) -> None:
        if self.min_agree < 1:
            raise ValueError(f"min_agree: must be at least 1, got {self.min_agree}")
        if not 0.5 < self.min_share <= 1.0:
            raise ValueError(f"min_share: must be above 0.5 and at most 1, got {self.min_share}")

    def add(self, plate: str | None, confidence: float) -> None:
        """One frame's read (plate None for a no-read)."""
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence: must be within 0..1, got {confidence}")
        self.frames += 1
        if plate is None:
            return
        self.weights[plate] = self.weights.get(plate, 0.0) + confidence
        self.counts[plate] = self.counts.get(plate, 0) + 1

    def decision(self) -> Decision:
        """The stable plate, or a Decision with plate None while there is none."""
        if not self.weights:
            return Decision(None, 0.0, self.frames, 0)
        total = sum(self.weights.values())
        leader = max(self.weights, key=lambda p: (self.weights[p], self.counts[p]))
        share = self.weights[leader] / total if total > 0 else 0.0
        if self.counts[leader] >= self.min_agree and share >= self.min_share:
            return Decision(leader, share, self.frames, self.counts[leader])
        return Decision(None, share, self.frames, 0)

    def reset(self) -> None:
        """A new vehicle."""
        self.weights.clear()
        self.counts.clear()
        self.frames = 0
