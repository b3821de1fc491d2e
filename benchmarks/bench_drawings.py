"""How well models read drawings rather than MNIST: synthetic pen digits and typeset digits.

The Draw page is judged on people's drawings, which differ from MNIST in size, position, pen
thickness, slant and style. This benchmark draws digits the way the canvas does (a round white
pen on black, random size 40-250 px, pen 2-60 px, shear, rotation, aspect, jitter, anywhere on
a 280x280 canvas) and typesets digits in every TrueType font on the machine, then reports each
model's accuracy through the app's preprocessing (from pixels, and from the canvas's strokes)
and through a naive resize of the whole canvas. One JSON line per (model, set, path).

    .venv/bin/python benchmarks/bench_drawings.py       # bundled MLP, bundled CNN, ensemble
    .venv/bin/python benchmarks/bench_drawings.py --model OLD.npz --model models/default.npz
    .venv/bin/python benchmarks/bench_drawings.py --model a.npz --model b.npz --ensemble

By default: the bundled MLP (models/default.npz), the bundled CNN (models/cnn.npz) and their
ensemble (`mnist.Ensemble`: the mean of their probabilities). `--model` (repeatable) names
the models instead; `--ensemble` adds the ensemble of all of them. Models are compared on the
very same drawings (seeded); `--reps 100` draws 1,000 pen digits instead of 300 (one drawing
is then 0.1 point). About 10 s (15 s with `--reps 100`).
"""

import argparse
import glob
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import mnist  # noqa: E402
import mnist.drawing as pp  # noqa: E402
from tests.drawing.drawings import draw, fabric_json  # noqa: E402  (the tests' canvas renderer)

_t = np.linspace(0, 2 * np.pi, 40)
# Each digit as pen paths in a unit box (x right, y down).
SHAPES = {
    0: [list(zip(0.5 + 0.28 * np.sin(_t), 0.5 - 0.42 * np.cos(_t)))],
    1: [[(0.5, 0.08), (0.5, 0.92)]],
    2: [[(0.22, 0.3), (0.35, 0.14), (0.6, 0.12), (0.75, 0.28), (0.7, 0.45), (0.2, 0.88),
         (0.82, 0.88)]],
    3: [[(0.25, 0.15), (0.55, 0.08), (0.72, 0.2), (0.65, 0.38), (0.45, 0.47), (0.7, 0.56),
         (0.75, 0.76), (0.55, 0.92), (0.25, 0.86)]],
    4: [[(0.25, 0.08), (0.18, 0.55), (0.82, 0.55)], [(0.66, 0.1), (0.66, 0.95)]],
    5: [[(0.75, 0.1), (0.3, 0.1), (0.26, 0.45), (0.5, 0.4), (0.72, 0.5), (0.75, 0.72),
         (0.55, 0.9), (0.25, 0.85)]],
    6: [[(0.65, 0.08), (0.38, 0.32), (0.27, 0.62), (0.35, 0.88), (0.6, 0.9), (0.72, 0.7),
         (0.6, 0.52), (0.38, 0.55), (0.28, 0.66)]],
    7: [[(0.2, 0.12), (0.8, 0.12), (0.45, 0.92)]],
    8: [list(zip(0.5 + 0.25 * np.sin(2 * _t), 0.5 - 0.42 * np.cos(_t)))],
    9: [list(zip(0.5 + 0.2 * np.cos(_t), 0.3 + 0.2 * np.sin(_t))), [(0.7, 0.3), (0.66, 0.93)]],
}


def pen_digits(reps: int, seed: int = 0):
    """(images, strokes, labels) of `reps` random drawings of each digit."""
    rng = np.random.default_rng(seed)
    images, strokes, labels = [], [], []
    for _ in range(reps):
        for d in range(10):
            size = rng.uniform(40, 250)
            pen = int(rng.integers(2, 36)) if rng.random() < 0.8 else int(rng.integers(36, 60))
            shear, aspect = rng.uniform(-0.25, 0.1), rng.uniform(0.7, 1.1)
            rot = np.radians(rng.uniform(-10, 10))
            A = (np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
                 @ np.array([[aspect, shear], [0, 1]]))
            x0, y0 = rng.uniform(0, 280 - size * 0.8), rng.uniform(0, 280 - size)
            polys = []
            for p in SHAPES[d]:
                p = (np.asarray(p) - 0.5) @ A.T + 0.5 + rng.normal(0, 0.008, (len(p), 2))
                polys.append([(x0 + size * a, y0 + size * b) for a, b in p])
            images.append(draw(polys, pen))
            strokes.append(fabric_json(polys, pen, curves=True))
            labels.append(d)
    return images, strokes, np.array(labels)


def font_digits(seed: int = 0):
    """(images, labels): every digit in every TrueType font found, random size and place."""
    fonts = sorted(f for f in glob.glob("/usr/share/fonts/truetype/*/*.ttf") if "Math" not in f)
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for f in fonts:
        for d in range(10):
            size = int(rng.integers(40, 220))
            im = Image.new("L", (300, 300), 0)
            x0, y0 = rng.integers(0, max(1, 300 - int(size * 0.8)), 2)
            ImageDraw.Draw(im).text((int(x0), int(y0) - size // 6), str(d), fill=255,
                                    font=ImageFont.truetype(f, size))
            images.append(np.asarray(im))
            labels.append(d)
    return images, np.array(labels), len(fonts)


def rows(images, strokes=None):
    out = []
    for i, img in enumerate(images):
        r = pp.preprocess_canvas(img, strokes=None if strokes is None else strokes[i])
        out.append(np.zeros(784, np.float32) if r is None else r.reshape(-1))
    return np.array(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="model .npz (repeatable; default the "
                    "bundled MLP and CNN, and their ensemble)")
    ap.add_argument("--ensemble", action="store_true",
                    help="also the ensemble of the --model models (the default has it)")
    ap.add_argument("--reps", type=int, default=30, help="pen drawings per digit")
    args = ap.parse_args()
    paths = args.model or [str(ROOT / "models" / name) for name in ("default.npz", "cnn.npz")]
    models = {os.path.relpath(p): mnist.load_model(p) for p in paths}
    if args.ensemble or not args.model:
        models[f"ensemble of {' + '.join(models)}"] = mnist.Ensemble(list(models.values()))

    pen_imgs, pen_strokes, pen_y = pen_digits(args.reps)
    font_imgs, font_y, n_fonts = font_digits()
    sets = {
        "pen, from pixels": (rows(pen_imgs), pen_y),
        "pen, from strokes": (rows(pen_imgs, pen_strokes), pen_y),
        "pen, naive resize": (np.array([pp.naive_resize(i).reshape(-1) for i in pen_imgs]),
                              pen_y),
    }
    if n_fonts:
        sets["fonts, from pixels"] = (rows(font_imgs), font_y)
        sets["fonts, naive resize"] = (
            np.array([pp.naive_resize(i).reshape(-1) for i in font_imgs]), font_y)
    _, test = mnist.load_mnist()
    for label, model in models.items():
        acc = float(np.mean(model.predict(test.x()) == test.y()))
        print(json.dumps({"model": label, "set": "MNIST test", "n": len(test),
                          "accuracy": round(acc, 4)}), flush=True)
        for name, (x, y) in sets.items():
            pred = model.predict(x)
            print(json.dumps({"model": label, "set": name, "n": len(y),
                              "accuracy": round(float(np.mean(pred == y)), 4),
                              "per_digit": [round(float(np.mean(pred[y == d] == d)), 2)
                                            for d in range(10)]}))


if __name__ == "__main__":
    main()
