"""Multi-frame decisions: one bad frame never decides; agreement does."""

from __future__ import annotations

import pytest

from drivers.anpr.voter import PlateVoter


def test_one_confident_frame_does_not_decide() -> None:
    voter = PlateVoter()
    voter.add("AB1234", 0.99)
    assert voter.decision().plate is None


def test_agreeing_frames_decide_despite_a_wrong_one() -> None:
    voter = PlateVoter()
    for plate, conf in [("AB1234", 0.9), ("AB1284", 0.95), (None, 0.0), ("AB1234", 0.8), ("AB1234", 0.9)]:
        voter.add(plate, conf)
    decision = voter.decision()
    assert decision.plate == "AB1234" and decision.reads == 3 and decision.frames == 5
    assert 0.7 <= decision.confidence < 1.0


def test_two_plates_with_similar_weight_give_no_decision() -> None:
    voter = PlateVoter()
    for plate in ["AB1234", "XY88", "AB1234", "XY88"]:
        voter.add(plate, 0.9)
    assert voter.decision().plate is None


def test_no_reads_only_and_reset() -> None:
    voter = PlateVoter()
    for _ in range(5):
        voter.add(None, 0.0)
    assert voter.decision().plate is None and voter.decision().frames == 5
    voter.add("FU88", 0.9)
    voter.add("FU88", 0.9)
    assert voter.decision().plate == "FU88"
    voter.reset()
    assert voter.decision().plate is None and voter.decision().frames == 0


@pytest.mark.parametrize(("kwargs", "field"),
                         [({"min_agree": 0}, "min_agree"), ({"min_share": 0.4}, "min_share")])
def test_bad_settings_name_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        PlateVoter(**kwargs)  # type: ignore[arg-type]


def test_bad_confidence_is_refused() -> None:
    with pytest.raises(ValueError, match="confidence"):
        PlateVoter().add("AB1", 1.5)
