"""The risk key file: created once with owner-only permissions, then read back unchanged."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from central.risk.runtime import load_or_create_keys


def test_key_file_is_created_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "state" / "risk.key"
    first = load_or_create_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.selection) == 32 and len(first.audit) == 32 and first.selection != first.audit
    assert load_or_create_keys(path) == first


@pytest.mark.parametrize("content", ["", "abcd\n", "zz\nzz\n", "00\n00\n"])
def test_bad_key_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "risk.key"
    path.write_text(content)
    with pytest.raises(ValueError, match="risk key file"):
        load_or_create_keys(path)


def test_processes_starting_together_share_one_key_file(tmp_path: Path) -> None:
    """Several central processes on one database create the key file at the same moment:
    every one must read the same keys (a split would make selections differ by process)."""
    path = tmp_path / "keys"
    script = (
        "import sys; from pathlib import Path; from central.risk.runtime import load_or_create_keys; "
        "k = load_or_create_keys(Path(sys.argv[1])); print(k.selection.hex(), k.audit.hex())"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    outputs = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert len(outputs) == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
