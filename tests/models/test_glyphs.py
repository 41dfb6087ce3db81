"""The glyph data: deterministic, binary, with the holes of 0 and 8 left empty."""

import numpy as np
import pytest

from ils_ref.models import glyphs as G


def test_the_same_seed_gives_the_same_images_and_another_seed_others():
    a, la = G.glyphs(40, seed=3)
    b, lb = G.glyphs(40, seed=3)
    c, _ = G.glyphs(40, seed=4)
    assert a.tobytes() == b.tobytes() and np.array_equal(la, lb)
    assert not np.array_equal(a, c)
    assert a.shape == (40, 256) and set(np.unique(a)) == {0.0, 1.0}
    assert la.min() >= 0 and la.max() < len(G.FONTS) * len(G.CHARACTERS)
    ink = a.mean(axis=1)
    assert 0.03 < ink.min() and ink.max() < 0.5  # every image has a glyph, none is a filled block


def test_train_and_test_are_disjoint_renderings_of_one_run():
    train, test = G.train_test(30, 10, seed=1)
    every, _ = G.glyphs(40, seed=1)
    assert np.array_equal(np.concatenate([train, test]), every)


@pytest.mark.parametrize("character", ["0", "8", "4"])
def test_holes_stay_empty(character):
    """The even-odd rule: the inner contour of a 0 or 8 is a hole (one contains_points over the outline fills it)."""
    contours = G._outline(character, G.FONTS[0])
    assert len(contours) >= 2
    # a point inside the outer contour and inside an inner one: filled by the outline, empty by the glyph
    inner = min(contours, key=lambda c: c.get_extents().width * c.get_extents().height)
    centre = inner.vertices[:-1].mean(axis=0)[None]
    assert any(c.contains_points(centre)[0] for c in contours if c is not inner)
    assert not G._inside(contours, centre)[0]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n"):
        G.glyphs(0)
    with pytest.raises(ValueError, match="size"):
        G.glyphs(3, size=4)
    with pytest.raises(TypeError, match="seed"):
        G.glyphs(3, seed=1.5)
