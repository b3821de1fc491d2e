"""`python -m mnist`: the parser and the commands on a model file (evaluate, predict, info).

`train` is in mnist.cli.train and `search` in mnist.cli.search; `main()` wires them and turns
every error into one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from mnist.cli.common import DEFAULT_MODEL, EXIT_ERROR, EXIT_USAGE, emit, model_path, read_set
from mnist.cli.search import add_search_parser
from mnist.cli.studies import add_engine_parsers
from mnist.cli.train import add_train_parser
from mnist.errors import (CLIError, ConfigError, DatasetError, EngineError, ModelFileError,
                          PreprocessError)
from mnist.training.threads import blas_threads


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + error
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(EXIT_USAGE)


# --------------------------------------------------------------------------------------------
# evaluate


def _model_command(sub, name: str, func, help: str, description: str):
    """A subcommand that reads one model file (the bundled one by default) and can answer in
    JSON; its own options are added by the caller."""
    p = sub.add_parser(name, help=help, description=description)
    p.add_argument("model", nargs="?", help=f"model .npz (default: {DEFAULT_MODEL.name})")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=func)
    return p


def _add_evaluate(sub):
    p = _model_command(sub, "evaluate", cmd_evaluate, "score a model file",
                       "Accuracy, per-class accuracy and confusion matrix of a model file on "
                       "the bundled MNIST test set or a given labelled dataset.")
    p.add_argument("--data", metavar="FILE", help="labelled data (CSV, NPZ or IDX)")


def cmd_evaluate(args) -> int:
    from mnist.data.bundled import load_mnist
    from mnist.training.metrics import evaluate
    from mnist.training.persist import load_model

    model = load_model(model_path(args.model))
    ds = read_set(args.data, "test") if args.data else load_mnist()[1]
    if not ds.has_labels:
        raise CLIError(f"{ds.name} has no labels: it can be predicted, not scored")
    ev = evaluate(model, ds)
    ev.pop("predictions")
    ev = dict(final=True, model=model_path(args.model), data=ds.name, **ev)
    if args.json:
        emit(ev, True)
        return 0
    print(f"model: {ev['model']}  ({model!r})")
    print(f"data: {ds.name}, {ev['n']} digits")
    print(f"accuracy: {100 * ev['accuracy']:.2f}%   loss: {ev['loss']:.4f}")
    print("per-class accuracy:")
    for d, a in enumerate(ev["per_class_accuracy"]):
        print(f"  {d}: " + ("   n/a" if a is None else f"{100 * a:6.2f}%"))
    print("confusion matrix (rows: true digit, columns: predicted):")
    print("      " + "".join(f"{j:>6}" for j in range(10)))
    for i, row in enumerate(ev["confusion"]):
        print(f"  {i:>3} " + "".join(f"{v:>6}" for v in row))
    return 0


# --------------------------------------------------------------------------------------------
# predict


def _add_predict(sub):
    p = sub.add_parser("predict", help="predict the digit in an image file",
                       description="Predict the digit in a PNG/JPG of any size, through the "
                       "same preprocessing as the drawing canvas (crop, scale to 20x20, centre "
                       "by mass in 28x28), or a raw 28x28 grayscale image with --raw "
                       "(white digit on black, as in MNIST).")
    p.add_argument("image", help="image file")
    p.add_argument("--model", help=f"model .npz (default: {DEFAULT_MODEL.name})")
    p.add_argument("--raw", action="store_true", help="the image is already 28x28 MNIST-style")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_predict)


MAX_IMAGE_PIXELS = 150_000_000  # refused before decoding
MAX_IMAGE_SIDE = 2048  # larger images are reduced (box filter) before preprocessing


def _load_image(path: str, raw: bool) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is a requirement
        raise CLIError("Pillow is not installed") from None
    try:
        with Image.open(path) as im:  # lazy: only the header is read so far
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                raise CLIError(f"{path}: {w}x{h} is {w * h / 1e6:.0f} megapixels, more than "
                               f"the {MAX_IMAGE_PIXELS / 1e6:.0f} MP accepted")
            im.load()
            if raw:
                if im.size != (28, 28):
                    raise CLIError(f"--raw needs a 28x28 image; {path} is "
                                   f"{im.size[0]}x{im.size[1]}")
                from mnist.constants import SCALE

                return np.multiply(np.asarray(im.convert("L")), SCALE, dtype=np.float32)
            # Shrink a big photo in its own mode before widening it to RGBA (4 bytes a pixel):
            # a 10,000 x 10,000 scan would otherwise need 400 MB.
            factor = -(-max(w, h) // MAX_IMAGE_SIDE)  # ceil
            if factor > 1:
                im = im.reduce(factor)
            rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
    except Image.DecompressionBombError as e:
        raise CLIError(f"{path}: refused as a decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise CLIError(f"{path}: not an image Pillow can read") from None
    except OSError as e:
        raise CLIError(f"{path}: cannot read: {e.strerror or e}") from None
    from mnist.drawing.normalize import preprocess_canvas  # (scipy, Pillow: when predicting)

    try:
        img = preprocess_canvas(rgba)
    except PreprocessError as e:
        raise CLIError(f"{path}: {e}") from None
    if img is None:
        raise CLIError(f"{path}: no digit found in the image")
    return np.asarray(img, dtype=np.float32)


def cmd_predict(args) -> int:
    from mnist.training.persist import load_model

    model = load_model(model_path(args.model))
    img = _load_image(args.image, args.raw)  # (28, 28) in [0, 1]
    probs = model.predict_proba(img.reshape(1, 784))[0]
    digit = int(np.argmax(probs))
    res = dict(final=True, image=args.image, digit=digit, confidence=float(probs[digit]),
               probabilities=[round(float(p), 6) for p in probs])
    if args.json:
        emit(res, True)
    else:
        print(f"digit: {digit}  (confidence {100 * probs[digit]:.1f}%)")
        top = np.argsort(-probs)[:3]
        print("top 3: " + ", ".join(f"{d}: {100 * probs[d]:.1f}%" for d in top))
    return 0


# --------------------------------------------------------------------------------------------
# info


def _add_info(sub):
    _model_command(sub, "info", cmd_info, "describe a model file",
                   "Architecture, parameter count, training config, metrics and format version "
                   "of a model file.")


def cmd_info(args) -> int:
    from mnist.training.persist import load_model

    path = model_path(args.model)
    model = load_model(path)
    meta = model.meta
    info = dict(final=True, model=path, architecture=model.architecture(),
                n_params=model.n_params, format_version=meta["format_version"],
                config=meta.get("config"), metrics=meta.get("metrics"),
                epochs_recorded=len(meta.get("history") or []))
    if args.json:
        emit(info, True)
        return 0
    print(f"model: {path}")
    for i, net in enumerate(getattr(model, "members", [model])):
        arch = net.architecture()  # an MLP by its sizes, a conv net by its layer spec
        shown = "-".join(map(str, arch["sizes"])) if "sizes" in arch else arch["spec"]
        print(f"{'member ' + model.names[i] + ': ' if model.kind == 'ensemble' else ''}"
              f"network: {shown}, activation {arch['activation']}, loss {arch['loss']}, "
              f"{arch['dtype']}, {net.n_params:,} parameters")
    print(f"format version: {meta['format_version']}")
    if meta.get("config"):
        print("config: " + json.dumps(meta["config"]))
    for k, v in (meta.get("metrics") or {}).items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        if not isinstance(v, list):
            print(f"{k}: {v}")
    print(f"history: {info['epochs_recorded']} epoch records")
    return 0


# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mnist", description="MNIST Lab: train, evaluate and use "
                     "a neural network written from scratch in NumPy.")
    sub = parser.add_subparsers(
        dest="command", metavar="{train,evaluate,predict,info,search,worker,studies}",
        parser_class=_Parser)
    add_train_parser(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_info(sub)
    add_search_parser(sub)
    add_engine_parsers(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        blas_threads(1)  # unless asked otherwise: small products, see mnist.training.threads
    try:
        return args.func(args)
    except (CLIError, ConfigError, DatasetError, ModelFileError, EngineError) as e:
        msg = str(e)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except MemoryError:
        msg = "out of memory"
    except Exception as e:  # the promise: one line, never a traceback
        msg = f"unexpected {type(e).__name__}: {e}"
    sys.stderr.write(f"error: {' '.join(msg.split())}\n")
    return EXIT_ERROR
