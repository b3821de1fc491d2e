"""Any picture of a digit -> an "ink map", and what can be measured on one.

A drawing reaches us as a canvas RGBA (white pen on black), a photo of paper (dark ink on
light), a transparent PNG (ink in alpha) or a grey array. `to_ink` turns all of them into one
form: a float32 map, background 0, ink 1. The rest of the drawing pipeline works on that:
bounding boxes, dropping stray specks, and the pen width (`stroke_width`), which MNIST keeps at
about an eighth of the digit's size whatever the writer's pen.

The constants below were measured on MNIST's training set.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist.errors import PreprocessError

MAX_SIDE = 1024  # larger inputs are max-pooled down first (time and memory stay bounded)
MAX_PIXELS = 250_000_000  # beyond this we refuse: the caller already holds a >1 GB array

# Stroke width / longer bbox side. On MNIST train digits (measured with `stroke_width` on 10x
# bilinear-upscaled digits) the 25th/50th/75th percentiles are about 0.108/0.126/0.151.
# Drawings inside [LO, HI] are left alone (MNIST digits pasted into a canvas come back almost
# unchanged); outside, they are brought to MID, which is also the pen of re-rendered strokes.
# MID sits in MNIST's bolder half: on synthetic pen drawings and font digits the bundled model
# was slightly more accurate at 0.15 than at the median (0.955 vs 0.95 and 0.95 vs 0.92).
STROKE_RATIO_LO = 0.105
STROKE_RATIO_MID = 0.15
STROKE_RATIO_HI = 0.165

INK_THRESHOLD = 0.2  # ink map value that counts as ink for bounding boxes and components
MIN_CONTRAST = 40 / 255  # weaker ink than this (vs the background) is noise: empty canvas
SPECK_FRACTION = 0.025  # connected blobs with less than this share of the ink are dropped
WORK_SIDE = 80  # working resolution (px, longer side) for thickness changes and rendering


# --------------------------------------------------------------------------------------------
# Input: any uint8 image -> "ink map" (float32, background 0, ink 1)
# --------------------------------------------------------------------------------------------


def _as_image_array(image) -> np.ndarray:
    """Validate and return a (H, W, C) uint8 view, C in {1, 2, 3, 4}."""
    if image is None:
        raise PreprocessError("no image given (None)")
    if isinstance(image, Image.Image):  # a PIL image: palette, 1-bit, 16-bit... -> 8-bit
        image = image if image.mode in ("L", "LA", "RGB", "RGBA") else image.convert("RGBA")
    a = np.asarray(image)
    if a.dtype == object:
        raise PreprocessError("image must be a numeric array, got dtype=object")
    if a.dtype != np.uint8:
        raise PreprocessError(
            f"image must have dtype uint8 (0..255 per channel), got {a.dtype}; "
            "convert with (img * 255).round().astype(np.uint8) if it is a float image in [0, 1]"
        )
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise PreprocessError(
            f"image must be (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA, got shape {a.shape}"
        )
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise PreprocessError(f"image has no pixels (shape {a.shape})")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise PreprocessError(
            f"image is {a.shape[1]}x{a.shape[0]} = {a.shape[0] * a.shape[1] / 1e6:.0f} "
            f"megapixels, more than the {MAX_PIXELS / 1e6:.0f} MP this preprocessing accepts; "
            "downscale it first"
        )
    return a


def _channel_mode(a: np.ndarray) -> str:
    """Which channel carries the drawing: "alpha", "luma" (colour), "grey" or "empty".

    If alpha varies, the background is transparent and the ink is wherever alpha is high,
    whatever its colour (black ink on a transparent PNG, or the canvas's white pen). A fully
    transparent image shows nothing. Otherwise the drawing is in the luminance.
    """
    c = a.shape[2]
    if c in (2, 4):
        alpha = a[..., c - 1]
        lo, hi = int(alpha.min()), int(alpha.max())
        if hi - lo > 32:
            return "alpha"
        if hi < 8:
            return "empty"
    return "luma" if c >= 3 else "grey"


def _channel(a: np.ndarray, mode: str) -> np.ndarray:
    """That channel as a new float32 array, 0..255."""
    if mode == "alpha":
        return a[..., a.shape[2] - 1].astype(np.float32)
    if mode == "empty":
        return np.zeros(a.shape[:2], np.float32)
    if mode == "luma":  # ITU-R 601 luma, in float32 without a (H, W, 3) float copy
        luma = a[..., 0] * np.float32(0.299)
        luma += a[..., 1] * np.float32(0.587)
        luma += a[..., 2] * np.float32(0.114)
        return luma
    return a[..., 0].astype(np.float32)


def _background_level(ch: np.ndarray) -> float:
    """Estimate the background value of a channel: the border's median if most of the
    border agrees with it (a digit may touch the border), else the whole image's median
    (the ink rarely covers half of the picture)."""
    border = np.concatenate([ch[0], ch[-1], ch[1:-1, 0], ch[1:-1, -1]])
    med = float(np.median(border))
    if np.mean(np.abs(border - med) <= 32) >= 0.6:
        return med
    return float(np.median(ch))


def to_ink(image) -> np.ndarray:
    """Any supported image -> (h, w) float32 ink map: background 0, ink 1.

    Accepts (H, W) grey, (H, W, 3) RGB, (H, W, 4) RGBA uint8; white-on-black, black-on-white
    or ink in the alpha channel. Images larger than MAX_SIDE on a side are max-pooled down by an
    integer factor (max, not mean, so that hairline strokes survive), in strips so that memory
    stays bounded. Contrast is stretched so the strongest ink is 1; an image whose ink is
    weaker than MIN_CONTRAST comes back all zeros (it is empty).
    """
    a = _as_image_array(image)
    H, W = a.shape[:2]
    f = max(1, math.ceil(max(H, W) / MAX_SIDE))
    # channel, polarity and background from a strided sample: cheap even for a huge image
    mode = _channel_mode(a[::f, ::f])
    sample = _channel(a[::f, ::f], mode)
    bg = _background_level(sample)
    sign = -1.0 if bg > 127.5 else 1.0  # light background: ink is darker than it
    if f == 1:
        ink = sample
        ink -= bg
        ink *= sign
        np.maximum(ink, 0.0, out=ink)
    else:
        h, w = -(-H // f), -(-W // f)
        ink = np.zeros((h, w), np.float32)
        rows = max(1, (8_000_000 // (W * 4)) // f)  # output rows per strip (~8M input values)
        for r0 in range(0, h, rows):
            strip = a[r0 * f : (r0 + rows) * f]
            ch = _channel(strip, mode)
            v = np.maximum((ch - bg) * sign, 0.0)
            hs = -(-v.shape[0] // f)
            v = np.pad(v, ((0, hs * f - v.shape[0]), (0, w * f - W)))
            ink[r0 : r0 + hs] = v.reshape(hs, f, w, f).max(axis=(1, 3))
    peak = float(ink.max())
    if peak < MIN_CONTRAST * 255:
        return np.zeros_like(ink, dtype=np.float32)
    return np.clip(ink / peak, 0.0, 1.0).astype(np.float32)

# --------------------------------------------------------------------------------------------
# Geometry and measurement
# --------------------------------------------------------------------------------------------


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(r0, r1, c0, c1) half-open bounding box of True pixels, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def tight_crop(ink: np.ndarray, threshold: float = 0.05) -> np.ndarray | None:
    box = bbox(ink > threshold)
    if box is None:
        return None
    r0, r1, c0, c1 = box
    return ink[r0:r1, c0:c1]


def drop_specks(ink: np.ndarray) -> np.ndarray:
    """Remove tiny separate blobs (stray clicks, noise) that would blow up the bounding box.

    Connected components are found on a coarse grid (blocks of f x f pixels, <= 128 blocks a
    side: labelling the full canvas was the slowest step); blocks closer than a block merge,
    which only ever keeps more ink.
    """
    H, W = ink.shape
    f = max(1, math.ceil(max(H, W) / 128))
    h, w = -(-H // f), -(-W // f)
    if f > 1:  # ink per block (Pillow's box filter is the fastest block mean here)
        mass = resize(ink, (h, w), Image.BOX) * np.float32(H * W / (h * w))
    else:
        mass = ink
    labels, n = ndimage.label(mass > INK_THRESHOLD, structure=np.ones((3, 3), bool))
    if n <= 1:
        return ink
    m = ndimage.sum_labels(mass, labels, index=np.arange(1, n + 1))
    small = m < SPECK_FRACTION * m.sum()
    if not small.any():
        return ink
    keep = np.concatenate([[False], ~small])[labels]
    # keep the faint anti-aliased fringe around the kept blobs, drop everything else
    keep = ndimage.binary_dilation(keep, iterations=1 if f > 1 else 2)
    if f > 1:
        keep = np.asarray(Image.fromarray(keep.astype(np.uint8)).resize((W, H), Image.NEAREST))
    return np.where(keep, ink, 0.0).astype(np.float32)


def stroke_width(ink: np.ndarray) -> float:
    """Estimate the pen width (px) of an ink map (a tight crop of one drawing).

    Thin and medium strokes: from area and perimeter. A stroke of width w and length L has
    area A = w L and perimeter P = 2 (L + w), so w = (P/2 - sqrt(P^2/4 - 4A)) / 2: exact for a
    straight stroke, close for curves and loops (a ring gives w + w^2/L). The perimeter is the
    total variation sum |grad ink|, which counts an edge once however much it is anti-aliased.
    Very thick strokes (fat rings, blobs) break that model; there the width is twice the
    typical inscribed radius: the median distance transform on its ridge, measured at 64 px.
    """
    v = np.pad(np.asarray(ink, np.float32), 2)
    A = float(v.sum())
    gy, gx = np.gradient(v)
    P = float(np.sqrt(gx * gx + gy * gy).sum())
    if A <= 0 or P <= 0:
        return 0.0
    S = max(ink.shape)
    disc = (P / 2) ** 2 - 4 * A
    w = (P / 2 - math.sqrt(disc)) / 2 if disc > 0 else P / 4
    if disc > 0 and w < 0.25 * S:
        return w
    return min(w, _ridge_width(ink))


def _ridge_width(ink: np.ndarray, side: int = 64) -> float:
    """2 x median inscribed radius on the distance transform's ridge (px of `ink`)."""
    z = side / max(ink.shape)
    size = (max(1, round(ink.shape[0] * z)), max(1, round(ink.shape[1] * z)))
    mask = np.pad(resize(ink, size, Image.BOX) > 0.5, 1)
    if not mask.any():
        return 0.0
    edt = ndimage.distance_transform_edt(mask)
    ridge = mask & (edt >= ndimage.maximum_filter(edt, size=3))
    # a band n pixels wide has its centre n/2 + 1/2 from the nearest background pixel centre
    return max(0.0, 2 * float(np.median(edt[ridge])) - 1) / z


def resize(img: np.ndarray, size_hw: tuple[int, int], resample=Image.LANCZOS) -> np.ndarray:
    """Resize a float32 image with Pillow (mode 'F': no 8-bit rounding)."""
    h, w = size_hw
    if img.shape == (h, w):
        return img.astype(np.float32, copy=False)
    out = Image.fromarray(np.ascontiguousarray(img, np.float32), mode="F").resize(
        (w, h), resample
    )
    return np.asarray(out, np.float32)
