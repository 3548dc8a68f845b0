"""The trained glyph classifier: its training data, the packaged model, and what it adds
to the reader (real renderer, real Tesseract, the committed model file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from drivers.anpr import glyph_model, grammar
from drivers.anpr import reader as reader_module
from drivers.anpr.glyph_training import (
    TRAINING_FONTS,
    accuracy,
    dataset,
    labelled_glyphs,
    synthetic_crop,
    train,
)
from drivers.anpr.locate import find_candidates, warp
from drivers.anpr.reader import PlateReader
from drivers.anpr.segment import segment
from simulators.plates import FONT_FILES, HELD_OUT_FONTS, sample_for_seed


@pytest.fixture(scope="module")
def model() -> glyph_model.GlyphModel:
    loaded = glyph_model.load()
    if loaded is None:
        pytest.fail(f"the packaged glyph model {glyph_model.MODEL_PATH} is missing")
    return loaded


@pytest.fixture(scope="module")
def tesseract_only() -> Iterator[PlateReader]:
    with PlateReader(trained_glyphs=False) as r:
        yield r


def test_training_fonts_hold_no_face_of_a_held_out_family() -> None:
    # "FreeSansBold.ttf" -> "FreeSans", "LiberationSansNarrow-Bold.ttf" -> "LiberationSansNarrow"
    families = {FONT_FILES[name].split("-")[0].removesuffix(".ttf").removesuffix("Bold")
                for name in HELD_OUT_FONTS}
    assert families == {"FreeSans", "LiberationSansNarrow"}
    for path in TRAINING_FONTS:
        assert Path(path).exists(), path
        assert not any(Path(path).name.startswith(family) for family in families), path


def test_synthetic_crops_give_labelled_glyphs_of_every_view() -> None:
    rng = np.random.default_rng(3)
    found = 0
    for _ in range(10):
        crop = synthetic_crop(rng, "AB 1234", TRAINING_FONTS[0])
        assert crop.shape == (80, 376)
        pairs = labelled_glyphs(crop, "AB 1234")
        assert len(pairs) % (6 * 3) == 0  # six characters, three views, per threshold
        assert [char for _, char in pairs[:6]] == list("AB1234")
        found += bool(pairs)
    assert found >= 7


def test_a_short_training_run_learns_the_characters() -> None:
    x, y = dataset(2, first_seed=500, processes=1)
    xv, yv = dataset(1, first_seed=900, processes=1)
    trained = train(x, y, hidden=64, epochs=6, log_every=0)
    # 33 classes: chance is 3 %.
    assert accuracy(trained, xv, yv) > 0.6


def test_model_classes_are_the_grammar_characters(model: glyph_model.GlyphModel) -> None:
    assert model.classes == grammar.PLATE_CHARSET
    blank = np.full((40, 24), 255, np.uint8)
    assert model.probabilities(blank) == {}
    assert model.best(blank) == ("", 0.0)


def _rendered_glyphs(seeds: range, level: str) -> Iterator[tuple[np.ndarray, str, str]]:
    """Glyphs the real pipeline cuts from the simulator's frames, with their characters and
    the characters the grammar allows at their place."""
    for seed in seeds:
        sample = sample_for_seed(seed, level)
        if sample.plate is None or sample.corners is None or not grammar.is_standard(sample.plate):
            continue
        centre = sample.corners.mean(axis=0)
        for cand in find_candidates(sample.image, limit=6)[:5]:
            if np.linalg.norm(cand.corners.mean(axis=0) - centre) > 20:
                continue
            seg = segment(warp(sample.image, cand), 2 if cand.two_row else 1)
            if seg is not None and seg.blobs == len(sample.plate):
                for i, (glyph, char) in enumerate(zip(seg.glyphs, sample.plate, strict=True)):
                    yield glyph, char, grammar.PLATE_LETTERS if i < 2 else grammar.PLATE_DIGITS
            break


def test_model_reads_glyphs_cut_from_hard_frames(model: glyph_model.GlyphModel) -> None:
    glyphs = _rendered_glyphs(range(40), "hard")
    results = [model.best(glyph, allowed)[0] == char for glyph, char, allowed in glyphs]
    assert len(results) >= 100
    assert sum(results) / len(results) >= 0.98


def test_pooled_views_must_agree(model: glyph_model.GlyphModel) -> None:
    glyphs = [(glyph, char) for glyph, char, _ in _rendered_glyphs(range(3), "normal")]
    glyph, char = glyphs[0]
    other = next(g for g, c in glyphs if c not in (char, "1"))
    (alone, p_alone), = glyph_model.read_glyphs(model, [[glyph]], [grammar.PLATE_CHARSET])
    assert alone == char and p_alone > 0.9
    # The same place showing another character in the second view: the pooled opinion is unsure.
    (_, p_split), = glyph_model.read_glyphs(model, [[glyph], [other]], [grammar.PLATE_CHARSET])
    assert p_split < 0.9


def test_classifier_reads_a_plate_tesseract_alone_misses(reader: PlateReader,
                                                        tesseract_only: PlateReader) -> None:
    # Tuning seed 83: "PJ 7094", whose J Tesseract's LSTM reads as nothing beside the P.
    sample = sample_for_seed(83, "hard")
    assert tesseract_only.read(sample.image).plate is None
    assert reader.read(sample.image).plate == "PJ7094"


def test_classifier_vetoes_a_look_alike_tesseract_reads(reader: PlateReader,
                                                       tesseract_only: PlateReader) -> None:
    # Check seed 2024, a night frame of "MB 90" whose blurred M Tesseract reads as V.
    sample = sample_for_seed(2024, "hard")
    assert sample.plate == "MB90"
    assert tesseract_only.read(sample.image).plate == "VB90"
    assert reader.read(sample.image).plate in (None, "MB90")


def test_classifier_vouches_for_shapes_the_templates_refuse(reader: PlateReader,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Tuning seed 88: "HG 8820", read by every view, whose shapes the font templates
    # refuse; the classifier, sure of each character, vouches for them instead.
    sample = sample_for_seed(88, "hard")
    assert reader.read(sample.image).plate == "HG8820"
    monkeypatch.setattr(reader_module, "_TRAINED_VOUCH", 2.0)  # vouching for nothing
    assert reader.read(sample.image).plate is None
