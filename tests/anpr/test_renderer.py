"""The seeded plate/frame renderer shared with the camera simulator."""

from __future__ import annotations

import numpy as np
import pytest

from simulators import plates


def test_same_seed_same_frame_and_truth() -> None:
    a = plates.sample_for_seed(7, "hard")
    b = plates.sample_for_seed(7, "hard")
    assert a.plate == b.plate and np.array_equal(a.image, b.image)
    c = plates.sample_for_seed(8, "hard")
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("level", plates.LEVELS)
def test_every_level_renders_a_camera_frame(level: str) -> None:
    sample = plates.sample_for_seed(3, level, fonts=plates.HELD_OUT_FONTS)
    assert sample.image.shape == (480, 640, 3) and sample.image.dtype == np.uint8
    assert sample.font in plates.HELD_OUT_FONTS
    if level == "none":
        assert sample.plate is None and sample.corners is None
    else:
        assert sample.plate and sample.corners is not None
        # The plate lies inside the frame.
        assert (sample.corners >= 0).all() and (sample.corners[:, 0] < 640).all()
        assert sample.rows == (2 if level == "two_row" else 1)


def test_render_frame_is_the_image_of_render_sample() -> None:
    frame = plates.render_frame("AB 1234", rng=np.random.default_rng(1), level="normal", font="liberation")
    sample = plates.render_sample("AB 1234", rng=np.random.default_rng(1), level="normal", font="liberation")
    assert np.array_equal(frame, sample.image) and sample.plate == "AB1234"


def test_the_plate_region_is_plate_coloured() -> None:
    sample = plates.render_sample("XY 88", rng=np.random.default_rng(5), level="normal")
    assert sample.corners is not None
    centre = sample.corners.mean(axis=0).astype(int)
    # Somewhere across the middle row of the plate there is bright board.
    row = sample.image[centre[1], int(sample.corners[0, 0]) + 5:int(sample.corners[1, 0]) - 5]
    assert row.max() > 180


def test_night_frames_are_grey() -> None:
    nights = [s for s in (plates.sample_for_seed(k, "hard") for k in range(12)) if s.night]
    assert nights, "a third of hard frames should be night frames"
    for sample in nights:
        b, g, r = (sample.image[..., k].astype(int) for k in range(3))
        assert np.abs(b - g).max() <= 8 and np.abs(g - r).max() <= 8


def test_two_row_plate_puts_letters_above_digits() -> None:
    flat = plates.render_plate("KT 4567", rows=2)
    h = flat.shape[0]
    dark = (flat.mean(axis=2) < 80)
    top, bottom = dark[int(h * 0.15):h // 2], dark[h // 2:int(h * 0.85)]
    assert top.any() and bottom.any()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"level": "blurry"}, "level"), ({"font": "comic"}, "font")],
)
def test_bad_options_name_the_field(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(plates.PlateRenderError, match=field):
        plates.render_sample("AB 1", rng=np.random.default_rng(0), **kwargs)  # type: ignore[arg-type]


def test_bad_plate_text_is_refused() -> None:
    with pytest.raises(plates.PlateRenderError, match="plate"):
        plates.render_plate("ABCDEFGHJ")
    with pytest.raises(plates.PlateRenderError, match="rows"):
        plates.render_plate("AB 1", rows=3)


def test_random_plate_kinds() -> None:
    rng = np.random.default_rng(2)
    assert all(p[:2] in plates.CROSS_BOUNDARY_PREFIXES for p in
               (plates.random_plate(rng, "cross_boundary") for _ in range(20)))
    assert all(len(p) <= 8 for p in (plates.random_plate(rng, "personalised") for _ in range(50)))
    with pytest.raises(plates.PlateRenderError, match="kind"):
        plates.random_plate(rng, "diplomatic")
