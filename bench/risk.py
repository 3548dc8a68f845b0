"""Benchmark of the risk engine: score a synthetic population, then re-score it after a rule change.

Runs with no arguments: ``.venv/bin/python bench/risk.py``. Population: 100,000 consignments
from 2,000 companies over 200 rules of every kind (keywords, patterns, watch lists, HS and
commodity tables, anomalies, new shipper, routes, late amendments, history, random).
Targets: >= 5,000 consignments/s on one core; a full re-score of 100,000 within 30 s.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from central.risk.engine import CompiledRules
from central.risk.facts import ConsignmentFacts, History, TripFacts, Verdict
from central.risk.rules import RuleSet, RuleSpec, Thresholds
from central.risk.stats import AnomalyStats

N_CONSIGNMENTS = 100_000
N_COMPANIES = 2_000
N_RULES = 200
N_DB = 100_000  # consignments taken through the store (SQLite) as well
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
KEY = b"bench-selection-key-0123456789abcdef"
WORDS = [
    "cotton",
    "shirts",
    "garments",
    "shoes",
    "toys",
    "plastic",
    "parts",
    "electronic",
    "components",
    "mobile",
    "phones",
    "batteries",
    "furniture",
    "wooden",
    "chairs",
    "frozen",
    "meat",
    "seafood",
    "fruit",
    "vegetables",
    "paper",
    "cartons",
    "machinery",
    "spare",
    "textiles",
    "fabric",
    "yarn",
    "steel",
    "pipes",
    "cables",
    "lamps",
    "cosmetics",
    "watches",
    "handbags",
    "medicine",
    "tea",
    "wine",
]
RISKY = [
    "ivory",
    "pangolin",
    "scales",
    "shark",
    "fin",
    "cigarettes",
    "counterfeit",
    "rhino",
    "horn",
    "ketamine",
    "cannabis",
]
CPS = ("LMC", "SKW", "MKT", "LWS", "HYW")


def build_rules(rng: random.Random, companies: list[str], tag: str = "") -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []

    def add(kind: str, points: int, params: dict[str, Any], **extra: Any) -> None:
        rules.append(
            {
                "id": f"{kind[:3].upper()}-{len(rules):03d}{tag}",
                "kind": kind,
                "owner": "bench",
                "points": points,
                "params": params,
                **extra,
            }
        )

    for i in range(80):
        # Mostly rare terms (as real keyword lists are), some phrases built on common words.
        kws = [rng.choice(RISKY) + (f" {rng.choice(WORDS)}" if i % 5 == 0 else "") for _ in range(2)]
        kws += [f"term{rng.randrange(5000)}" for _ in range(8)]
        add(
            "keyword",
            rng.randint(10, 60),
            {"keywords": kws, "fields": ["articles_description", "packages_description"]},
        )
    for _ in range(30):
        w = rng.choice(RISKY + WORDS)
        add(
            "pattern",
            rng.randint(10, 60),
            {"pattern": rf"\b{w[:4]}\w*\s+\d+", "fields": ["articles_description"]},
        )
    for _ in range(20):
        entries = rng.sample(companies, 2)
        add("watchlist", 80, {"field": "consignor", "entries": entries}, verdict="inspect")
    for _ in range(10):
        add(
            "watchlist",
            0,
            {"field": "vehicle", "entries": [f"FU{rng.randint(1, 9999)}" for _ in range(30)]},
            verdict="hold",
        )
    for _ in range(15):
        add(
            "table",
            0,
            {
                "field": "hs_code",
                "entries": {f"{rng.randint(10, 97)}{rng.randint(0, 99):02d}": 30 for _ in range(40)},
            },
        )
    for _ in range(5):
        add("table", 0, {"field": "commodity", "entries": {"TOBACCO": 40, "PRECIOUS STONES": 50}})
    for metric in ("declared_value", "gross_weight_kg", "value_per_kg"):
        for group in ("commodity", "shipper"):
            add("anomaly", 35, {"metric": metric, "group": group, "z": 4.0, "min_samples": 10})
    for _ in range(2):
        add("new_shipper", 20, {"max_seen": 3})
    for _ in range(10):
        add(
            "route",
            10,
            {"control_points": [rng.choice(CPS)], "directions": [rng.choice(["import", "export"])]},
        )
    for _ in range(2):
        add("late_amendment", 20, {"within_minutes": 60})
    add("history", 0, {"subject": "company", "weight": 100, "baseline": 0.05})
    add("history", 0, {"subject": "driver", "weight": 100, "baseline": 0.05})
    while len(rules) < N_RULES - 1:
        add("keyword", 15, {"keywords": [rng.choice(RISKY)]})
    add("random", 0, {"rates": {cp: 0.02 for cp in CPS}, "default_rate": 0.01}, verdict="inspect")
    return rules


def build_population(rng: random.Random) -> tuple[list[str], list[ConsignmentFacts]]:
    companies = [f"Company {i} Trading Ltd" for i in range(N_COMPANIES)]
    histories = [History(rng.randint(0, 2), rng.randint(0, 20)) for _ in range(N_COMPANIES)]
    seen = [0] * N_COMPANIES
    out = []
    for i in range(N_CONSIGNMENTS):
        c = rng.randrange(N_COMPANIES)
        seen[c] += 1
        words = rng.sample(WORDS, 4) + ([rng.choice(RISKY)] if rng.random() < 0.01 else [])
        hs = f"{rng.randint(10, 97)}{rng.randint(0, 99):02d}{rng.randint(0, 99):02d}"
        weight = rng.lognormvariate(5, 1)
        out.append(
            ConsignmentFacts(
                ccrn=f"C{i:09d}",
                company_id=c,
                control_point=rng.choice(CPS),
                direction=rng.choice(("import", "export")),
                expected_at=T0 + timedelta(minutes=i % 5000),
                packages=rng.randint(1, 500),
                packages_description=f"{rng.randint(1, 500)} cartons",
                articles_description=" ".join(words) + f" {rng.randint(1, 999)}",
                consignor_name=companies[c],
                consignor_address=f"{c} Industrial Road, Shenzhen",
                consignee_name=rng.choice(companies),
                consignee_address="1 Queen's Road, Hong Kong",
                hs_code=hs,
                declared_value=weight * rng.lognormvariate(3, 0.5),
                gross_weight_kg=weight,
                amended_at=T0 + timedelta(minutes=i % 5000 - rng.randint(10, 600)) if i % 10 == 0 else None,
                company_seen=seen[c] - 1,
                company_history=histories[c],
            )
        )
    return companies, out


def score_all(
    engine: CompiledRules, population: list[ConsignmentFacts], stats: AnomalyStats
) -> tuple[float, dict[int, int]]:
    counts = {v.value: 0 for v in Verdict}
    start = time.process_time()
    assess = engine.assess_consignment
    for f in population:
        counts[assess(f, stats).verdict.value] += 1
    return time.process_time() - start, counts


def db_path(
    rules_data: list[dict[str, Any]], population: list[ConsignmentFacts], companies: list[str]
) -> dict[str, float]:
    """The same population through the store: consignments in SQLite, profiled by the service
    (assessments kept, verdict changes written to the change log), then a rule change and a
    full re-score, as an officer's ChangeRules call does."""
    import tempfile

    import peewee

    from central.clock import SettableClock
    from central.risk import profiling, rulestore, runtime
    from central.store import models as m
    from central.store.schema import init_database

    n = min(N_DB, len(population))
    with tempfile.TemporaryDirectory() as tmp:
        db = init_database(f"sqlite:///{tmp}/bench.db")
        rt = runtime.configure(SettableClock(T0 - timedelta(days=1)), runtime.RiskKeys(KEY, KEY[::-1]))
        now = (T0 - timedelta(days=1)).replace(tzinfo=None)
        with db.atomic():
            cps = {code: m.ControlPoint.create(code=code, name=code).id for code in CPS}
            rows = [
                dict(
                    kind=1,
                    brn=f"B{i:08d}",
                    name=name,
                    address="x",
                    contact_name="x",
                    contact_phone="x",
                    created_at=now,
                )
                for i, name in enumerate(companies)
            ]
            for chunk in peewee.chunked(rows, 200):
                m.Company.insert_many(chunk).execute()
            company: Any = m.Company
            ids = [c for (c,) in company.select(company.id).order_by(company.id).tuples()]
            crow = []
            for i, f in enumerate(population[:n]):
                crow.append(
                    dict(
                        ccrn=f.ccrn,
                        company=ids[f.company_id],
                        idempotency_key=f"k{i}",
                        direction=1 if f.direction == "import" else 2,
                        control_point=cps[f.control_point],
                        status=1,
                        version=1,
                        packages_count=f.packages,
                        package_description=f.packages_description,
                        article_description=f.articles_description,
                        consignor_name=f.consignor_name,
                        consignor_address=f.consignor_address,
                        consignee_name=f.consignee_name,
                        consignee_address=f.consignee_address,
                        expected_at=f.expected_at.replace(tzinfo=None),
                        hs_code=f.hs_code,
                        declared_value=round(f.declared_value or 0, 2),
                        gross_weight_kg=round(f.gross_weight_kg or 0, 3),
                        created_at=now + timedelta(seconds=i),
                        updated_at=now + timedelta(seconds=i),
                    )
                )
            for chunk in peewee.chunked(crow, 100):
                m.Consignment.insert_many(chunk).execute()
        rulestore.change(rulestore.RuleChange(put=rules_data), "bench", rt.clock.now(), KEY, KEY[::-1])
        cpu = time.process_time()
        profiling.rescore_open()
        first_cpu = time.process_time() - cpu
        rulestore.change(
            rulestore.RuleChange(
                put=[
                    {
                        "id": "KW-NEW",
                        "kind": "keyword",
                        "owner": "bench",
                        "points": 60,
                        "params": {"keywords": ["mobile phones"]},
                    }
                ]
            ),
            "bench",
            rt.clock.now(),
            KEY,
            KEY[::-1],
        )
        cpu = time.process_time()
        again = profiling.rescore_open()
        again_cpu = time.process_time() - cpu
        db.close()
    return {
        "n": n,
        "first_s": first_cpu,
        "db_per_s": n / first_cpu,
        "rescore_s": again_cpu,
        "rescore_wall_s": again.seconds,
        "changed": again.changed,
    }


def main() -> None:
    rng = random.Random(20261129)
    t = time.process_time()
    companies, population = build_population(rng)
    stats = AnomalyStats()
    for f in population:
        stats.add(f)
    build_s = time.process_time() - t
    rules_data = build_rules(rng, companies)
    t = time.process_time()
    specs = tuple(RuleSpec.from_dict(r) for r in rules_data)
    engine = CompiledRules(RuleSet(specs, Thresholds(50, 150), version=1), KEY)
    compile_s = time.process_time() - t

    score_s, counts = score_all(engine, population, stats)

    # A rule change: one new keyword rule and a changed HS table; the whole set is re-validated,
    # re-compiled and every consignment re-scored (what the service does after a change).
    t = time.process_time()
    changed = [
        *rules_data,
        {
            "id": "KW-NEW",
            "kind": "keyword",
            "owner": "bench",
            "points": 60,
            "params": {"keywords": ["mobile phones"]},
        },
    ]
    specs2 = tuple(RuleSpec.from_dict(r) for r in changed)
    engine2 = CompiledRules(RuleSet(specs2, Thresholds(50, 150), version=2), KEY)
    rescore_body_s, counts2 = score_all(engine2, population, stats)
    rescore_s = time.process_time() - t

    trips = [
        TripFacts(f"T{i:08d}", CPS[i % 5], "import", T0, f"FU{i % 9999 + 1}", f"D{i % 5000}")
        for i in range(20_000)
    ]
    t = time.process_time()
    for tr in trips:
        engine.assess_trip(tr, [])
    trip_s = time.process_time() - t

    db = db_path(rules_data, population, companies)

    cps = N_CONSIGNMENTS / score_s
    rows = [
        ("population built (+ anomaly stats)", f"{build_s:.2f} s"),
        ("rules validated + compiled", f"{len(specs)} rules in {compile_s * 1000:.1f} ms"),
        ("score 100,000 consignments", f"{score_s:.2f} s = {cps:,.0f} /s (target >= 5,000 /s)"),
        ("verdicts clear/inspect/hold", "/".join(str(counts[v.value]) for v in Verdict)),
        ("re-score after rule change", f"{rescore_s:.2f} s (target <= 30 s)"),
        ("verdicts after change", "/".join(str(counts2[v.value]) for v in Verdict)),
        ("trip-level assessments", f"{len(trips) / trip_s:,.0f} trips/s"),
        (
            f"DB path (SQLite): first profile of {db['n']:,}",
            f"{db['first_s']:.2f} s = {db['db_per_s']:,.0f} /s",
        ),
        (
            "DB path: rule change + full re-score",
            f"{db['rescore_s']:.2f} s ({db['changed']} verdict changes)",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print("ROCARS risk benchmark: times are CPU seconds of this one process (one core; the machine is")
    print("shared, so wall time can be longer); the DB path also gives its wall time")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(
        json.dumps(
            {
                "consignments": N_CONSIGNMENTS,
                "companies": N_COMPANIES,
                "rules": len(specs),
                "consignments_per_s": round(cps),
                "rescore_s": round(rescore_s, 3),
                "rescore_scoring_s": round(rescore_body_s, 3),
                "compile_ms": round(compile_s * 1000, 1),
                "trips_per_s": round(len(trips) / trip_s),
                "inspect_rate": round(counts[Verdict.INSPECT.value] / N_CONSIGNMENTS, 4),
                "hold_rate": round(counts[Verdict.HOLD.value] / N_CONSIGNMENTS, 4),
                "db_consignments": db["n"],
                "db_consignments_per_s": round(db["db_per_s"]),
                "db_rescore_s": round(db["rescore_s"], 3),
                "db_rescore_wall_s": round(db["rescore_wall_s"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
