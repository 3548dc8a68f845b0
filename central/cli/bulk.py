"""Bulk submission of consignments from CSV or JSON lines.

Each row is one ``SubmitConsignment`` call, atomic on the server: a good row is
accepted whole, a bad row is refused whole, and no row depends on another. Every row
gets an idempotency key derived from its content (and how many identical rows came
before it), so running the same file again, or the file with its bad rows fixed,
returns the CCRNs already issued instead of filing duplicates.

Columns (CSV header or JSON keys): control_point, direction, packages_count,
package_description, article_description, consignor_name, consignor_address,
consignee_name, consignee_address, expected_at; optional: gross_weight_kg,
declared_value, currency, hs_code, container_numbers, seal_numbers (separated by
``;``), transshipment (true/false), elock_id, transshipment_route, idempotency_key.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from central.api.convert import ts_of
from central.cli.client import CliError, describe_error, enum_value, parse_time
from proto.rocars.v1 import cargo_pb2, common_pb2

REQUIRED = (
    "control_point",
    "direction",
    "packages_count",
    "package_description",
    "article_description",
    "consignor_name",
    "consignor_address",
    "consignee_name",
    "consignee_address",
    "expected_at",
)
OPTIONAL = (
    "gross_weight_kg",
    "declared_value",
    "currency",
    "hs_code",
    "container_numbers",
    "seal_numbers",
    "transshipment",
    "elock_id",
    "transshipment_route",
    "idempotency_key",
)
KNOWN = frozenset(REQUIRED + OPTIONAL)
MAX_ROWS = 100_000
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
}


@dataclass
class RowResult:
    row: int  # 1-based data row (line number for JSON lines; CSV: row after the header)
    ccrn: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.ccrn)


def read_rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(row number, mapping) or (row number, error text) for each data row."""
    text = path.read_text(encoding="utf-8-sig")
    if fmt == "auto":
        fmt = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"
    count = 0
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        unknown = [c for c in reader.fieldnames or [] if c not in KNOWN]
        if unknown:
            raise CliError(
                f"{path}: unknown column(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}"
            )
        for number, record in enumerate(reader, start=1):
            count += 1
            if None in record:
                yield number, "row has more cells than the header has columns"
                continue
            yield number, {k: v for k, v in record.items() if v not in (None, "")}
    elif fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            count += 1
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not valid JSON: {exc.msg} at column {exc.colno}"
                continue
            if not isinstance(record, dict):
                yield number, "each line must be a JSON object"
                continue
            unknown = [k for k in record if k not in KNOWN]
            if unknown:
                yield number, f"unknown field(s) {', '.join(unknown)}"
                continue
            yield number, record
    else:
        raise CliError(f"--format: {fmt!r} is not csv, jsonl or auto")
    if count > MAX_ROWS:
        raise CliError(f"{path}: more than {MAX_ROWS} rows; split the file")


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(x).strip() for x in value if str(x).strip()]
    return [x.strip() for x in str(value).split(";") if x.strip()]


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "y"):
        return True
    if text in ("false", "no", "0", "n", ""):
        return False
    raise ValueError(f"{name}: {value!r} is not true or false")


def build_request(record: dict[str, Any], seen: Counter[str]) -> cargo_pb2.SubmitConsignmentRequest:
    """Row -> request; raises ValueError listing every field it cannot even parse."""
    problems = [f"{name}: is required" for name in REQUIRED if name not in record]
    details = cargo_pb2.CargoDetails()
    direction = 0
    try:
        direction = enum_value(common_pb2.Direction, str(record.get("direction", "")), "direction")
    except CliError as exc:
        if "direction" in record:
            problems.append(str(exc))
    try:
        details.packages_count = int(str(record.get("packages_count", "0")).strip())
    except ValueError:
        problems.append(f"packages_count: {record.get('packages_count')!r} is not a whole number")
    if "expected_at" in record:
        try:
            details.expected_at.CopyFrom(ts_of(parse_time(str(record["expected_at"]), "expected_at")))
        except CliError as exc:
            problems.append(str(exc))
    try:
        details.transshipment = _bool(record.get("transshipment", False), "transshipment")
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    for name in (
        "package_description",
        "article_description",
        "consignor_name",
        "consignor_address",
        "consignee_name",
        "consignee_address",
        "gross_weight_kg",
        "declared_value",
        "currency",
        "hs_code",
        "elock_id",
        "transshipment_route",
    ):
        if name in record:
            setattr(details, name, str(record[name]))
    details.container_numbers.extend(_list(record.get("container_numbers", [])))
    details.seal_numbers.extend(_list(record.get("seal_numbers", [])))
    key = str(record.get("idempotency_key", "")).strip()
    if not key:
        canonical = json.dumps({k: record[k] for k in sorted(record)}, sort_keys=True, default=str)
        seen[canonical] += 1
        digest = hashlib.sha256(f"{canonical}#{seen[canonical]}".encode()).hexdigest()[:40]
        key = f"bulk-{digest}"
    return cargo_pb2.SubmitConsignmentRequest(
        idempotency_key=key,
        direction=direction,  # type: ignore[arg-type]
        control_point=str(record["control_point"]),
        cargo=details,
    )


def submit_all(
    rows: list[tuple[int, dict[str, Any] | str]],
    submit: Callable[[cargo_pb2.SubmitConsignmentRequest], cargo_pb2.Consignment],
    *,
    parallel: int = 4,
    attempts: int = 4,
    progress: Callable[[RowResult], None] | None = None,
) -> list[RowResult]:
    """Submit every parsable row (``parallel`` at once); retry transport failures with
    capped backoff. Results come back in row order."""
    seen: Counter[str] = Counter()
    prepared: list[tuple[int, cargo_pb2.SubmitConsignmentRequest | None, str]] = []
    for number, record in rows:
        if isinstance(record, str):
            prepared.append((number, None, record))
            continue
        try:
            prepared.append((number, build_request(record, seen), ""))
        except ValueError as exc:
            prepared.append((number, None, str(exc)))

    def one(item: tuple[int, cargo_pb2.SubmitConsignmentRequest | None, str]) -> RowResult:
        number, request, problem = item
        if request is None:
            result = RowResult(number, errors=[("row", p.strip()) for p in problem.split(";")])
        else:
            result = _send(number, request, submit, attempts)
        if progress:
            progress(result)
        return result

    with ThreadPoolExecutor(max(1, parallel)) as pool:
        return list(pool.map(one, prepared))


def _send(
    number: int,
    request: cargo_pb2.SubmitConsignmentRequest,
    submit: Callable[[cargo_pb2.SubmitConsignmentRequest], cargo_pb2.Consignment],
    attempts: int,
) -> RowResult:
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            return RowResult(number, ccrn=submit(request).ccrn)
        except grpc.RpcError as exc:
            summary, violations = describe_error(exc)
            if exc.code() in RETRYABLE and attempt < attempts:  # type: ignore[attr-defined]
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            return RowResult(number, errors=violations or [("row", summary)])
    return RowResult(number, errors=[("row", "not sent")])  # unreachable: the loop returns
