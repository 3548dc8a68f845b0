"""The ``rocars officer|audit|declaration|elock`` commands against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from central.cli.app import main
from central.risk.models import AuditEntry
from tests.risk.test_api import IVORY, submit
from tests.support.central import CentralUnderTest


def rocars(c: CentralUnderTest, token: str, *argv: str) -> int:
    return main([*argv, "--server", c.address, "--token", token])


def test_officer_cli_rules_explain_override_and_audit(
    central: CentralUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = central.world()
    tok = central.officer_token
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            [
                IVORY,
                {
                    "id": "LATE",
                    "kind": "late_amendment",
                    "owner": "OFF-001",
                    "points": 10,
                    "params": {"within_minutes": 45},
                },
            ]
        )
    )
    assert rocars(central, tok, "officer", "rules", "put", str(rules), "--comment", "initial") == 0
    assert "rule set version 1" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**IVORY, "params": {"keywords": ["x"], "fields": ["colour"]}}))
    assert rocars(central, tok, "officer", "rules", "put", str(bad)) == 1
    err = capsys.readouterr().err
    assert "INVALID_ARGUMENT" in err and "rule.params.fields[0]" in err
    assert rocars(central, tok, "officer", "rules", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["rule_id"] for r in listed["rules"]] == ["KW-IVORY", "LATE"] and listed["rule_set_version"] == 1

    ccrn = submit(central, world.company_token, article_description="ivory chopsticks")
    assert rocars(central, tok, "officer", "explain", "--ccrn", ccrn) == 0
    out = capsys.readouterr().out
    assert "inspect" in out and "KW-IVORY" in out and "articles_description" in out
    assert rocars(central, world.company_token, "officer", "explain", "--ccrn", ccrn) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --reason is mandatory
        rocars(central, tok, "officer", "override", "--ccrn", ccrn, "--verdict", "clear")
    capsys.readouterr()
    assert (
        rocars(
            central,
            tok,
            "officer",
            "override",
            "--ccrn",
            ccrn,
            "--verdict",
            "clear",
            "--reason",
            "bone, not ivory: lab test 17",
            "--json",
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["verdict"] == "CLEAR"

    assert rocars(central, tok, "audit", "verify") == 0
    assert "audit log intact: 2 entries" in capsys.readouterr().out
    assert rocars(central, tok, "audit", "list", "--json") == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert [e["action"] for e in entries] == ["rules.change", "verdict.override"]
    AuditEntry.delete().where(AuditEntry.seq == 1).execute()
    assert rocars(central, tok, "audit", "verify") == 3
    assert "AUDIT LOG BROKEN at entry 1" in capsys.readouterr().err


def test_watchlist_and_trips_commands(
    central: CentralUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    central.world()
    tok = central.officer_token
    wl = tmp_path / "wl.json"
    wl.write_text(
        json.dumps(
            {
                "id": "WL-VEH",
                "kind": "watchlist",
                "owner": "OFF-001",
                "verdict": "hold",
                "params": {"field": "vehicle", "entries": []},
            }
        )
    )
    assert rocars(central, tok, "officer", "rules", "put", str(wl)) == 0
    assert rocars(central, tok, "officer", "watchlist", "add", "WL-VEH", "ab 1234", "FU 88") == 0
    capsys.readouterr()
    assert rocars(central, tok, "officer", "rules", "list", "--kind", "watchlist", "--json") == 0
    (rule,) = json.loads(capsys.readouterr().out)["rules"]
    assert rule["definition"]["params"]["entries"] == ["AB1234", "FU88"] and rule["revision"] == 2
    assert rocars(central, tok, "officer", "trips", "--control-point", "LMC", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {}


def test_declaration_draft_cli_prints_json(
    central: CentralUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    world = central.world()
    ccrn = submit(central, world.company_token, hs_code="851762")
    assert rocars(central, world.company_token, "declaration", "draft", ccrn) == 0
    captured = capsys.readouterr()
    draft = json.loads(captured.out)
    reused = {f["path"] for f in draft["fields"] if f["reused"]}
    assert {"header.consignor.name", "items[0].hs_code", "items[0].description_of_goods"} <= reused
    assert f"{draft['reused_fields']} of {draft['total_fields']} fields reused" in captured.err
