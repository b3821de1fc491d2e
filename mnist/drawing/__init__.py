"""Drawings -> MNIST-like 28x28 images, the way MNIST itself was made.

- `ink`: any picture (canvas RGBA, paper, transparent PNG, grey) -> an ink map; bounding boxes,
  stray specks, the pen width;
- `strokes`: the canvas's fabric.js pen paths -> polylines, re-rendered with an MNIST-like pen;
- `normalize`: the recipe: crop, stroke thickness, 20 px box, centre of mass in 28x28
  (`preprocess_canvas`, `pipeline_steps`, `naive_resize`).

Needs Pillow and scipy.ndimage, so `import mnist` does not load this package (its names load
on first use).
"""

from mnist.errors import PreprocessError
from mnist.drawing.ink import stroke_width, to_ink
from mnist.drawing.normalize import naive_resize, pipeline_steps, preprocess_canvas
from mnist.drawing.strokes import parse_strokes, render_strokes

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
