"""The server's TOML configuration: known settings apply, unknown or mistyped ones are
refused with the setting's name; other areas' tables pass through."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.server import load_config


def test_settings_apply_and_other_tables_pass_through(tmp_path: Path) -> None:
    path = tmp_path / "central.toml"
    path.write_text(
        "[central]\nbundling_min_lead_minutes = 60\ntoken_cache_seconds = 2\n\n[sync]\nwatch_poll_s = 0.1\n"
    )
    config = load_config(path)
    assert config.bundling_min_lead_minutes == 60 and config.token_cache_seconds == 2
    assert config.extra == {"sync": {"watch_poll_s": 0.1}}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("[central]\nslot_minuts = 10\n", "slot_minuts"),
        ("[central]\nmax_page_size = 'lots'\n", "max_page_size"),
        ("[central]\ncache_epoch_poll_seconds = -1\n", "cache_epoch_poll_seconds: must be between 0 and 60"),
        ("[central]\ntoken_cache_seconds = 7200\n", "token_cache_seconds: must be between 0 and 3600"),
        ("[central]\nexpected_lanes = -2\n", "expected_lanes: must be between 0 and 10000"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, name: str) -> None:
    path = tmp_path / "central.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=name):
        load_config(path)
