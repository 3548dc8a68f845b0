"""``rocars-kiosk replay``: a lane's day re-run, each decision shown with its reasons."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.cli import main
from lanes.events import CardRemoved, Device, DeviceAvailability, OfficerAction, OfficerCommand, Tick
from lanes.records import Verdict

from .builders import OTHER_TRUCK, T0, TRUCK, Lane, started, trip

ROOT = Path(__file__).resolve().parents[2]


def a_day() -> Lane:
    lane = Lane(trips={TRUCK.vehicle_id: trip(), OTHER_TRUCK.vehicle_id: trip(Verdict.HOLD, trip_id="TRIP-9",
                                                                             vehicle_id=OTHER_TRUCK.vehicle_id)})
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    lane.drive_through(T0 + 10)
    lane.send(CardRemoved(T0 + 15))
    lane.arrive(T0 + 60, tag=OTHER_TRUCK, plate=OTHER_TRUCK)
    lane.card(T0 + 62)
    lane.send(OfficerAction(T0 + 90, "officer-3", OfficerCommand.RELEASE, "papers checked"))
    lane.drive_through(T0 + 95)
    lane.send(DeviceAvailability(T0 + 200, Device.CAMERA, False, "stream stalled"))
    lane.send(DeviceAvailability(T0 + 230, Device.CAMERA, True))
    lane.send(Tick(T0 + 240))
    return lane


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "LMC-I-01.journal"
    path.write_text("\n".join(a_day().lines) + "\n", encoding="utf-8")
    return path


def test_replay_shows_each_decision_with_its_reasons_and_finds_it_identical(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(journal)]) == 0
    out = capsys.readouterr().out
    assert "LMC-I-01:000000000001  RELEASED  vehicle V-1 FV 1234" in out
    assert "VERDICT_CLEAR: Cargo cleared / 貨物已獲放行" in out
    assert "LMC-I-01:000000000002  REFERRED  vehicle V-2 GK 77" in out and "VERDICT_HOLD" in out
    assert "OFFICER_OVERRIDE" in out and "officer officer-3" in out and "[papers checked]" in out
    assert "device camera LOST (stream stalled)" in out and "device camera back" in out
    decided = datetime.fromtimestamp(T0 + 7, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert f"{decided}  LMC-I-01:000000000001" in out  # times in UTC
    summary = "3 decisions (officer_override 1, referred 1, released 1), 0 alarms; replay identical"
    assert out.rstrip().endswith(summary)


def test_replay_reports_a_doctored_decision_and_fails(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = journal.read_text(encoding="utf-8").splitlines()
    doctored = next(i for i, line in enumerate(lines) if '"outcome":"referred"' in line)
    lines[doctored] = lines[doctored].replace('"outcome":"referred"', '"outcome":"released"')
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["replay", "--quiet", str(journal)]) == 1
    out = capsys.readouterr().out
    assert f"line {doctored + 1}: differs" in out and "1 line(s) DIFFER" in out


def test_replay_notices_a_changed_input_too(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = journal.read_text(encoding="utf-8").splitlines()
    i = next(i for i, line in enumerate(lines) if '"type":"CardAuthenticated"' in line)
    data = json.loads(lines[i])
    data["event"]["driver"]["watch_listed"] = True  # as if the cache had said otherwise
    lines[i] = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["replay", "--quiet", str(journal)]) == 1
    assert f"line {i + 1}: differs" in capsys.readouterr().out


def test_a_torn_last_line_is_skipped_not_a_difference(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = journal.read_text(encoding="utf-8")
    journal.write_text(text + '{"n":99,"event":{"type":"Tick","at":17', encoding="utf-8")
    assert main(["replay", "--quiet", str(journal)]) == 0
    assert "incomplete last line skipped" in capsys.readouterr().out


def test_an_unreadable_journal_exits_2_naming_line_and_field(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = journal.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace('"type":"', '"type":"X', 1)
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["replay", str(journal)]) == 2
    assert "line 4: commands[0].type: unknown type 'XShowMessage'" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "missing.journal")]) == 2
    (tmp_path / "other.txt").write_text('{"hello": 1}\n', encoding="utf-8")
    assert main(["replay", str(tmp_path / "other.txt")]) == 2
    assert "journal: must be 'rocars-lane'" in capsys.readouterr().err


def test_the_installed_command_replays_a_journal(journal: Path) -> None:
    script = Path(sys.executable).parent / "rocars-kiosk"
    assert script.exists(), f"{script} missing: run scripts/setup.sh (pip install -e .)"
    done = subprocess.run([str(script), "replay", "--events", str(journal)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert "LoopChanged: ShowMessage" in done.stdout and "replay identical" in done.stdout
