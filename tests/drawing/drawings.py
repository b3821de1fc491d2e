"""Synthetic drawings for the drawing tests: pen paths on a unit square, drawn with Pillow as
pixels (what the canvas returns as image_data) and written as fabric.js path objects (its
json_data), and the checks every result must pass."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "default.npz"

# pen paths on a unit square (x right, y down)
SHAPES = {
    "1": [[(0.5, 0.1), (0.5, 0.9)]],
    "7": [[(0.2, 0.15), (0.8, 0.15), (0.45, 0.9)]],
    "4": [[(0.6, 0.1), (0.15, 0.6), (0.85, 0.6)], [(0.6, 0.3), (0.6, 0.9)]],
    "0": [[(0.5 + 0.3 * np.sin(t), 0.5 - 0.4 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]],
    "2": [[(0.22, 0.3), (0.35, 0.14), (0.6, 0.12), (0.75, 0.28), (0.7, 0.45), (0.2, 0.88),
           (0.82, 0.88)]],
}


def paths(digit, size, x0, y0):
    """Pen paths of `digit` scaled to a size x size box at (x0, y0), in canvas px."""
    return [[(x0 + size * x, y0 + size * y) for x, y in p] for p in SHAPES[digit]]


def draw(polys, pen, canvas=280, mode="RGBA"):
    """White round pen on black, like streamlit-drawable-canvas's image_data."""
    im = Image.new("L", (canvas, canvas), 0)
    d = ImageDraw.Draw(im)
    r = pen / 2
    for p in polys:
        d.line([tuple(v) for v in p], fill=255, width=pen, joint="curve")
        for x, y in (p[0], p[-1]):
            d.ellipse((x - r, y - r, x + r, y + r), fill=255)
    g = np.asarray(im)
    if mode == "L":
        return g
    rgba = np.zeros(g.shape + (4,), np.uint8)
    rgba[..., :3] = g[..., None]
    rgba[..., 3] = 255
    return rgba


def fabric_json(polys, pen, stroke="#ffffff", curves=False, kind="Path"):
    """The canvas's json_data for these pen paths (fabric.js paths). curves=True writes
    PencilBrush-style quadratic curves through the midpoints (which round the corners off, so
    they no longer match `draw`); by default straight segments, exactly what `draw` drew."""
    objects = []
    for p in polys:
        p = np.asarray(p, float)
        lo, hi = p.min(0), p.max(0)
        cmds = [["M", *p[0]]]
        if curves:
            for a, b in zip(p[1:-1], p[2:]):
                cmds.append(["Q", *a, *((a + b) / 2)])
        else:
            cmds += [["L", *q] for q in p[1:-1]]
        cmds.append(["L", *p[-1]])
        objects.append({
            "type": kind, "path": [[c[0], *map(float, c[1:])] for c in cmds],
            "stroke": stroke, "strokeWidth": pen, "fill": None,
            "left": float(lo[0] - pen / 2), "top": float(lo[1] - pen / 2),
            "width": float(hi[0] - lo[0]), "height": float(hi[1] - lo[1]),  # without the pen
            "scaleX": 1, "scaleY": 1, "angle": 0, "originX": "left", "originY": "top",
        })
    return {"version": "4.4.0", "objects": objects, "background": "#000000"}


def corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def check_mnist_like(img):
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0
    rows = np.flatnonzero(img.any(1))
    cols = np.flatnonzero(img.any(0))
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) in (19, 20, 21)
    cy, cx = ndimage.center_of_mass(img)
    assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0
