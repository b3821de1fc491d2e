"""Turn a drawing into an MNIST-like 28x28 image, the way MNIST itself was made.

A network trained on MNIST has only ever seen digits that were (LeCun et al.):

1. cropped to the ink's bounding box,
2. scaled so the longer side is 20 px, keeping the aspect ratio, with anti-aliasing,
3. placed in a 28x28 field so that the centre of mass sits on the centre (pixel 14, 14).

A drawing on a 280x280 canvas is nothing like that: the digit can be small, off-centre, drawn
with a pen 1 px or 40 px wide. Resizing the whole canvas to 28x28 (`naive_resize`) throws that
at the network and it guesses. `preprocess_canvas` repeats MNIST's recipe, plus one step MNIST
did not need: stroke-thickness normalisation. MNIST strokes are ~2-3 px wide on a 20 px digit,
whatever the writer's size; a canvas pen has a fixed width in canvas pixels, so a small digit
comes out fat after scaling and a large one hairline-thin. Two ways to fix it:

- with the canvas's strokes (fabric.js paths from streamlit-drawable-canvas's `json_data`),
  re-render the pen's path with a pen width proportional to the path's size (`render_strokes`);
- from pixels only, estimate the stroke width (area / perimeter) and grow or shrink the ink by
  that much with a signed distance transform, when it is outside MNIST's usual range.

The ink map and the pen-width measure come from `mnist.drawing.ink`, the strokes from
`mnist.drawing.strokes`; this module is the recipe. The constants were measured on MNIST's
training set.

    img = preprocess_canvas(rgba, strokes=json_data)   # (28, 28) float32 in [0, 1], or None
    model.predict_proba(img.reshape(1, 784))
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist.constants import SIDE
from mnist.drawing.ink import (INK_THRESHOLD, STROKE_RATIO_HI, STROKE_RATIO_LO, STROKE_RATIO_MID,
                               WORK_SIDE, bbox, drop_specks, resize, stroke_width, tight_crop,
                               to_ink)
from mnist.drawing.strokes import read_strokes, render_strokes

FIELD = SIDE  # MNIST image side
BOX = 20  # MNIST fits the digit's longer side to 20 px
COM_TARGET = (14.0, 14.0)  # mean centre of mass of MNIST train digits (row, col), measured
MIN_INK_PIXELS = 6  # fewer pixels above 0.5 than this: empty canvas
MIN_EXTENT = 4  # a drawing whose longer side is below this many (working) pixels is empty
SUBPIXEL_ORDER = 1  # the fractional centring shift: linear interpolation


# --------------------------------------------------------------------------------------------
# Size and position: MNIST's own recipe
# --------------------------------------------------------------------------------------------


def _scale_to_box(crop: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale a tight crop so its longer side is `box` px, keeping the aspect ratio.

    A narrow drawing (a '1') stays narrow: only the longer side is fitted, never the width.
    Downscaling uses Lanczos on floats (anti-aliased, like MNIST's grey levels).
    """
    h, w = crop.shape
    s = box / max(h, w)
    size = (max(1, min(box, round(h * s))), max(1, min(box, round(w * s))))
    return np.clip(resize(crop, size), 0.0, 1.0)


def _place_by_com(digit: np.ndarray) -> np.ndarray:
    """Paste a <=20x20 digit into a 28x28 field with its centre of mass on pixel (14, 14).

    MNIST placed digits at whole pixels (its centres of mass spread uniformly +-0.5 px around
    14.0). We place at the whole pixel and then shift the remaining fraction by linear
    interpolation: otherwise two nearly identical drawings could land a full pixel apart. The offset
    is clamped so that no ink falls off the field.
    """
    out = np.zeros((FIELD, FIELD), np.float32)
    h, w = digit.shape
    if digit.sum() <= 0:
        r0, c0 = (FIELD - h) // 2, (FIELD - w) // 2
        out[r0 : r0 + h, c0 : c0 + w] = digit
        return out
    cy, cx = ndimage.center_of_mass(digit)
    dy = float(np.clip(COM_TARGET[0] - cy, 0, FIELD - h))
    dx = float(np.clip(COM_TARGET[1] - cx, 0, FIELD - w))
    r0, c0 = int(dy), int(dx)  # whole pixels (dy, dx >= 0)
    out[r0 : r0 + h, c0 : c0 + w] = digit
    fy, fx = dy - r0, dx - c0
    if fy > 1e-3 or fx > 1e-3:
        out = ndimage.shift(out, (fy, fx), order=SUBPIXEL_ORDER, mode="constant", cval=0.0)
        np.clip(out, 0.0, 1.0, out=out)
    return out

# --------------------------------------------------------------------------------------------
# Thickness normalisation from pixels
# --------------------------------------------------------------------------------------------


def _target_ratio(ratio: float) -> float | None:
    """The stroke-width/size ratio to aim for, or None to leave the drawing alone."""
    if STROKE_RATIO_LO <= ratio <= STROKE_RATIO_HI:
        return None
    return STROKE_RATIO_MID


def _normalise_thickness(crop: np.ndarray, w: float | None = None) -> tuple[np.ndarray, bool]:
    """Grow or shrink the strokes of a tight crop towards MNIST's width/size ratio.

    Works at WORK_SIDE px: the crop is resampled there (max-pooled when shrinking so hairlines
    stay connected), its signed distance to the ink's edge is computed with an exact Euclidean
    distance transform, and the new edge is drawn `delta` px further out (or in), anti-aliased.
    Growing the stroke by delta on each side grows the size too, so for a target ratio k
    the offset solves (w + 2 delta) / (S + 2 delta) = k. Returns (image, changed).
    """
    S = max(crop.shape)
    if w is None:
        w = stroke_width(crop)
    k = _target_ratio(w / S if S else 0.0)
    if k is None:
        return crop, False
    z = WORK_SIDE / S  # native px -> working px
    pad = math.ceil(WORK_SIDE * 0.25) + 2
    size = (max(1, round(crop.shape[0] * z)), max(1, round(crop.shape[1] * z)))
    binary = (crop > 0.5).astype(np.float32)
    if z < 1 and w * z < 1.5:
        # hairline strokes would fade below 0.5 when shrunk: keep any pixel they touch
        mask = resize(binary, size, Image.BOX) > 0.02
        w_work = w * z + 1.0
    else:
        mask = resize(binary, size, Image.BILINEAR if z > 1 else Image.BOX) > 0.5
        w_work = w * z
    if not mask.any():
        mask = resize(crop, size, Image.BILINEAR) > 0.5 * crop.max()
    mask = np.pad(mask, pad)
    S_work = S * z
    delta = (k * S_work - w_work) / (2 * (1 - k))
    delta = max(delta, -0.45 * w_work)  # never erode a stroke away entirely
    # new ink = signed distance to the old edge (+ inside, - outside) + delta > 0, with a
    # 1 px linear ramp for anti-aliasing. Growing only needs the outside distances (inside
    # stays 1), shrinking only the inside ones (outside stays 0): one transform, not two.
    if delta >= 0:
        outside = ndimage.distance_transform_edt(~mask)
        out = np.where(mask, 1.0, np.clip(delta + 1.0 - outside, 0.0, 1.0))
    else:
        inside = ndimage.distance_transform_edt(mask)
        out = np.clip(inside + delta, 0.0, 1.0)
    return out.astype(np.float32), True

# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


def _run(image, strokes, keep_steps: bool):
    """Shared by preprocess_canvas and pipeline_steps: (result or None, steps)."""
    steps: list[tuple[str, np.ndarray]] = []
    if image is None and strokes is not None:
        ink = None
    else:
        ink = to_ink(image)
        if keep_steps:
            steps.append(("input (grey, ink bright)", ink))
        if ink.max() <= 0 or np.count_nonzero(ink > 0.5) < MIN_INK_PIXELS:
            return None, steps
        ink = drop_specks(ink)
    if ink is not None:
        box = bbox(ink > INK_THRESHOLD)
        if box is None:
            return None, steps
        r0, r1, c0, c1 = box
        if max(r1 - r0, c1 - c0) < MIN_EXTENT:
            return None, steps
        crop = tight_crop(ink[max(0, r0 - 2) : r1 + 2, max(0, c0 - 2) : c1 + 2])
        if keep_steps:
            steps.append(("bounding box crop", crop))

    rendered = None
    if strokes is not None:
        polys, complete, pen = read_strokes(strokes)
        if (complete or ink is None) and polys:
            extent = float(np.ptp(np.concatenate(polys), axis=0).max())
            if extent < 0.5 * pen:  # a click: a dot, no shape to read
                return None, steps
            rendered = render_strokes(polys)
        if rendered is None and ink is None:
            return None, steps
    if rendered is None:
        S, w = max(crop.shape), stroke_width(crop)
        if S < 1.5 * w:  # a single dot or blob: no shape to read
            return None, steps
    if rendered is not None:
        normal = tight_crop(rendered, 0.5)
        title = "strokes re-rendered with a pen proportional to the digit"
    else:
        normal, changed = _normalise_thickness(crop, w)
        normal = tight_crop(normal) if changed else crop
        title = "stroke thickness normalised" if changed else "stroke thickness already MNIST-like"
    if normal is None:
        return None, steps
    if keep_steps:
        steps.append((title, normal))
    digit = _scale_to_box(normal)
    if keep_steps:
        steps.append((f"scaled to {BOX} px (longer side)", digit))
    out = _place_by_com(digit)
    if keep_steps:
        steps.append(("centred in 28x28 by centre of mass", out))
    return out, steps


def preprocess_canvas(rgba, *, strokes=None) -> np.ndarray | None:
    """A canvas drawing -> (28, 28) float32 image in [0, 1] like an MNIST digit, or None.

    rgba: (H, W, 4) uint8 from streamlit-drawable-canvas (white pen on black), or any (H, W)
      grey / (H, W, 3) RGB / RGBA uint8 image, black-on-white or ink in alpha (detected).
    strokes: the canvas's `json_data` (dict or JSON string). When it describes the drawing
      (pen paths only), the paths are re-rendered with an MNIST-like pen width instead of
      using the pixels; malformed or incomplete stroke data falls back to the pixels.
      `rgba` may be None when strokes are given.
    Returns None for an empty or near-empty canvas (a few stray pixels, faint noise, a dot).
    Raises PreprocessError (a ValueError) for a non-uint8 or wrongly shaped array.
    """
    return _run(rgba, strokes, keep_steps=False)[0]


def pipeline_steps(rgba, strokes=None) -> list[tuple[str, np.ndarray]]:
    """Every intermediate image of `preprocess_canvas`, as (title, float32 image in [0, 1]).

    Steps: input grey (ink bright), bounding-box crop, thickness-normalised (or re-rendered
    strokes), scaled to 20 px, centred 28x28. An empty canvas stops after the first step.
    """
    return _run(rgba, strokes, keep_steps=True)[1]


def naive_resize(rgba) -> np.ndarray:
    """What a naive app does: the whole canvas squashed to 28x28 (ink made bright, no
    cropping, no centring). (28, 28) float32 in [0, 1]. For comparison in the UI."""
    ink = to_ink(rgba)
    return np.clip(resize(ink, (FIELD, FIELD), Image.BILINEAR), 0.0, 1.0)
