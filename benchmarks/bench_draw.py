"""Draw page timings: from a canvas update to the shown probabilities (server side).

For a synthetic 280x280 canvas drawing (white pen on black, with its fabric.js strokes, what
streamlit-drawable-canvas returns) and the bundled model (models/default.npz): the median
milliseconds of each part (preprocess, forward, saliency = forward + backward), of the whole
`mnist.analysis.read_drawing` the page calls, and of decoding the canvas PNG the component
sends. Goal: preprocess + forward + saliency under 20 ms.

Prints one JSON line per case. Run: .venv/bin/python benchmarks/bench_draw.py [--repeat N]
"""

import argparse
import base64
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere
import mnist  # noqa: E402
import mnist.analysis as an  # noqa: E402
from mnist.drawing import preprocess_canvas  # noqa: E402

GOAL_MS = 20.0


def median_ms(fn, repeat):
    fn()  # warm up (imports, caches)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--model", default=str(ROOT / "models" / "default.npz"))
    args = ap.parse_args()
    model = mnist.load_model(args.model)
    arch = "-".join(map(str, model.sizes))
    for digit in ("7", "0"):
        rgba, strokes = an.synthetic_drawing(digit)
        png = io.BytesIO()
        Image.fromarray(rgba).save(png, format="PNG")
        url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
        for use_strokes in (True, False):
            js = strokes if use_strokes else None
            img = preprocess_canvas(rgba, strokes=js)
            x = img.reshape(1, -1)
            parts = {
                "preprocess": median_ms(lambda: preprocess_canvas(rgba, strokes=js),
                                        args.repeat),
                "forward": median_ms(lambda: an.predict_proba(model, x), args.repeat),
                "saliency": median_ms(lambda: an.saliency(model, x), args.repeat),
            }
            total = median_ms(lambda: an.read_drawing(model, rgba, js), args.repeat)
            decode = median_ms(lambda: np.asarray(Image.open(io.BytesIO(
                base64.b64decode(url.split(",", 1)[1])))), args.repeat)
            pred = an.read_drawing(model, rgba, js)["pred"]
            print(json.dumps({
                "case": f"draw {digit!r} 280x280, {'strokes' if use_strokes else 'pixels'}"
                        f", model {arch}",
                "median_ms": {k: round(v, 3) for k, v in parts.items()},
                "parts_sum_ms": round(sum(parts.values()), 3),
                "read_drawing_ms": round(total, 3),
                "png_decode_ms": round(decode, 3),
                "predicted": pred,
                "goal_ms": GOAL_MS,
                "under_goal": total < GOAL_MS,
            }))


if __name__ == "__main__":
    main()
