"""What the engine reads (facts) and what it writes (verdicts with reasons), as plain data.

Facts are built from the store by ``central.risk.service``; keeping them separate from peewee
models lets the engine be replayed on a snapshot and benchmarked without a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum


class Verdict(IntEnum):
    """Numbers equal proto rocars.v1.Verdict; a larger number is stricter."""

    CLEAR = 1
    INSPECT = 2
    HOLD = 3

    @classmethod
    def parse(cls, text: str) -> Verdict:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown verdict {text!r} (expected clear, inspect or hold)") from None

    @property
    def label(self) -> str:
        return self.name.lower()


# Text fields of the Cap. 60L data set that keyword and pattern rules may look at.
TEXT_FIELDS: tuple[str, ...] = (
    "packages_description",
    "articles_description",
    "consignor_name",
    "consignor_address",
    "consignee_name",
    "consignee_address",
)

_NON_ALNUM = re.compile(r"[^0-9A-Z]+")


def normalise_name(text: str) -> str:
    """Case, punctuation and spacing differences must not defeat a watch list."""
    return _NON_ALNUM.sub(" ", text.upper()).strip()


def normalise_plate(text: str) -> str:
    return _NON_ALNUM.sub("", text.upper())


@dataclass(frozen=True, slots=True)
class History:
    """Inspection record of a company or driver: hits (discrepancies) versus clean inspections."""

    hits: int = 0
    clean: int = 0

    @property
    def inspections(self) -> int:
        return self.hits + self.clean


@dataclass(frozen=True, slots=True)
class ConsignmentFacts:
    ccrn: str
    company_id: int
    control_point: str
    direction: str  # "import" | "export"
    expected_at: datetime
    packages: int = 0
    packages_description: str = ""
    articles_description: str = ""
    consignor_name: str = ""
    consignor_address: str = ""
    consignee_name: str = ""
    consignee_address: str = ""
    hs_code: str = ""
    commodity: str = ""  # free category; defaults to the HS heading (4 digits) when empty
    declared_value: float | None = None
    gross_weight_kg: float | None = None
    amended_at: datetime | None = None  # last amendment, None if never amended
    company_seen: int = 0  # consignments this company submitted before this one
    company_history: History = History()
    transshipment: bool = False
    # Effective e-lock state for a transshipment consignment ("" when the lock never reported);
    # see central.risk.elock for how events fold into it.
    elock_state: str = ""

    @property
    def commodity_key(self) -> str:
        if self.commodity:
            return normalise_name(self.commodity)
        return self.hs_code[:4]


@dataclass(frozen=True, slots=True)
class TripFacts:
    trip_id: str  # stable public reference; the random draw is keyed on it
    control_point: str
    direction: str
    expected_at: datetime
    vehicle_plate: str
    driver_id: str
    driver_history: History = History()


@dataclass(frozen=True, slots=True)
class Reason:
    """One line of an explanation: which rule fired, on which field and value, for how much."""

    rule_id: str
    field: str
    value: str
    points: int
    detail: str = ""
    verdict: Verdict | None = None  # a floor the rule imposes regardless of points

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule_id": self.rule_id,
            "field": self.field,
            "value": self.value,
            "points": self.points,
            "detail": self.detail,
        }
        if self.verdict is not None:
            out["verdict"] = self.verdict.label
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Reason:
        verdict = data.get("verdict")
        return cls(
            rule_id=str(data["rule_id"]),
            field=str(data["field"]),
            value=str(data["value"]),
            points=int(data["points"]),  # type: ignore[call-overload]
            detail=str(data.get("detail", "")),
            verdict=Verdict.parse(str(verdict)) if verdict else None,
        )


@dataclass(frozen=True, slots=True)
class Assessment:
    """A verdict with its score and reasons, and the rule-set version that produced it."""

    verdict: Verdict
    score: int
    reasons: tuple[Reason, ...] = field(default_factory=tuple)
    rule_set_version: int = 0

    def reasons_as_dicts(self) -> list[dict[str, object]]:
        return [r.as_dict() for r in self.reasons]
