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

The constants below were measured on MNIST's training set. Everything here is NumPy, Pillow and
scipy.ndimage; no streamlit, no printing.

    img = preprocess_canvas(rgba, strokes=json_data)   # (28, 28) float32 in [0, 1], or None
    model.predict_proba(img.reshape(1, 784))
"""

from __future__ import annotations

import json
import math

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from mnist.errors import PreprocessError  # noqa: F401  (re-exported)

__all__ = [
    "PreprocessError",
    "preprocess_canvas",
    "pipeline_steps",
    "naive_resize",
    "parse_strokes",
    "render_strokes",
    "to_ink",
    "stroke_width",
]

FIELD = 28  # MNIST image side
BOX = 20  # MNIST fits the digit's longer side to 20 px
COM_TARGET = (14.0, 14.0)  # mean centre of mass of MNIST train digits (row, col), measured
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
MIN_INK_PIXELS = 6  # fewer pixels above 0.5 than this: empty canvas
MIN_EXTENT = 4  # a drawing whose longer side is below this many (working) pixels is empty
SPECK_FRACTION = 0.025  # connected blobs with less than this share of the ink are dropped
SUBPIXEL_ORDER = 1  # the fractional centring shift: linear interpolation
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
# Geometry helpers
# --------------------------------------------------------------------------------------------


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(r0, r1, c0, c1) half-open bounding box of True pixels, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _drop_specks(ink: np.ndarray) -> np.ndarray:
    """Remove tiny separate blobs (stray clicks, noise) that would blow up the bounding box.

    Connected components are found on a coarse grid (blocks of f x f pixels, <= 128 blocks a
    side: labelling the full canvas was the slowest step); blocks closer than a block merge,
    which only ever keeps more ink.
    """
    H, W = ink.shape
    f = max(1, math.ceil(max(H, W) / 128))
    h, w = -(-H // f), -(-W // f)
    if f > 1:  # ink per block (Pillow's box filter is the fastest block mean here)
        mass = _resize(ink, (h, w), Image.BOX) * np.float32(H * W / (h * w))
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
    mask = np.pad(_resize(ink, size, Image.BOX) > 0.5, 1)
    if not mask.any():
        return 0.0
    edt = ndimage.distance_transform_edt(mask)
    ridge = mask & (edt >= ndimage.maximum_filter(edt, size=3))
    # a band n pixels wide has its centre n/2 + 1/2 from the nearest background pixel centre
    return max(0.0, 2 * float(np.median(edt[ridge])) - 1) / z


def _resize(img: np.ndarray, size_hw: tuple[int, int], resample=Image.LANCZOS) -> np.ndarray:
    """Resize a float32 image with Pillow (mode 'F': no 8-bit rounding)."""
    h, w = size_hw
    if img.shape == (h, w):
        return img.astype(np.float32, copy=False)
    out = Image.fromarray(np.ascontiguousarray(img, np.float32), mode="F").resize(
        (w, h), resample
    )
    return np.asarray(out, np.float32)


def _scale_to_box(crop: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale a tight crop so its longer side is `box` px, keeping the aspect ratio.

    A narrow drawing (a '1') stays narrow: only the longer side is fitted, never the width.
    Downscaling uses Lanczos on floats (anti-aliased, like MNIST's grey levels).
    """
    h, w = crop.shape
    s = box / max(h, w)
    size = (max(1, min(box, round(h * s))), max(1, min(box, round(w * s))))
    return np.clip(_resize(crop, size), 0.0, 1.0)


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


def _tight_crop(ink: np.ndarray, threshold: float = 0.05) -> np.ndarray | None:
    box = _bbox(ink > threshold)
    if box is None:
        return None
    r0, r1, c0, c1 = box
    return ink[r0:r1, c0:c1]


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
        mask = _resize(binary, size, Image.BOX) > 0.02
        w_work = w * z + 1.0
    else:
        mask = _resize(binary, size, Image.BILINEAR if z > 1 else Image.BOX) > 0.5
        w_work = w * z
    if not mask.any():
        mask = _resize(crop, size, Image.BILINEAR) > 0.5 * crop.max()
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
# Strokes (fabric.js paths from streamlit-drawable-canvas)
# --------------------------------------------------------------------------------------------


def _num(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _flatten_path(path, controls: list | None = None) -> list[np.ndarray]:
    """fabric.js path commands -> polylines (list of (N, 2) arrays). Curves are sampled.
    Every coordinate met (control points too) is appended to `controls` if given."""
    polys: list[list[tuple[float, float]]] = []
    cur: list[tuple[float, float]] = []
    pos = None
    start = None
    for cmd in path:
        if not isinstance(cmd, (list, tuple)) or not cmd or not isinstance(cmd[0], str):
            continue
        op = cmd[0].upper()
        vals = [_num(v) for v in cmd[1:]]
        if any(v is None or abs(v) > 1e7 for v in vals):  # no canvas is 10 km wide
            continue
        if controls is not None:
            controls.extend(zip(vals[0::2], vals[1::2]))
        if op == "M" and len(vals) >= 2:
            if len(cur) > 0:
                polys.append(cur)
            pos = start = (vals[0], vals[1])
            cur = [pos]
        elif pos is None:
            continue  # a path must start with M
        elif op == "L" and len(vals) >= 2:
            pos = (vals[0], vals[1])
            cur.append(pos)
        elif op == "Q" and len(vals) >= 4:
            (x0, y0), (cx, cy), (x1, y1) = pos, vals[0:2], vals[2:4]
            for t in (0.25, 0.5, 0.75, 1.0):
                u = 1 - t
                cur.append((u * u * x0 + 2 * u * t * cx + t * t * x1,
                            u * u * y0 + 2 * u * t * cy + t * t * y1))
            pos = (x1, y1)
        elif op == "C" and len(vals) >= 6:
            (x0, y0), (ax, ay), (bx, by), (x1, y1) = pos, vals[0:2], vals[2:4], vals[4:6]
            for t in (1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0):
                u = 1 - t
                cur.append((u**3 * x0 + 3 * u * u * t * ax + 3 * u * t * t * bx + t**3 * x1,
                            u**3 * y0 + 3 * u * u * t * ay + 3 * u * t * t * by + t**3 * y1))
            pos = (x1, y1)
        elif op == "Z" and start is not None:
            cur.append(start)
            pos = start
    if len(cur) > 0:
        polys.append(cur)
    return [np.asarray(p, np.float64) for p in polys]


def _place_object(points: np.ndarray, obj: dict, controls: np.ndarray) -> np.ndarray:
    """Apply a fabric object's transform if it was moved, scaled or rotated.

    Freshly drawn paths (PencilBrush) keep absolute canvas coordinates in their commands and
    `left/top` is just their bounding box; in that usual case the points are returned as-is.
    """
    sx = _num(obj.get("scaleX", 1.0)) or 1.0
    sy = _num(obj.get("scaleY", 1.0)) or 1.0
    angle = _num(obj.get("angle", 0.0)) or 0.0
    flip_x = -1.0 if obj.get("flipX") is True else 1.0
    flip_y = -1.0 if obj.get("flipY") is True else 1.0
    left, top = _num(obj.get("left")), _num(obj.get("top"))
    width, height = _num(obj.get("width")), _num(obj.get("height"))
    if None in (left, top, width, height):
        return points
    sw = _num(obj.get("strokeWidth", 0.0)) or 0.0
    lo, hi = points.min(axis=0), points.max(axis=0)
    path_offset = (lo + hi) / 2
    ox = {"center": 0.5, "right": 1.0}.get(obj.get("originX"), 0.0)
    oy = {"center": 0.5, "bottom": 1.0}.get(obj.get("originY"), 0.0)
    if angle == 0.0 and sx == 1.0 and sy == 1.0 and flip_x == 1.0 and flip_y == 1.0:
        # where fabric puts left/top of an untouched path: its curve's bounding box minus
        # half the pen; the curve's box lies between the sampled points' and the controls'
        actual = np.array([left - ox * (width + sw), top - oy * (height + sw)]) + sw / 2
        tol = max(2.0, 0.03 * float((hi - lo).max()))
        lo_ctrl = controls.min(axis=0) if len(controls) else lo
        low, high = np.minimum(lo, lo_ctrl) - tol, np.maximum(lo, lo_ctrl) + tol
        if np.all((actual >= low) & (actual <= high)):
            return points
    # general case: centre + R(angle) S (p - pathOffset). `width`/`height` are the path's
    # box without the pen; left/top is the (ox, oy) point of the box with the pen.
    a = math.radians(angle)
    R = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    Sm = np.diag([sx * flip_x, sy * flip_y])
    M = R @ Sm
    box = np.array([(width + sw) * sx, (height + sw) * sy])  # the drawn box, pen included
    corner_to_centre = R @ (np.array([0.5 - ox, 0.5 - oy]) * box)
    centre = np.array([left, top]) + corner_to_centre
    return (points - path_offset) @ M.T + centre


def _luma(color) -> float | None:
    """Luminance 0..1 of a CSS colour string like '#fff', '#00ff00', 'rgb(1,2,3)', 'rgba(...)'."""
    if not isinstance(color, str):
        return None
    c = color.strip().lower()
    try:
        if c.startswith("#"):
            h = c[1:]
            if len(h) in (3, 4):
                r, g, b = (int(ch * 2, 16) for ch in h[:3])
            elif len(h) in (6, 8):
                r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
            else:
                return None
        elif c.startswith("rgb"):
            parts = c[c.index("(") + 1 : c.rindex(")")].split(",")
            r, g, b = (float(p) for p in parts[:3])
        else:
            return {"white": 1.0, "black": 0.0}.get(c)
    except ValueError:
        return None
    return (0.299 * r + 0.587 * g + 0.114 * b) / 255


def _parse(json_data) -> tuple[list[np.ndarray], bool, float]:
    """(polylines, complete, widest pen). complete=False when the drawing has content the
    strokes don't describe (shapes other than paths, eraser-coloured paths): then the raster
    must be used."""
    try:
        if isinstance(json_data, (str, bytes, bytearray)):
            json_data = json.loads(json_data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return [], False, 0.0
    if not isinstance(json_data, dict):
        return [], False, 0.0
    objects = json_data.get("objects")
    if not isinstance(objects, list):
        return [], False, 0.0
    pen_max = 0.0
    bg = _luma(json_data.get("background"))
    strokes: list[np.ndarray] = []
    complete = True
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        if obj.get("visible") is False:
            continue
        kind = obj.get("type")
        # fabric.js 6+ (streamlit-drawable-canvas 0.13 ships 7.4) writes "Path"; older "path"
        if not isinstance(kind, str) or kind.lower() != "path":
            complete = False  # a line, rect, circle...: not re-rendered here
            continue
        path = obj.get("path")
        if not isinstance(path, list):
            complete = False
            continue
        pen = _luma(obj.get("stroke"))
        if pen is not None and bg is not None and abs(pen - bg) < 0.3:
            complete = False  # drawn in the background colour: an eraser
            continue
        try:
            controls: list = []
            polys = _flatten_path(path, controls)
            if polys:
                allp = np.concatenate(polys)
                ctrl = np.asarray(controls, np.float64).reshape(-1, 2)
                with np.errstate(all="ignore"):
                    placed = _place_object(allp, obj, ctrl)
                if not np.isfinite(placed).all():
                    complete = False  # overflowing transform: not a drawing we can redo
                    continue
                splits = np.cumsum([len(p) for p in polys])[:-1]
                strokes.extend(np.split(placed, splits))
                pen_max = max(pen_max, _num(obj.get("strokeWidth")) or 0.0)
        except (ValueError, TypeError, ArithmeticError):
            complete = False
    return strokes, complete, pen_max


def parse_strokes(json_data) -> list[np.ndarray]:
    """Canvas `json_data` (dict or JSON string) -> list of (N, 2) float arrays of (x, y)
    canvas coordinates, one per pen stroke, curves flattened into polylines.

    Never raises on odd input: non-path objects, malformed commands and non-finite numbers are
    skipped; anything that is not a fabric.js canvas dict gives [].
    """
    return _parse(json_data)[0]


def render_strokes(
    strokes: list[np.ndarray], *, ratio: float = STROKE_RATIO_MID, size: int = WORK_SIDE
) -> np.ndarray | None:
    """Draw polylines with a round pen whose width is `ratio` of the drawing's size.

    The pen width w is chosen from the path's own extent P (the pen's centre line) so that
    w / (P + w) = ratio: after scaling the digit to 20 px the stroke is ratio * 20 px wide
    whatever the pen the user had. Rendered (without anti-aliasing) at `size` px on the
    longer side; the later downscale to 20 px anti-aliases it. Returns float32 in {0, 1}, or
    None when there is nothing but dots.
    """
    pts = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes if len(s)]
    pts = [p for p in pts if np.isfinite(p).all()]
    if not pts:
        return None
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    P = float((hi - lo).max())
    if not 1e-6 < P < 1e9:  # a dot, or coordinates nobody drew
        return None
    w = ratio * P / (1 - ratio)
    z = size / (P + w)  # canvas px -> render px
    pen = max(1.0, w * z)
    margin = pen / 2 + 2
    W = int(math.ceil((hi[0] - lo[0]) * z + 2 * margin))
    H = int(math.ceil((hi[1] - lo[1]) * z + 2 * margin))
    im = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(im)
    r = pen / 2
    for p in pts:
        q = (p - lo) * z + margin
        xy = [tuple(v) for v in q]
        if len(xy) > 1:
            draw.line(xy, fill=255, width=max(1, round(pen)), joint="curve")
        for x, y in (xy[0], xy[-1]) if len(xy) > 1 else (xy[0],):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(im, np.float32) / 255.0


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
        ink = _drop_specks(ink)
    if ink is not None:
        box = _bbox(ink > INK_THRESHOLD)
        if box is None:
            return None, steps
        r0, r1, c0, c1 = box
        if max(r1 - r0, c1 - c0) < MIN_EXTENT:
            return None, steps
        crop = _tight_crop(ink[max(0, r0 - 2) : r1 + 2, max(0, c0 - 2) : c1 + 2])
        if keep_steps:
            steps.append(("bounding box crop", crop))

    rendered = None
    if strokes is not None:
        polys, complete, pen = _parse(strokes)
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
        normal = _tight_crop(rendered, 0.5)
        title = "strokes re-rendered with a pen proportional to the digit"
    else:
        normal, changed = _normalise_thickness(crop, w)
        normal = _tight_crop(normal) if changed else crop
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
    return np.clip(_resize(ink, (FIELD, FIELD), Image.BILINEAR), 0.0, 1.0)
