"""Hong Kong plate grammar: validation and the only corrections it may force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.anpr import grammar
from simulators.plates import random_plate


@pytest.mark.parametrize("mark", ["AB1", "AB1234", "FU88", "FV9999", "ZZ10"])
def test_standard_marks_are_accepted_as_read(mark: str) -> None:
    checked = grammar.check(mark)
    assert (checked.mark, checked.kind, checked.corrections) == (mark, "standard", 0)


@pytest.mark.parametrize("raw", ["AB0123", "AB12345", "IO123", "AQ12", "A1", ""])
def test_not_standard_and_not_a_mark(raw: str) -> None:
    checked = grammar.check(raw)
    assert checked.kind != "standard"
    assert checked.mark is None or checked.mark == grammar.normalise(raw)
    if "I" in raw or "O" in raw or "Q" in raw or len(raw) < 2:
        assert checked.mark is None


@pytest.mark.parametrize(
    ("raw", "fixed"),
    [("8A1234", "BA1234"), ("A51234", "AS1234"), ("2Z99", "ZZ99"), ("ABI23", "AB123"), ("AB1O", "AB10"),
     ("ABS8", "AB58"), ("XY1Z", "XY12")],
)
def test_confusions_forced_by_position_are_corrected(raw: str, fixed: str) -> None:
    checked = grammar.check(raw)
    assert checked.mark == fixed and checked.kind == "standard"
    assert checked.corrections == sum(a != b for a, b in zip(raw, fixed, strict=True))


@pytest.mark.parametrize("raw", ["B8S2", "88SS", "ABCD", "HELLO", "A8B8"])
def test_no_correction_where_the_grammar_does_not_force_one(raw: str) -> None:
    checked = grammar.check(raw)
    assert checked.corrections == 0
    assert checked.mark in (None, raw)


def test_personalised_marks_keep_their_characters_without_spaces() -> None:
    assert grammar.check("best dad").mark == "BESTDAD"
    assert grammar.check("BEST DAD").kind == "personalised"
    assert grammar.check("BIG BOSS").mark is None  # I and O are never used on plates
    assert grammar.check("TEN CHARS 1").mark is None  # more than 8 characters


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_rendered_plate_is_valid_and_read_back_unchanged(seed: int) -> None:
    text = random_plate(np.random.default_rng(seed))
    compact = text.replace(" ", "")
    assert len(compact) <= grammar.MAX_MARK_LENGTH
    assert grammar.is_valid(compact)
    checked = grammar.check(text)
    assert checked.mark == compact and checked.corrections == 0
    assert not set(compact) & set("IOQ")


@pytest.mark.parametrize(("mark", "near"), [("FUA", True), ("HHE", True), ("AB12", True), ("ARY", True),
                                            ("W95", True), ("AB12C", True), ("WAVYJ7", False),
                                            ("BESTDAD", False), ("KMNP", False)])
def test_marks_one_lookalike_away_from_standard(mark: str, near: bool) -> None:
    assert grammar.near_standard(mark) is near
