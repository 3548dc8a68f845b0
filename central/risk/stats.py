"""What commodities and shippers usually declare: running mean and deviation per group.

Values are compared on a log scale because declared values and weights are heavy-tailed; a
consignment ten times the usual value and one a tenth of it are equally odd. Welford's update
keeps the figures exact without storing every sample, so the store can persist just
(count, mean, m2) per group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from central.risk.facts import ConsignmentFacts


@dataclass(slots=True)
class RunningStats:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    @property
    def stdev(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0


def metric_value(facts: ConsignmentFacts, metric: str) -> float | None:
    if metric == "declared_value":
        v = facts.declared_value
    elif metric == "gross_weight_kg":
        v = facts.gross_weight_kg
    else:  # value_per_kg
        if not facts.declared_value or not facts.gross_weight_kg:
            return None
        v = facts.declared_value / facts.gross_weight_kg
    if v is None or v <= 0:
        return None
    return v


def group_key(facts: ConsignmentFacts, group: str) -> str:
    return facts.commodity_key if group == "commodity" else str(facts.company_id)


METRICS = ("declared_value", "gross_weight_kg", "value_per_kg")
GROUPS = ("commodity", "shipper")


class AnomalyStats:
    """Per (metric, group kind, group key) running statistics of log(value)."""

    def __init__(self) -> None:
        self._table: dict[tuple[str, str, str], RunningStats] = {}

    def add(self, facts: ConsignmentFacts) -> None:
        for metric in METRICS:
            v = metric_value(facts, metric)
            if v is None:
                continue
            lv = math.log(v)
            for group in GROUPS:
                key = group_key(facts, group)
                if not key:
                    continue
                self._table.setdefault((metric, group, key), RunningStats()).add(lv)

    def get(self, metric: str, group: str, key: str) -> RunningStats | None:
        return self._table.get((metric, group, key))

    def put(self, metric: str, group: str, key: str, stats: RunningStats) -> None:
        self._table[(metric, group, key)] = stats

    def items(self) -> list[tuple[tuple[str, str, str], RunningStats]]:
        return list(self._table.items())

    def __len__(self) -> int:
        return len(self._table)
