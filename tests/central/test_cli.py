"""The ``rocars`` CLI against a real server: human and JSON output, field errors, and
bulk submission (good rows filed, bad rows listed, re-runs file nothing twice)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from central.cli.app import main
from proto.rocars.v1 import cargo_pb2
from tests.support.central import CentralUnderTest, World

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def world(central: CentralUnderTest, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("ROCARS_SERVER", central.address)
    w = central.world()
    monkeypatch.setenv("ROCARS_TOKEN", w.company_token)
    return w


def test_whoami_and_missing_token(
    central: CentralUnderTest,
    world: World,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, _ = run(capsys, "registration", "whoami")
    assert code == 0 and "Pearl River Shippers Ltd: company" in out
    monkeypatch.delenv("ROCARS_TOKEN")
    code, _, err = run(capsys, "registration", "whoami")
    assert code == 2 and "ROCARS_TOKEN" in err


def test_submit_amend_history_cancel(
    central: CentralUnderTest, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    when = (central.clock.now() + timedelta(hours=3)).isoformat()
    code, out, err = run(
        capsys,
        "cargo",
        "submit",
        "--json",
        "--control-point",
        "LMC",
        "--direction",
        "import",
        "--packages",
        "12",
        "--package-description",
        "cartons",
        "--articles",
        "desk lamps",
        "--consignor-name",
        "A Co",
        "--consignor-address",
        "Shenzhen",
        "--consignee-name",
        "B Ltd",
        "--consignee-address",
        "Kowloon",
        "--expected-at",
        when,
        "--container",
        "CSQU3054383",
    )
    assert code == 0, err
    ccrn = json.loads(out)["ccrn"]
    code, out, err = run(capsys, "cargo", "amend", ccrn, "--packages", "20", "--reason", "more")
    assert code == 0, err
    assert "version 2" in out and "20 cartons" in out
    code, out, _ = run(capsys, "cargo", "history", ccrn)
    assert "v1 submitted" in out and "v2 amended" in out and "(more)" in out
    code, out, _ = run(capsys, "cargo", "cancel", ccrn)
    assert code == 0 and "cancelled" in out
    code, out, _ = run(capsys, "cargo", "list", "--status", "cancelled")
    assert ccrn[:4] in out


def test_field_errors_are_listed_and_nothing_is_filed(
    central: CentralUnderTest, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        "cargo",
        "submit",
        "--control-point",
        "LMC",
        "--direction",
        "import",
        "--packages",
        "0",
        "--package-description",
        "cartons",
        "--articles",
        "lamps",
        "--consignor-name",
        "A",
        "--consignor-address",
        "B",
        "--consignee-name",
        "C",
        "--consignee-address",
        "D",
        "--expected-at",
        "+5m",
        "--currency",
        "HKD",
    )
    assert code == 1
    assert "cargo.packages_count" in err and "cargo.declared_value" in err
    code, _, err = run(capsys, "cargo", "get", "1234 5678 9012")
    assert code == 1 and "ccrn" in err
    assert (
        not central.as_officer()
        .cargo.ListConsignments(cargo_pb2.ListConsignmentsRequest(), timeout=10)
        .consignments
    )


def _csv(path: Path, central: CentralUnderTest, rows: list[dict[str, str]]) -> Path:
    import csv

    when = (central.clock.now() + timedelta(hours=4)).isoformat()
    columns = [
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
        "container_numbers",
    ]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for row in rows:
            base = {
                "control_point": "LMC",
                "direction": "import",
                "packages_count": "5",
                "package_description": "cartons",
                "article_description": "toys",
                "consignor_name": "A",
                "consignor_address": "B",
                "consignee_name": "C",
                "consignee_address": "D",
                "expected_at": when,
                "container_numbers": "",
            }
            base.update(row)
            writer.writerow(base)
    return path


def test_bulk_csv_files_good_rows_lists_bad_ones_and_reruns_safely(
    central: CentralUnderTest, world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = [
        {},
        {"article_description": "books"},
        {"packages_count": "lots"},
        {"packages_count": "0"},
        {"container_numbers": "CSQU3054383;MSKU1234566"},
        {},
    ]
    path = _csv(tmp_path / "batch.csv", central, rows)
    code, out, _ = run(capsys, "cargo", "bulk", str(path), "--json", "--report", str(tmp_path / "report.csv"))
    assert code == 3
    results = {r["row"]: r for r in map(json.loads, out.splitlines())}
    assert set(results) == {1, 2, 3, 4, 5, 6}
    assert "ccrn" in results[1] and "ccrn" in results[2] and "ccrn" in results[6]
    assert results[1]["ccrn"] != results[6]["ccrn"]  # identical rows are two consignments
    assert "not a whole number" in results[3]["errors"][0]["rule"]
    assert results[4]["errors"][0]["field"] == "cargo.packages_count"
    assert results[5]["errors"][0]["field"].startswith("cargo.container_numbers[1]")
    officer = central.as_officer().cargo
    assert len(officer.ListConsignments(cargo_pb2.ListConsignmentsRequest(), timeout=10).consignments) == 3
    # Fix the bad rows and run the same file again: the good rows keep their CCRNs.
    rows[2] = {"packages_count": "7"}
    rows[3] = {"packages_count": "8"}
    rows[4] = {"container_numbers": "CSQU3054383"}
    _csv(path, central, rows)
    code, out, _ = run(capsys, "cargo", "bulk", str(path), "--json")
    assert code == 0
    again = {r["row"]: r["ccrn"] for r in map(json.loads, out.splitlines())}
    assert (
        again[1] == results[1]["ccrn"] and again[2] == results[2]["ccrn"] and again[6] == results[6]["ccrn"]
    )
    assert len(officer.ListConsignments(cargo_pb2.ListConsignmentsRequest(), timeout=10).consignments) == 6
    report = (tmp_path / "report.csv").read_text()
    assert report.startswith("row,ccrn,field,rule") and "cargo.packages_count" in report


def test_bulk_jsonl_and_unknown_columns(
    central: CentralUnderTest, world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    when = (central.clock.now() + timedelta(hours=4)).isoformat()
    good = {
        "control_point": "LMC",
        "direction": "export",
        "packages_count": 3,
        "package_description": "crates",
        "article_description": "fruit",
        "consignor_name": "A",
        "consignor_address": "B",
        "consignee_name": "C",
        "consignee_address": "D",
        "expected_at": when,
        "seal_numbers": ["S-1", "S-2"],
    }
    path = tmp_path / "batch.jsonl"
    path.write_text(
        "\n".join([json.dumps(good), "{not json", json.dumps({**good, "colour": "red"}), "[1]"]) + "\n"
    )
    code, out, _ = run(capsys, "cargo", "bulk", str(path))
    assert code == 3
    assert "1 of 4 rows filed, 3 refused" in out
    assert "row 2:" in out and "not valid JSON" in out and "colour" in out and "JSON object" in out
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("control_point,weight\nLMC,3\n")
    code, _, err = run(capsys, "cargo", "bulk", str(bad_csv))
    assert code == 2 and "unknown column" in err


def test_trips_bundle_list_and_slots(
    central: CentralUnderTest,
    world: World,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    when = (central.clock.now() + timedelta(hours=3)).isoformat()
    code, out, _ = run(
        capsys,
        "cargo",
        "submit",
        "--json",
        "--control-point",
        "LMC",
        "--direction",
        "import",
        "--packages",
        "1",
        "--package-description",
        "box",
        "--articles",
        "parts",
        "--consignor-name",
        "A",
        "--consignor-address",
        "B",
        "--consignee-name",
        "C",
        "--consignee-address",
        "D",
        "--expected-at",
        when,
    )
    ccrn = json.loads(out)["ccrn"]
    monkeypatch.setenv("ROCARS_TOKEN", world.driver_token)
    arrival = (central.clock.now() + timedelta(hours=2)).isoformat()
    code, out, err = run(
        capsys,
        "trips",
        "bundle",
        "--vehicle",
        "AB 1234",
        "--control-point",
        "LMC",
        "--direction",
        "import",
        "--arrival",
        arrival,
        "--ccrn",
        ccrn,
        "--code",
        central.next_totp(world.driver_secret),
    )
    assert code == 0, err
    assert "Bundled." in out and "crossing slot" in out and ccrn[:4] in out
    code, out, _ = run(capsys, "trips", "list", "--json")
    trips = [json.loads(line) for line in out.splitlines()]
    assert len(trips) == 1 and trips[0]["ccrns"] == [ccrn]
    code, out, _ = run(
        capsys,
        "trips",
        "slots",
        "--control-point",
        "LMC",
        "--direction",
        "import",
        "--from",
        arrival,
        "--count",
        "2",
    )
    assert code == 0 and "1 / 60 booked" in out
    code, _, err = run(capsys, "trips", "unbundle", trips[0]["reference"], "--code", "000000")
    assert code == 1 and "security_code" in err


def test_console_scripts_bootstrap_serve_and_stop_on_sigterm(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    bin_dir = Path(sys.executable).parent
    out = subprocess.run(
        [str(bin_dir / "rocars"), "bootstrap", "--database", db, "--badge", "B1", "--name", "N", "--json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    token = json.loads(out.stdout)["api_token"]
    proc = subprocess.Popen(
        [str(bin_dir / "rocars-central"), "--listen", "127.0.0.1:0", "--database", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("LISTENING port="), line
        port = line.split()[1].split("=")[1]
        env = {**os.environ, "ROCARS_SERVER": f"127.0.0.1:{port}", "ROCARS_TOKEN": token}
        who = subprocess.run(
            [str(bin_dir / "rocars"), "registration", "whoami", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert json.loads(who.stdout)["role"] == "OFFICER", who.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        logs = proc.stderr.read() if proc.stderr else ""
        assert token not in logs  # secrets never logged
        assert any(
            json.loads(x).get("msg") == "server stopped" for x in logs.splitlines() if x.startswith("{")
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.slow
def test_scripted_sample_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "central.sample"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Central answers with CCRN" in out.stdout and "Trip T" in out.stdout
    assert "the same CCRN comes back" in out.stdout and "PERMISSION_DENIED" in out.stdout
