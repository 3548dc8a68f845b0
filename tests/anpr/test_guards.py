"""Guards against the wrong reads a lost or broken character gives, and the reads they
must still allow: real renderer (simulators.plates), real OpenCV, real Tesseract.

A standard mark that loses a character is often another valid mark ("DL670" -> "DL67",
"UW1" -> "UW"): the worst kind of wrong read. Frames are built from the renderer's flat
plates placed on a plain dark scene, so each test controls the one thing it is about.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from drivers.anpr.locate import Candidate, warp, widened
from drivers.anpr.reader import PlateReader, _row_goes_on, _Scored, _shorter
from drivers.anpr.segment import segment
from simulators.plates import render_plate, render_sample

_BOARD_GREY = 200  # well above any character, well below the white board's 240


def _frame(plate: np.ndarray, *, night: bool = False) -> np.ndarray:
    """The flat plate scaled to 240 px wide on a dark 640x480 scene, lightly blurred."""
    width = 240
    scaled = cv2.resize(plate, (width, round(plate.shape[0] * width / plate.shape[1])),
                        interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 40, np.uint8)
    y, x = 220, 200
    frame[y:y + scaled.shape[0], x:x + scaled.shape[1]] = scaled
    if night:
        # Infra-red: grey, dark surroundings, the retro-reflective plate brighter still,
        # and the horizontal motion blur of a moving vehicle.
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32) * 0.3
        grey[y:y + scaled.shape[0], x:x + scaled.shape[1]] = np.minimum(
            255.0, cv2.cvtColor(scaled, cv2.COLOR_BGR2GRAY).astype(np.float32) * 1.1 + 20)
        kernel = np.zeros((5, 5), np.float32)
        kernel[2, :] = 0.2
        blurred = np.asarray(cv2.filter2D(grey, -1, kernel), np.float32)
        frame = np.asarray(cv2.cvtColor(blurred.clip(0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR))
    return cv2.GaussianBlur(frame, (0, 0), 0.6)


def _glyph_columns(plate: np.ndarray) -> list[tuple[int, int]]:
    """Column spans of the characters on a flat plate (inside its border)."""
    grey = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    inner = grey[h // 5:h - h // 5, w // 20:w - w // 20] < 100
    cols = [bool(v) for v in np.asarray(inner.any(axis=0)).ravel()]
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for x, on in enumerate(cols):
        if on and start is None:
            start = x
        elif not on and start is not None:
            spans.append((start + w // 20, x + w // 20))
            start = None
    return spans


def _break_glyph(plate: np.ndarray, span: tuple[int, int]) -> np.ndarray:
    """The character in columns ``span`` cut into small pieces by stripes of board colour,
    as blur and a threshold break a thin-stroked character: each piece too small to keep."""
    out = plate.copy()
    h = plate.shape[0]
    board = tuple(int(v) for v in plate[h // 2, 20])
    for frac in (0.42, 0.6):
        y = int(frac * h)
        cv2.rectangle(out, (span[0] - 1, y - 4), (span[1] + 1, y + 4), board, -1)
    x_mid = (span[0] + span[1]) // 2
    cv2.rectangle(out, (x_mid - 4, h // 6), (x_mid + 4, h - h // 6), board, -1)
    return out


def test_the_whole_plate_reads(reader: PlateReader) -> None:
    plate = render_plate("DL 670", font="liberation", colour="white")
    assert reader.read(_frame(plate)).plate == "DL670"


def test_a_broken_last_character_is_no_read_never_the_shorter_mark(reader: PlateReader) -> None:
    plate = render_plate("DL 670", font="liberation", colour="white")
    broken = _break_glyph(plate, _glyph_columns(plate)[-1])
    read = reader.read(_frame(broken))
    assert read.plate != "DL67"
    assert read.plate is None


def test_pieces_of_a_broken_character_mark_the_crop_cut() -> None:
    plate = render_plate("DL 670", font="liberation", colour="white")
    broken = _break_glyph(plate, _glyph_columns(plate)[-1])
    grey = cv2.cvtColor(cv2.resize(broken, (376, 80), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    seg = segment(grey, 1)
    assert seg is not None and seg.cut
    whole = cv2.cvtColor(cv2.resize(plate, (376, 80), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    seg = segment(whole, 1)
    assert seg is not None and seg.blobs == 5 and not seg.cut


def test_a_lost_number_does_not_leave_a_two_letter_mark(reader: PlateReader) -> None:
    """"UW 1" with its 1 gone is no personalised "UW": the letters sit off the board's centre."""
    plate = render_plate("UW 1", font="dejavu", colour="yellow")
    spans = _glyph_columns(plate)
    board = tuple(int(v) for v in plate[plate.shape[0] // 2, 20])
    erased = plate.copy()
    cv2.rectangle(erased, (spans[-1][0] - 2, 20), (spans[-1][1] + 2, plate.shape[0] - 21), board, -1)
    assert reader.read(_frame(erased)).plate is None


def test_a_two_letter_personalised_mark_centred_on_its_board_reads(reader: PlateReader) -> None:
    """Read when the board is found by its colour (here yellow on a dark scene), the one
    outline that says where the plate ends."""
    assert reader.read(_frame(render_plate("UW", font="dejavu", colour="yellow"))).plate == "UW"
    assert reader.read(_frame(render_plate("GE", font="liberation", colour="yellow"))).plate == "GE"


@pytest.mark.parametrize(("mark", "font"), [("KD 18", "liberation"), ("PA 9117", "dejavu")])
def test_an_infra_red_night_frame_reads(reader: PlateReader, mark: str, font: str) -> None:
    plate = render_plate(mark, font=font, colour="yellow")
    assert reader.read(_frame(plate, night=True)).plate == mark.replace(" ", "")


def test_a_personalised_mark_laid_out_like_a_standard_one_reads(reader: PlateReader) -> None:
    """"S8 4BX": a digit among the letters and a letter among the digits that looks like no
    digit are two slips from any standard mark, so it is read as the personalised mark."""
    sample = render_sample("S8 4BX", rng=np.random.default_rng(7), level="normal", font="liberation")
    assert reader.read(sample.image).plate == "S84BX"


def test_widening_an_outline_keeps_its_far_side() -> None:
    corners = np.array([[100, 50], [300, 50], [300, 100], [100, 100]], np.float32)
    cand = Candidate(corners, 4.0, 1.0, "white")
    right = widened(cand, ("right",))
    assert np.allclose(right.corners[[0, 3]], corners[[0, 3]])
    assert np.allclose(right.corners[[1, 2], 0], 300 + 1.5 * 50)
    both = widened(cand, ("left", "right"), by=1.0)
    assert np.allclose(both.corners[:, 0], [50, 350, 350, 50])
    assert both.cue == "grown" and both.rows == 1


def test_a_cut_outline_is_widened_and_read_whole(reader: PlateReader) -> None:
    """An outline that ends inside the plate (a shadow or a neighbour ended the board) reads
    the whole plate once widened, never the characters it happened to hold."""
    plate = render_plate("HK 5112", font="dejavu", colour="white")
    frame = _frame(plate)
    # The outline (frame x = 200 + plate x * 240 / plate width, see _frame) ends in the
    # middle of the second 1, short of the plate's true right side.
    last_but_one = _glyph_columns(plate)[-2]
    x1 = 200 + (last_but_one[0] + last_but_one[1]) / 2 * 240 / plate.shape[1]
    cand = Candidate(np.array([[200, 220], [x1, 220], [x1, 271], [200, 271]], np.float32), 2.5, 1.0,
                     "white", 1)
    seg = segment(warp(frame, cand), 1)
    assert seg is not None and seg.cut_sides == ("right",)
    scored = reader._read_candidate(frame, cand, deadline=time.perf_counter() + 10.0)
    assert scored is not None and scored.mark == "HK5112"


def test_a_row_a_character_short_of_another_thresholds_row_is_not_read() -> None:
    """The same plate seen at two thresholds: one lost the last 1 ("CT7" of "CT71")."""
    def crop(text: str) -> np.ndarray:
        plate = render_plate(text, font="dejavu", colour="white")
        return cv2.cvtColor(cv2.resize(plate, (376, 80), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)

    whole = crop("CT 71")
    lost = whole.copy()
    span = _glyph_columns(cv2.cvtColor(whole, cv2.COLOR_GRAY2BGR))[-1]
    lost[14:66, span[0] - 1:span[1] + 1] = int(np.median(whole[40, 10:30]))  # the 1 painted over
    seg_whole, seg_lost = segment(whole, 1), segment(lost, 1)
    assert seg_whole is not None and seg_lost is not None
    assert seg_whole.blobs == 4 and seg_lost.blobs == 3
    assert _shorter(seg_lost, seg_whole)
    assert not _shorter(seg_whole, seg_lost) and not _shorter(seg_whole, seg_whole)


@pytest.mark.parametrize(("mark", "colour"), [("HK 5112", "white"), ("CT 71", "yellow")])
def test_an_outline_ending_anywhere_inside_the_plate_never_reads_short(
    reader: PlateReader, mark: str, colour: str
) -> None:
    """Outlines whose right side falls anywhere from the third character to past the plate
    (a shadow or a board-coloured neighbour ends the board's outline early): the board
    running on to the crop's edge shows the plate goes on, so the outline is widened and
    the whole mark read, never a shorter one ("HK51", "CT7")."""
    frame = _frame(render_plate(mark, font="dejavu", colour=colour))
    whole = mark.replace(" ", "")
    reads = []
    for x1 in range(330, 450, 10):
        cand = Candidate(np.array([[200, 220], [x1, 220], [x1, 271], [200, 271]], np.float32),
                         (x1 - 200) / 51, 1.0, colour, 1)
        scored = reader._read_candidate(frame, cand, deadline=time.perf_counter() + 10.0)
        reads.append(None if scored is None else scored.mark)
    assert all(r in (None, whole) for r in reads), reads
    assert reads.count(whole) >= len(reads) - 2, reads


def test_thresholds_that_each_fell_short_but_agree_make_a_read(reader: PlateReader) -> None:
    """Two thresholds reading the same mark just under the confidence threshold, and no
    rival at any: a read, with a confidence short of certainty. A rival, or one look
    alone, or looks far under the threshold: none."""
    cand = Candidate(np.zeros((4, 2), np.float32), 4.7, 1.0, "yellow")

    def look(mark: str, confidence: float) -> _Scored:
        return _Scored(mark, confidence, "standard", cand)

    agreed = reader._threshold_consensus([look("HT9", 0.64), look("HT9", 0.69)])
    assert agreed is not None and agreed.mark == "HT9"
    assert reader.min_confidence <= agreed.confidence < 1.0
    assert reader._threshold_consensus([look("HT9", 0.64), look("HT9", 0.69), look("HT3", 0.45)]) is None
    assert reader._threshold_consensus([look("HT9", 0.69)]) is None
    assert reader._threshold_consensus([look("HT9", 0.5), look("HT9", 0.55)]) is None


def test_an_outline_ended_by_a_shadow_between_characters_is_widened(reader: PlateReader) -> None:
    """A shadow edge across the number, between two characters: the lit part's outline
    holds a shorter valid mark ("HK51") with board on every side of it, and its crop shows
    no cut character. Only a wider look finds the row going on."""
    plate = render_plate("HK 5112", font="dejavu", colour="white")
    frame = _frame(plate)
    spans = _glyph_columns(plate)
    # Frame x = 200 + plate x * 240 / plate width (see _frame): the gap after "HK 51".
    gap = 200 + (spans[3][1] + spans[4][0]) / 2 * 240 / plate.shape[1]
    shaded = frame.astype(np.float32)
    shaded[:, int(gap):] *= 0.5
    frame = shaded.astype(np.uint8)
    cand = Candidate(np.array([[200, 220], [gap, 220], [gap, 271], [200, 271]], np.float32),
                     (gap - 200) / 51, 1.0, "white", 1)
    seg = segment(warp(frame, cand), 1)
    assert seg is not None and seg.blobs == 4 and not seg.cut
    assert _row_goes_on(frame, cand, seg, reader.glyph_model) == ("right",)
    scored = reader._read_candidate(frame, cand, deadline=time.perf_counter() + 10.0)
    assert scored is None or scored.mark == "HK5112"


def test_the_row_does_not_go_on_past_a_whole_plate(reader: PlateReader) -> None:
    frame = _frame(render_plate("HK 5112", font="dejavu", colour="white"), night=True)
    cand = Candidate(np.array([[196, 217], [444, 217], [444, 274], [196, 274]], np.float32),
                     248 / 57, 1.0, "white", 1)
    seg = segment(warp(frame, cand), 1)
    assert seg is not None and seg.blobs == 6
    assert _row_goes_on(frame, cand, seg, reader.glyph_model) == ()
