"""Binarised glyphs: a small image dataset drawn on this machine, deterministically, with no download.

Each image is one digit ``0``–``9`` in one of the fonts matplotlib ships
(DejaVu Sans, Serif and Sans Mono Bold), scaled, rotated and shifted by a
seeded random amount, and rasterised at ``size × size`` by testing every
pixel centre against the glyph's contours (:meth:`matplotlib.path.Path.contains_points`,
even-odd rule).
A pixel is 1 inside the outline and 0 outside: binary by construction, with
no anti-aliasing and no renderer in the loop, so the same seed gives the same
images on every machine with the same font files.

Why not MNIST: it needs a download, and its licence and hosting are outside
the package's control.  Glyphs keep what matters for a latent-variable model:
a few dozen prototypes (10 digits × 3 fonts) with continuous nuisance
variation (size, angle, position), so a handful of categorical latents can
explain most of an image but not all of it.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from ..validation import checked

#: The fonts, from matplotlib's own ``mpl-data/fonts/ttf`` (never a system font).
FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono-Bold.ttf")
#: The characters drawn.
CHARACTERS = "0123456789"


@lru_cache(maxsize=None)
def _outline(character: str, font: str):
    """The glyph's contours (closed polygons), centred on its bounding box and scaled to height 1."""
    import matplotlib
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path
    from matplotlib.textpath import TextPath

    prop = FontProperties(fname=os.path.join(matplotlib.get_data_path(), "fonts", "ttf", font))
    path = TextPath((0.0, 0.0), character, size=1.0, prop=prop)
    box = path.get_extents()
    centred = (path.vertices - [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]) / box.height
    return tuple(Path(polygon) for polygon in Path(centred, path.codes).to_polygons(closed_only=True))


def _inside(contours, points: np.ndarray) -> np.ndarray:
    """Even-odd rule: a point is inside when an odd number of contours enclose it (holes of 0, 4, 6, 8, 9)."""
    parity = np.zeros(len(points), dtype=bool)
    for contour in contours:
        parity ^= contour.contains_points(points)
    return parity


def glyphs(n: int, *, seed: int = 0, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """``n`` binarised glyph images and their labels, from ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    n : int
        Number of images, ``>= 1``.
    seed : int
        The generator's seed; the same seed gives the same images.
    size : int, default 16
        Images are ``size × size`` pixels, ``size >= 8``.

    Returns
    -------
    images : ndarray, shape (n, size * size), entries 0.0 or 1.0
        Row-major pixels, the first row at the top.
    labels : ndarray of int, shape (n,)
        ``10 · font + digit``: which of the 30 prototypes was drawn.

    Notes
    -----
    The glyph's height is ``U[0.55, 0.8] · size``, its angle ``U[-15°, 15°]``,
    its centre ``size/2 + U[-1.5, 1.5]`` pixels in each direction.  Each
    image is one :meth:`~matplotlib.path.Path.contains_points` call on the
    pixel centres mapped back into the glyph's frame (a loop over images, not
    pixels).
    """
    n, seed, size = checked(n=("int", n, 1), seed=("int", seed, 0), size=("int", size, 8))
    rng = np.random.default_rng([seed, size])
    labels = rng.integers(len(FONTS) * len(CHARACTERS), size=n)
    height = rng.uniform(0.55, 0.8, size=n) * size
    angle = np.deg2rad(rng.uniform(-15.0, 15.0, size=n))
    centre = size / 2 + rng.uniform(-1.5, 1.5, size=(n, 2))
    # pixel centres in image coordinates, y pointing up so that row 0 is the top of the glyph
    rows, cols = np.divmod(np.arange(size * size), size)
    pixels = np.stack([cols + 0.5, size - (rows + 0.5)], axis=1)
    images = np.empty((n, size * size))
    for i in range(n):
        font, digit = divmod(int(labels[i]), len(CHARACTERS))
        c, s = np.cos(angle[i]), np.sin(angle[i])
        # invert "scale by height, rotate by angle, move to centre": the glyph stays in its own frame
        local = (pixels - centre[i]) @ np.array([[c, -s], [s, c]]) / height[i]
        images[i] = _inside(_outline(CHARACTERS[digit], FONTS[font]), local)
    return images, labels


def train_test(n_train: int = 2000, n_test: int = 500, *, seed: int = 0, size: int = 16):
    """A train/test split of :func:`glyphs`: ``(train, test)`` images, drawn in one run of one generator.

    The test images are further renderings of the same prototypes, never
    seen in training (different sizes, angles and positions).
    """
    n_train, n_test = checked(n_train=("int", n_train, 1), n_test=("int", n_test, 1))
    images, _ = glyphs(n_train + n_test, seed=seed, size=size)
    return images[:n_train], images[n_train:]
