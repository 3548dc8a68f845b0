"""The committed generated gRPC code must match what the .proto files generate now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "proto" / "rocars" / "v1"


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), str(tmp_path)],
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    fresh_dir = tmp_path / "proto" / "rocars" / "v1"
    fresh = {p.name: p.read_bytes() for p in fresh_dir.glob("*_pb2*.py*")}
    committed = {p.name: p.read_bytes() for p in GENERATED.glob("*_pb2*.py*")}
    assert fresh, "no code generated"
    assert sorted(fresh) == sorted(committed), "generated files differ in name: run scripts/gen_proto.py"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated code {stale}: run scripts/gen_proto.py and commit"


def test_generated_modules_import_inside_package() -> None:
    import importlib

    for path in sorted(GENERATED.glob("*_pb2*.py")):
        importlib.import_module(f"proto.rocars.v1.{path.stem}")
