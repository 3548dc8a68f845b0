"""One frame in, one plate read (or an honest no-read) out.

Locate candidates (locate, textcue), straighten and clean each (segment), then read it
several ways with Tesseract (ocr) and with a classifier trained on plate glyphs
(glyph_model), and let the readings vote: every reading must account
for every character blob and fit the plate grammar; the layout (letters, gap, digits)
decides which characters are letters and which digits; characters read alone, out of the
LSTM's context, may veto. Confidence is the agreeing readings' confidence times their
share. Below ``min_confidence`` the answer is no read: a wrong plate is worse than none.

A mark that lost a character is often another valid mark ("DL670" as "DL67"), so before
any reading the candidate must show the whole plate: no character cut by the crop's side
and the board ending before it (extent), no characters crowding one side of a board
found by its colour (a shadow ended the colour), and no more of the row in a wider look
past the last character (a night shadow's edge ends the board's colour mid-plate) --
where any shows, the outline is widened --; no pieces of a broken character beside the
row (segment); and no threshold whose row ends a character short of another's.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import numpy as np

from drivers.anpr import glyph_model, grammar
from drivers.anpr import glyphs as glyph_shapes
from drivers.anpr.extent import open_sides
from drivers.anpr.locate import SINGLE_ROW_SIZE, WARP_MARGIN, Candidate, find_candidates, warp, widened
from drivers.anpr.ocr import LineRead, OcrEngine, open_engine
from drivers.anpr.segment import Segmented, compose, segment
from drivers.base import DeviceTimeout

log = logging.getLogger("drivers.anpr")

DEFAULT_MIN_CONFIDENCE = 0.70
DEFAULT_TIME_LIMIT_MS = 1000.0
_PERSONALISED_FACTOR = 0.92  # no grammar to cross-check a free-form mark
_MAX_CANDIDATES = 5
# Plate layout, measured on the tuning set (seeds 0-149, fonts dejavu and liberation):
# characters are centred, fill about 0.48-0.66 of a single-row crop's height (0.31-0.36
# per row on two-row plates) and are far darker than the board. Lettering on a truck
# body or a sign fills its own outline (0.7 and up) or sits off-centre.
_MAX_IMBALANCE = 1.8
_HEIGHT_RATIO = {1: (0.40, 0.68), 2: (0.26, 0.42)}
_MIN_CONTRAST = 30.0
# A personalised mark has no grammar to check it by: demand its characters well centred
# on a board found by colour, or framed by a border when found by edges or by its text.
_PERSONALISED_MAX_IMBALANCE = 1.0
# Grey levels added to Otsu's threshold, tried in turn while there is no read (tuning set:
# -12 parts characters blur has joined, +12 and +24 mend strokes blur has broken).
_INK_BIASES = (0.0, -12.0, 12.0, 24.0, -24.0, 36.0)
_RIVAL_CONFIDENCE = 0.4  # a rival mark read this confidently at another threshold blocks a consensus
_SOLO_CONFIDENCE = 0.9
_AGREED_FLOOR = 0.6
_AGREEMENT_BONUS = 0.1
_AGREED_CAP = 0.9
_MAX_GROWTH = 2
_EXTENT_THRESHOLDS = 3  # the first thresholds of _INK_BIASES whose character extents are compared
_BOARD_CUES = ("yellow", "white", "white-dim")  # outlines of the board itself, found by its colour
_PAIR_MAX_IMBALANCE = 0.3
# Outlines drawn around the characters (text) or widened past them (grown): there the
# characters' place in the outline says nothing about a plate.
_UNCENTRED_CUES = ("text", "grown")
# Margins, in character heights: characters closer than the first to a side of a board
# found by its colour, with the other side's margin wider by the second, crowd that side
# (tuning set: whole single-row plates on such boards are off-centre by 0.92 at most).
_CROWDED = (0.6, 1.0)
# The trained glyph classifier (glyph_model), per character: a view's reading votes when
# every character is this likely (tuning glyphs: no error at 0.9 and up; held-out fonts'
# glyphs: none at 0.98 and up, 2 of 560 at 0.9); both views pooled, finding another
# character than the leading mark's likelier than not vetoes it (at 0.8 a blurred M that
# Tesseract read as V got through: on the check and fresh ranges 0.5 cost no right read),
# and this sure of the same one vouches for its shape in place of the templates (glyphs).
_TRAINED_VOTE = 0.95
_TRAINED_VETO = 0.5
_TRAINED_VOUCH = 0.98
# How far past the outline to look for more of the row (plate heights), and how far past
# its last character (character heights) another must reach to count.
_LOOK_BEYOND = 1.5
_BEYOND_SHARE = 0.4
_BEYOND_WIDTH = 0.35
_BEYOND_DIGIT = 0.9
_GLYPH_VETO = 0.6  # a character read alone this confidently as something else vetoes the mark


@dataclass(frozen=True)
class PlateRead:
    """The result for one frame. ``plate`` is None for no read (then ``confidence`` says how
    close the best guess came, for diagnostics only)."""

    plate: str | None
    confidence: float
    ms: float
    kind: str = "none"  # "standard", "personalised" or "none"
    corners: np.ndarray | None = None  # where the plate was found
    reason: str = ""  # why there is no read


@dataclass(frozen=True)
class _Scored:
    mark: str
    confidence: float
    kind: str
    cand: Candidate


class PlateReader:
    """Reads plates from BGR (or grey) frames. Not thread-safe: one per worker."""

    def __init__(
        self,
        *,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        time_limit_ms: float | None = None,
        engine: OcrEngine | str | None = None,
        trained_glyphs: bool = True,
    ) -> None:
        """``time_limit_ms`` per frame; None: 1 s with the persistent Tesseract API, 5 s with a
        process per call (pytesseract pays ~100 ms of process start-up per reading).
        ``trained_glyphs=False`` reads with Tesseract and the templates alone, without the
        trained classifier (for comparison)."""
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence: must be within 0..1, got {min_confidence}")
        if time_limit_ms is not None and time_limit_ms <= 0:
            raise ValueError(f"time_limit_ms: must be > 0, got {time_limit_ms}")
        self.min_confidence = min_confidence
        self._timed_out = False
        self.engine: OcrEngine = engine if engine is not None and not isinstance(engine, str) \
            else open_engine(engine)
        if time_limit_ms is None:
            time_limit_ms = DEFAULT_TIME_LIMIT_MS * (5 if self.engine.name == "pytesseract" else 1)
        self.time_limit_ms = time_limit_ms
        glyph_shapes.prepare()
        self.glyph_model = glyph_model.load() if trained_glyphs else None

    def read(self, frame: np.ndarray) -> PlateRead:
        start = time.perf_counter()
        deadline = start + self.time_limit_ms / 1000.0
        if frame is None or frame.ndim not in (2, 3) or frame.size == 0:
            raise ValueError("frame: must be a non-empty grey or BGR image array")
        best: _Scored | None = None
        reason = "no plate found"
        self._timed_out = False
        for cand in find_candidates(frame, limit=_MAX_CANDIDATES + 1)[:_MAX_CANDIDATES]:
            left_ms = (deadline - time.perf_counter()) * 1000.0
            if left_ms <= 5:
                reason = "time limit reached"
                break
            scored = self._read_candidate(frame, cand, deadline)
            if scored is None:
                continue
            if best is None or scored.confidence > best.confidence:
                best = scored
            if best.confidence >= 0.95:
                break  # good enough; the other candidates can only cost time
        ms = (time.perf_counter() - start) * 1000.0
        if self._timed_out:
            reason = "time limit reached"
        if best is None:
            return PlateRead(None, 0.0, ms, reason=reason)
        if best.confidence < self.min_confidence:
            return PlateRead(None, best.confidence, ms, corners=best.cand.corners,
                             reason=f"best read below confidence {self.min_confidence:.2f}")
        return PlateRead(best.mark, best.confidence, ms, best.kind, best.cand.corners)

    def _read_candidate(
        self, frame: np.ndarray, cand: Candidate, deadline: float, grown: int = 0
    ) -> _Scored | None:
        """Segment and judge the candidate at Otsu's threshold; only if that gives no
        confident read, at thresholds that count more or less as ink (blur and dim light
        break thin strokes or join neighbours, and a broken character is no character).

        A read at a moved threshold is a second look, and a second look can see what is
        not there (a broken 0 as a 9): it is accepted only when another threshold read the
        same mark too, one of them confidently, and no threshold read a rival mark.

        Characters running off the crop's side at Otsu's threshold mean the outline ended
        before the plate did: the outline is widened on that side and read afresh (twice
        at most), never read short. A character Otsu's threshold sees broken (pieces of
        ink beside the row) refuses the candidate, whatever other thresholds make of it;
        and a threshold whose row ends a character short of another's is not read.
        If no two thresholds agree, one read of confidence ``_SOLO_CONFIDENCE`` with no
        rival at any threshold still counts (its shapes passed the glyph check).
        """
        flat = warp(frame, cand)
        seen: list[_Scored] = []
        first: _Scored | None = None
        # Segmenting is cheap next to reading: look at every threshold first. Where any of
        # them shows a character cut or broken, or characters further along the row than
        # another does, a read with fewer characters may be one with a glyph missing.
        # (Only thresholds near Otsu's: far from it, noise and the border join the row.)
        rows = 2 if cand.two_row else 1
        near = [segment(flat, rows, ink_bias) for ink_bias in _INK_BIASES[:_EXTENT_THRESHOLDS]]
        otsu = near[0]
        if otsu is not None:
            sides = set(otsu.cut_sides) | set(open_sides(warp(frame, cand, colour=True), otsu.extent,
                                                         otsu.band, otsu.char_px))
            if cand.cue in _BOARD_CUES and rows == 1:
                sides |= set(_crowded_sides(otsu, flat.shape[1]))
            if not sides and rows == 1:
                sides |= set(_row_goes_on(frame, cand, otsu, self.glyph_model))
            if sides and grown < _MAX_GROWTH:
                return self._read_candidate(frame, widened(cand, tuple(sorted(sides))), deadline, grown + 1)
            if sides or otsu.cut:
                return None
        whole = [seg for seg in near if seg is not None and not seg.cut]
        for k, ink_bias in enumerate(_INK_BIASES):
            seg = near[k] if k < len(near) else segment(flat, rows, ink_bias)
            if seg is None or seg.cut or not 2 <= seg.blobs <= grammar.MAX_MARK_LENGTH:
                continue
            if any(_shorter(seg, other) for other in whole):
                continue
            if not plate_like(seg, centred=cand.cue not in _UNCENTRED_CUES):
                continue
            try:
                scored = self._judge(seg, cand, deadline)
            except DeviceTimeout:
                log.debug("anpr: time limit reached on a candidate")
                self._timed_out = True
                break
            if scored is None:
                continue
            if k == 0:
                if scored.confidence >= self.min_confidence:
                    return scored
                first = scored
            seen.append(scored)
            agreed = self._threshold_consensus(seen)
            if agreed is not None:
                return agreed
        # Otsu's own read below the confidence threshold (read() reports it as no read, with
        # its confidence for diagnostics); a moved threshold's read without consensus: none.
        marks = {s.mark for s in seen if s.confidence >= _RIVAL_CONFIDENCE}
        if len(marks) == 1:
            best = max(seen, key=lambda s: s.confidence)
            if best.confidence >= _SOLO_CONFIDENCE:
                return best
        return seen[0] if seen and seen[0] is first else None

    def _threshold_consensus(self, seen: list[_Scored]) -> _Scored | None:
        marks = {s.mark for s in seen if s.confidence >= _RIVAL_CONFIDENCE}
        if len(marks) != 1:
            return None
        same = [s for s in seen if s.mark in marks]
        best = max(same, key=lambda s: s.confidence)
        if len(same) >= 2 and best.confidence >= self.min_confidence:
            return best
        if len(same) >= 2 and min(s.confidence for s in same) >= _AGREED_FLOOR:
            # Thresholds that each fell a little short but agree, with no rival: each
            # agreeing look beyond the first adds _AGREEMENT_BONUS to their mean (short of
            # certainty: looks that each doubted never add up to a sure read).
            mean = sum(s.confidence for s in same) / len(same)
            agreed = min(_AGREED_CAP, mean + _AGREEMENT_BONUS * (len(same) - 1))
            return dataclasses.replace(best, confidence=agreed)
        return None

    def _judge(self, seg: Segmented, cand: Candidate, deadline: float) -> _Scored | None:
        """Read the candidate three ways (binary, grey, thinned) and let the readings vote.

        When the layout says standard mark (two characters, then a gap or row break, then
        up to four), or a free reading of the whole plate does, each view is read as
        letters then digits with Tesseract restricted to each: the LSTM's own language
        sense otherwise reads "BE9" as "BES", and forcing that S to 5 would be a wrong read.
        A free reading that holds a character the layout cannot explain (a K where a digit
        must be) vetoes the standard reading: it may be a personalised mark. Otherwise each
        view is read freely as a personalised mark, refused when one slip away from a
        standard mark. A standard mark is also read in each view by the trained glyph
        classifier. The leading mark needs two agreeing readings and no equal rival, and
        no character the classifier finds likelier another; its confidence is their mean
        confidence times their share of all valid readings.
        """
        free = self.engine.read_line(seg.line, _left_ms(deadline))
        free_text = grammar.normalise(free.text)
        split = None
        groups = seg.groups
        if len(groups) == 2 and len(groups[0]) == 2 and 1 <= len(groups[1]) <= 4:
            split = 2
        elif len(groups) == 1 and 3 <= len(free_text) == seg.blobs <= 6 and grammar.near_standard(free_text):
            # No gap seen (blur can hide it): the reading, not the layout, says standard
            # (or one slip from it: "ARY", the LSTM's guess at AR9 with its 9 after letters).
            split = 2
        suspects: list[int] = []
        if split is not None and len(free_text) == seg.blobs:
            unexplained, suspects = _unexplained(free_text, free, split)
            if unexplained in ("letters", "doubt"):
                # A 9 where a letter must be, or one K where a digit must be: a personalised
                # mark laid out like a standard one, or a misread. No reading can tell which.
                return None
            if unexplained == "digits":
                split = None  # letters where digits must be: a personalised mark ("ZH NKVP")
                suspects = []
        votes: dict[str, list[float]] = {}
        views = seg.views()
        if split is not None:
            kind = "standard"
            if free_text == grammar.normalise(free.text) and grammar.is_standard(free_text) \
                    and len(free_text) == seg.blobs:
                votes[free_text] = [_score(free)]  # uncorrected only: a forced fix is no evidence
            for k, view in enumerate(views):
                if k == 2 and len(votes) == 1 and len(next(iter(votes.values()))) == 3:
                    break  # three readings agree already: the last view cannot change that
                letters = self.engine.read_line(
                    compose(view[:split]), _left_ms(deadline), grammar.PLATE_LETTERS)
                if len(view) - split == 1:  # one digit: a line of one glyph often reads empty
                    digits = self._read_lone_digit(view[split], deadline)
                else:
                    digits = self.engine.read_line(
                        compose(view[split:]), _left_ms(deadline), grammar.PLATE_DIGITS)
                mark = letters.text + digits.text
                if len(mark) == seg.blobs and grammar.is_standard(mark):
                    votes.setdefault(mark, []).append(_score(letters, digits))
        else:
            kind = "personalised"
            # No grammar to check a free-form mark by: demand a plate, that is a board found
            # by its colour with the characters centred, or, where the outline came from
            # edges or the characters themselves, a border framing them.
            if seg.imbalance > _PERSONALISED_MAX_IMBALANCE and cand.cue not in _UNCENTRED_CUES:
                return None
            if cand.cue in ("edges", *_UNCENTRED_CUES) and not seg.framed:
                return None
            for k, view in enumerate(views):
                read = free if k == 0 else self.engine.read_line(compose(view), _left_ms(deadline))
                mark = grammar.normalise(read.text)
                if grammar.near_standard(mark) and not _whole_letter_pair(mark, seg, cand):
                    return None  # a blurred standard mark as likely as a personalised one
                if len(mark) == seg.blobs and grammar.check(mark).kind == "personalised":
                    votes.setdefault(mark, []).append(_score(read))
        charsets = [grammar.PLATE_CHARSET if split is None or i in suspects else
                    (grammar.PLATE_LETTERS if i < split else grammar.PLATE_DIGITS) for i in range(seg.blobs)]
        opinions = [glyph_model.view_opinion(self.glyph_model, view, charsets) for view in views] \
            if self.glyph_model is not None else []
        if split is not None:
            # Each view read by the trained classifier is one more reading of a standard
            # mark. (Not of a personalised one: the classifier names any blob some
            # character, and only the grammar tells a plate from lettering.)
            for mark, score in _trained_readings(opinions):
                votes.setdefault(mark, []).append(score)
        if not votes:
            return None
        ranked = sorted(votes.items(), key=lambda kv: (len(kv[1]), sum(kv[1])), reverse=True)
        mark, scores = ranked[0]
        pooled = glyph_model.pooled(opinions[:2])
        if any(char != read and p >= _TRAINED_VETO for (char, p), read in zip(pooled, mark, strict=False)):
            return None  # the classifier finds another character likelier somewhere
        vouched = {i for i, ((char, p), read) in enumerate(zip(pooled, mark, strict=False))
                   if char == read and p >= _TRAINED_VOUCH}
        disagrees, alone = self._glyph_check(views[:2], mark, split, suspects, deadline, vouched)
        if disagrees:
            return None
        if alone is not None:
            # Read alone, out of the LSTM's context, the characters spelt the leading mark:
            # evidence independent of the line readings, so it counts as one more reading.
            scores = [*scores, alone]
            votes[mark] = scores
        valid = sum(len(v) for v in votes.values())
        conf = sum(scores) / len(scores) * len(scores) / valid
        if len(scores) < 2 or (len(ranked) > 1 and len(ranked[1][1]) == len(scores)):
            conf *= 0.5  # one reading alone, or a tie, decides nothing
        if kind == "personalised":
            conf *= _PERSONALISED_FACTOR
        return _Scored(mark, conf, kind, cand)

    def _glyph_check(
        self, views: list[list[np.ndarray]], mark: str, split: int | None, suspects: list[int],
        deadline: float, vouched: set[int],
    ) -> tuple[bool, float | None]:
        """Read each character alone, out of context: (a confident contradiction, the
        score of an agreeing spelling or None).

        Tesseract's LSTM reads a line with a sense of what usually follows what, and that
        sense is consistent across views: "HFP" comes out "HEP" in all of them. A lone
        character has no context to mislead it. ``suspects``: places where the free reading
        saw a letter that looks like a digit (Y for 9); there any letter read alone vetoes.
        A contradiction is confirmed on the glyph's second view (grey levels) before it
        vetoes: a lone glyph now and then reads as nonsense (a bold V as N) in one view only.
        The lone readings agree when every character came out as the mark has it, but for
        at most one (never of a one-to-three character mark) that came out as nothing.
        Before any reading, each character's shape (glyphs) is compared with templates of
        every character the grammar allows at its place, in both views: a shape that
        prefers another character is split evidence, and the mark is refused. Characters
        ``vouched`` for by the trained classifier skip that comparison (on the tuning set
        the templates refused 14 right reads in 68 no-reads; the classifier is the sharper
        judge of shape).
        """
        confs: list[float] = []
        missing = 0
        for i, char in enumerate(mark):
            if split is None or i in suspects:
                charset = grammar.PLATE_CHARSET
            else:
                charset = grammar.PLATE_LETTERS if i < split else grammar.PLATE_DIGITS
            # A personalised mark allows S and 5, D and 0 alike, shapes that fonts draw all
            # but the same: there only the look-alike pairs are compared.
            allowed = charset if split is not None and i not in suspects else ""
            # Both views, binary and grey, must vouch for the shape: a blurred M thresholded
            # into a blob can look more like a W than an M, its grey levels less so.
            if i not in vouched and any(glyph_shapes.doubtful(view[i], char, allowed) for view in views):
                return True, None  # its shape prefers another character allowed there
            reads = self._read_alone(views[0][i], charset, char, deadline)
            if reads[-1].text == char:
                confs.append(reads[-1].min_confidence)
                continue
            if any(len(r.text) == 1 and r.min_confidence >= _GLYPH_VETO for r in reads):
                again = self._read_alone(views[-1][i], charset, char, deadline)
                if again[-1].text != char:
                    return True, None
                missing += 2  # the views disagree: no agreement either
            elif not any(r.text for r in reads):
                missing += 1
            else:
                missing += 2  # something else, unsure: no agreement
        if missing > (1 if len(mark) >= 4 else 0) or not confs:
            return False, None
        return False, 0.5 * min(confs) + 0.5 * sum(confs) / len(confs)

    def _read_lone_digit(self, glyph: np.ndarray, deadline: float) -> LineRead:
        """A number of one digit, read as a word and, if that reads nothing, drawn twice.

        Tesseract's LSTM often reads nothing at all in a line of one glyph; the same glyph
        twice is a line it reads. Both copies must come out the same digit."""
        digit = self.engine.read_line(compose([glyph]), _left_ms(deadline), grammar.PLATE_DIGITS, word=True)
        if digit.text:
            return digit
        twice = self.engine.read_line(compose([glyph, glyph]), _left_ms(deadline), grammar.PLATE_DIGITS)
        if len(twice.text) == 2 and twice.text[0] == twice.text[1]:
            return LineRead(twice.text[0], (min(twice.confidences),))
        return digit

    def _read_alone(self, glyph: np.ndarray, charset: str, char: str, deadline: float) -> list[LineRead]:
        """One character read alone, as a line and, unless that found ``char``, as a word.

        Each mode has its blind spots on a lone glyph: as a word Tesseract reads a bold V as
        N, as a line a P as D, or a blurred F as "FE", or nothing at all. The last reading
        is ``char`` when either mode found it.
        """
        image = compose([glyph])
        reads = [self.engine.read_line(image, _left_ms(deadline), charset)]
        if reads[0].text != char:
            reads.append(self.engine.read_line(image, _left_ms(deadline), charset, word=True))
        return reads

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> PlateReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plate_like(seg: Segmented, *, centred: bool = True) -> bool:
    """Whether the characters sit in the candidate as on a plate: centred, and filling a
    plate's share of its height (lettering on a truck body fills its own outline).

    ``centred=False`` for outlines drawn around the characters themselves (the text cue),
    where centring says nothing about the plate."""
    low, high = _HEIGHT_RATIO[seg.rows]
    return (seg.contrast >= _MIN_CONTRAST and (not centred or seg.imbalance <= _MAX_IMBALANCE)
            and low <= seg.height_ratio <= high)


def _shorter(seg: Segmented, other: Segmented) -> bool:
    """Whether ``other`` (another threshold) found a character just past the end of
    ``seg``'s last: then ``seg`` lost one, and its read would be a shorter, valid, wrong
    mark ("CT7" of "CT71"). Further out than a character's pitch stands the border or a
    bolt; before the first character, a lost letter leaves no standard mark."""
    beyond = other.extent[1] - seg.extent[1]
    return 0.4 * seg.char_px < beyond <= 1.6 * seg.char_px


def _trained_readings(opinions: list[list[dict[str, float]] | None]) -> list[tuple[str, float]]:
    """Each view's reading by the trained classifier, as a standard mark and its score
    (the least likely character's probability), where every character is likely enough."""
    readings = []
    for opinion in opinions:
        if opinion is None:
            continue
        chars = glyph_model.likeliest(opinion)
        mark = "".join(char for char, _ in chars)
        score = min((p for _, p in chars), default=0.0)
        if score >= _TRAINED_VOTE and grammar.is_standard(mark):
            readings.append((mark, score))
    return readings


def _row_goes_on(frame: np.ndarray, cand: Candidate, seg: Segmented,
                 model: glyph_model.GlyphModel | None) -> tuple[str, ...]:
    """The sides where more characters stand on the row just past the outline: seen in a
    crop widened by ``_LOOK_BEYOND`` plate heights each way, the row has more characters
    and reaches further. An outline that ended at a shadow's edge across a night plate
    ("DP 5" of "DP 5865") passes every check of its own crop: the board seems to end there."""
    wide = segment(warp(frame, widened(cand, ("left", "right"), by=_LOOK_BEYOND)), 1)
    if wide is None or wide.blobs <= seg.blobs:
        return ()
    last = SINGLE_ROW_SIZE[0] - 1
    span = max(1.0, cand.aspect)  # the outline's length in plate heights

    def unwidened(x: int) -> float:  # a column of the widened crop in the outline's crop
        along = ((x / last - WARP_MARGIN) / (1 - 2 * WARP_MARGIN)) * (span + 2 * _LOOK_BEYOND) - _LOOK_BEYOND
        return (WARP_MARGIN + (1 - 2 * WARP_MARGIN) * along / span) * last

    # Only past the last character: a standard mark that lost its first letter is no
    # standard mark, and the widened crop's left holds what stood before the plate.
    # The glyph past the end must be as wide as a character (a plate's border side, now
    # inside the crop, is a thin upright) and, to the trained classifier, clearly a digit
    # among all characters, as a standard mark's last character is (lettering painted
    # beside a plate reads as letters; at night the dark scene beside the board breaks
    # into ragged blobs that read as nothing clearly).
    last_glyph = wide.glyphs[-1]
    if unwidened(wide.extent[1]) - seg.extent[1] <= _BEYOND_SHARE * seg.char_px \
            or last_glyph.shape[1] < _BEYOND_WIDTH * last_glyph.shape[0]:
        return ()
    if model is not None:
        char, p = model.best(last_glyph)
        if not char.isdigit() or p < _BEYOND_DIGIT:
            return ()
    return ("right",)


def _crowded_sides(seg: Segmented, width: int) -> tuple[str, ...]:
    """The side where the characters run up to the edge of a board found by its colour
    while the other side keeps a wide margin: a plate's characters are centred with bare
    board on both sides, so the colour stopped short of the board (a shadow across it,
    "GM 3847" outlined as "GM 38")."""
    left, right = seg.extent[0], width - seg.extent[1]
    tight, wide = _CROWDED
    if right < tight * seg.char_px and left > right + wide * seg.char_px:
        return ("right",)
    if left < tight * seg.char_px and right > left + wide * seg.char_px:
        return ("left",)
    return ()


def _whole_letter_pair(mark: str, seg: Segmented, cand: Candidate) -> bool:
    """Whether a two-letter mark ("UW") is whole, not a standard mark whose number was lost.

    A lost number leaves the letters well left of the board's centre (the number and the
    painted space are a character height or more), and a broken one leaves ink beside them
    (``seg.cut``). So the board's own outline (found by its colour, of a single-row
    plate's shape, framed by its border) must hold the two letters centred."""
    return (len(mark) == 2 and mark.isalpha() and cand.cue in _BOARD_CUES and cand.aspect >= 3.8
            and seg.framed and not seg.cut and seg.imbalance <= _PAIR_MAX_IMBALANCE)


def _unexplained(text: str, read: LineRead, split: int) -> tuple[str, list[int]]:
    """Where a confident free reading has characters no confusion explains, and the places
    of letters among the digits that merely look like digits (Y for 9: "suspects").

    "letters": a digit among the letters other than a letter's look-alike (blur turns J
    into 3, not into 9); "digits": letters among the digits, at least one looking like no
    digit, as in a personalised "ZH NKVP" or "FJ H6L"; "doubt": a single letter among the
    digits that looks like no digit, which no reading can settle; "" when all is explained.
    """
    strangers = 0
    swapped = 0  # digits among the letters that look like a letter (8 for B)
    suspects: list[int] = []
    for i, char in enumerate(text):
        confident = i < len(read.confidences) and read.confidences[i] >= 0.8
        if i >= split and char.isalpha() and char not in "BSZOIQ" and grammar.looks_like_digit(char):
            suspects.append(i)
            continue
        if not confident:
            continue
        if i < split and char.isdigit():
            if not grammar.looks_like_letter(char):
                return "letters", suspects
            swapped += 1
        if i >= split and char.isalpha() and char not in "BSZOIQ":
            strangers += 1
    # A letter among the digits that looks like no digit, and another slip besides (a
    # digit among the letters, as in "S8 4BX"): two slips from a standard mark, personalised.
    if strangers and strangers + len(suspects) + swapped >= 2:
        return "digits", suspects
    return ("doubt" if strangers else ""), suspects


def _score(*reads: LineRead) -> float:
    confs = [c for read in reads for c in read.confidences]
    if not confs:
        return 0.0
    return 0.5 * min(confs) + 0.5 * sum(confs) / len(confs)


def _left_ms(deadline: float) -> int:
    left = int((deadline - time.perf_counter()) * 1000.0)
    if left <= 0:
        raise DeviceTimeout("anpr: frame time limit reached")
    return left
