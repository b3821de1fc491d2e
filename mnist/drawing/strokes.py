"""The canvas's own record of a drawing: fabric.js pen paths -> polylines -> a re-rendered digit.

streamlit-drawable-canvas returns, next to the pixels, `json_data`: the fabric.js objects the
user drew (one "Path" per pen stroke, with M/L/Q/C commands). Those describe the drawing better
than its pixels: re-rendered with a pen proportional to the digit's size (`render_strokes`),
a digit drawn small with a fat pen and one drawn large with a thin pen come out alike, as
MNIST's strokes are. Anything the paths do not describe (other shapes, an eraser, malformed
data) marks the drawing incomplete, and the caller falls back to the pixels.

    polys = parse_strokes(json_data)   # [(N, 2) float (x, y) canvas coordinates], never raises
    img = render_strokes(polys)        # float32 {0, 1}, pen = STROKE_RATIO_MID of the size
"""

from __future__ import annotations

import json
import math

import numpy as np
from PIL import Image, ImageDraw

from mnist.drawing.ink import STROKE_RATIO_MID, WORK_SIDE


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


def read_strokes(json_data) -> tuple[list[np.ndarray], bool, float]:
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
    return read_strokes(json_data)[0]


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
