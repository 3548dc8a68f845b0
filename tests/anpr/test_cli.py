"""``rocars-anpr`` as installed: the JSON-lines format other tools rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from simulators.plates import render_sample, sample_for_seed

SCRIPT = Path(sys.executable).parent / "rocars-anpr"


def test_json_lines_one_per_image(tmp_path: Path) -> None:
    truth = {}
    paths = []
    for seed, plate, level in [(5007, "KW 88", "normal"), (5008, "PL 9847", "two_row"), (5009, None, "none")]:
        sample = render_sample(plate, rng=np.random.default_rng(seed), level=level)
        path = tmp_path / f"{level}.jpg"
        cv2.imwrite(str(path), sample.image)
        truth[str(path)] = sample.plate
        paths.append(str(path))
    missing = str(tmp_path / "missing.png")
    proc = subprocess.run([str(SCRIPT), "--json", *paths, missing], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1  # one image could not be read
    assert "missing.png" in proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [obj["image"] for obj in lines] == [*paths, missing]
    for obj in lines:
        assert set(obj) == {"image", "plate", "confidence"}
        assert 0.0 <= obj["confidence"] <= 1.0
        expected = truth.get(obj["image"])
        assert obj["plate"] == expected
        if obj["plate"] is not None:
            assert obj["plate"] == obj["plate"].upper() and " " not in obj["plate"]


def test_text_output_and_bad_option(tmp_path: Path) -> None:
    sample = sample_for_seed(5010, "normal")
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), sample.image)
    proc = subprocess.run([str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and sample.plate and sample.plate in proc.stdout
    proc = subprocess.run([str(SCRIPT), "--min-confidence", "2", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "--min-confidence" in proc.stderr
