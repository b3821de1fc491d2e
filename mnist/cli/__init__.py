"""Command line: `python -m mnist train | evaluate | predict | info` (see --help on each).

The one module of the package that prints. Progress goes to stderr (a one-line bar, redrawn
in place on a terminal, one line per epoch otherwise); results go to stdout, as text or, with
--json, as JSON lines whose last line carries the final figures. Every error is one line on
stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from mnist.training.config import parse_hidden
from mnist.errors import CLIError  # noqa: F401  (re-exported)

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "default.npz"
EXIT_ERROR = 1
EXIT_USAGE = 2




class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + error
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(EXIT_USAGE)


# --------------------------------------------------------------------------------------------
# helpers


def _emit(obj, as_json: bool, text: str | None = None) -> None:
    if as_json:
        print(json.dumps(obj), flush=True)
    elif text is not None:
        print(text, flush=True)


class Progress:
    """A minimal progress bar on stderr (no dependency)."""

    def __init__(self, total_epochs: int, enabled: bool = True):
        self.total = total_epochs
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()

    def update(self, rec: dict) -> None:
        if not self.enabled:
            return
        frac = min(rec["epoch"] / self.total, 1.0)
        width = 24
        filled = int(round(frac * width))
        bar = "#" * filled + "." * (width - filled)
        parts = [f"epoch {rec['epoch']:.2f}/{self.total} [{bar}] {100 * frac:5.1f}%"]
        if rec.get("train_loss") is not None:
            parts.append(f"loss {rec['train_loss']:.4f}")
        if rec.get("train_acc") is not None:
            parts.append(f"acc {100 * rec['train_acc']:.2f}%")
        if rec.get("val_acc") is not None:
            parts.append(f"val {100 * rec['val_acc']:.2f}%")
        if rec.get("samples_per_s"):
            parts.append(f"{rec['samples_per_s']:,.0f}/s")
        parts.append(f"{time.perf_counter() - self.t0:.0f}s")
        line = "  ".join(parts)
        intra = rec["status"] == "running" and not float(rec["epoch"]).is_integer()
        # at most ~50 lines for a long run (500 full-batch epochs), but always the last one
        every = max(1, self.total // 50)
        quiet_epoch = rec["status"] == "running" and int(rec["epoch"]) % every != 0
        if self.tty:
            end = "" if intra or quiet_epoch else "\n"
            sys.stderr.write("\r" + line.ljust(110) + end)
        elif not intra and not quiet_epoch:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _subset(text: str):
    """"5000" -> 5000 digits (int); "0.1" -> a tenth (float)."""
    text = text.strip()
    try:
        return int(text) if text.isdigit() else float(text)
    except ValueError:
        raise CLIError(f"--subset must be a count or a fraction; got {text!r}") from None


def _read_set(path: str, part: str):
    from mnist.data.readers import read_dataset

    return read_dataset(path, part=part)


def _model_path(path: str | None) -> str:
    return str(path) if path else str(DEFAULT_MODEL)


# --------------------------------------------------------------------------------------------
# train

CONFIG_FLAGS = {
    # flag: (config field, type, help)
    "hidden": ("hidden", parse_hidden, "hidden layer sizes, e.g. 128,64 (empty: none)"),
    "activation": ("activation", str, "relu | leaky_relu | sigmoid | tanh"),
    "init": ("init", str, "uniform | normal001 | xavier | he"),
    "loss": ("loss", str, "cross_entropy | mse"),
    "optimizer": ("optimizer", str, "sgd | momentum | nesterov | rmsprop | adam"),
    "lr": ("lr", float, "learning rate"),
    "momentum": ("momentum", float, "momentum (momentum, nesterov)"),
    "batch-size": ("batch_size", int, "minibatch size; 0 = full batch"),
    "epochs": ("epochs", int, "passes over the training set"),
    "schedule": ("schedule", str, "constant | step | cosine"),
    "warmup-epochs": ("warmup_epochs", float, "linear learning-rate warm-up"),
    "step-size": ("step_size", int, "step schedule: epochs between decays"),
    "gamma": ("gamma", float, "step schedule: decay factor"),
    "min-lr": ("min_lr", float, "cosine schedule: final learning rate"),
    "weight-decay": ("weight_decay", float, "L2 weight decay"),
    "dropout": ("dropout", float, "dropout probability on hidden layers"),
    "val-fraction": ("val_fraction", float, "fraction held out for validation (0: none)"),
    "subset": ("subset", _subset, "train on N digits (int) or a fraction (float)"),
    "seed": ("seed", int, "random seed (weights, shuffling, dropout, augmentation)"),
    "patience": ("patience", int, "early stopping after N epochs without val improvement"),
    "dtype": ("dtype", str, "float32 | float64"),
}


def _add_train(sub):
    p = sub.add_parser("train", help="train a network and save it",
                       description="Train a network from flags, a JSON config or a preset, on "
                       "the bundled MNIST or a given dataset; evaluate it on the test set and "
                       "optionally save it (.npz).")
    p.add_argument("--preset", help="a named preset (see --list-presets)")
    p.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    p.add_argument("--config", metavar="FILE", help="a TrainConfig as JSON")
    for flag, (_, typ, help_) in CONFIG_FLAGS.items():
        p.add_argument(f"--{flag}", type=str, default=None, help=help_)
    p.add_argument("--augment", action="store_true", default=None, help="augment the digits")
    p.add_argument("--resume", metavar="MODEL", help="continue training a saved model")
    p.add_argument("--data", metavar="FILE", help="training data (CSV, NPZ or IDX); default: "
                   "the bundled MNIST")
    p.add_argument("--test-data", metavar="FILE", help="test data; default: the bundled MNIST "
                   "test set (or the NPZ's test part)")
    p.add_argument("--out", metavar="FILE", help="save the trained model here (.npz)")
    p.add_argument("--report-every", type=int, default=None, metavar="N",
                   help="with --json, also print a record every N batches")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def _config_from_args(args):
    from mnist.training.config import TrainConfig
    from mnist.training import presets

    if args.preset and args.config:
        raise CLIError("use either --preset or --config, not both")
    if args.preset:
        cfg = presets.get(args.preset)[0]
    elif args.config:
        try:
            text = Path(args.config).read_text(encoding="utf-8")
        except OSError as e:
            raise CLIError(f"cannot read config {args.config}: {e.strerror or e}") from None
        cfg = TrainConfig.from_json(text)
    else:
        cfg = TrainConfig()
    changes = {}
    for flag, (field, typ, _) in CONFIG_FLAGS.items():
        raw = getattr(args, flag.replace("-", "_"))
        if raw is None:
            continue
        try:
            changes[field] = typ(raw)
        except ValueError:
            raise CLIError(f"--{flag}: not a valid value: {raw!r}") from None
    if changes.get("batch_size") == 0:
        changes["batch_size"] = None
    if args.augment:
        changes["augment"] = True
    return cfg.replace(**changes) if changes else cfg


def cmd_train(args) -> int:
    from mnist.training import presets
    from mnist.data.bundled import load_mnist
    from mnist.training.metrics import evaluate
    from mnist.training.persist import load_model, save_model
    from mnist.training.loop import train

    if args.list_presets:
        for name, (cfg, note) in presets.PRESETS.items():
            _emit(dict(preset=name, config=cfg.to_dict(), note=note), args.json,
                  f"{name}\n    {note}")
        return 0
    cfg = _config_from_args(args)
    if args.out:
        out_dir = os.path.dirname(os.path.abspath(args.out))
        if not os.path.isdir(out_dir):
            raise CLIError(f"--out: directory {out_dir} does not exist")

    train_set = test_set = None
    if args.data and args.data.lower().endswith(".npz"):  # read once, both parts
        from mnist.data.readers import read_npz
        from mnist.errors import DatasetError

        parts = read_npz(args.data)
        if "train" not in parts and len(parts) != 1:
            raise DatasetError(f"{args.data}: no 'train' part (has: {', '.join(parts)})")
        train_set = parts.get("train") or next(iter(parts.values()))
        test_set = parts.get("test")  # a single-part file: no separate test set
    elif args.data:
        train_set = _read_set(args.data, "train")
    if args.test_data:
        test_set = _read_set(args.test_data, "test")
    if args.preset:
        cfg_p, train_set, test_set = presets.prepare(args.preset, train_set, test_set)
    else:
        if train_set is None or (test_set is None and not args.data):
            mtrain, mtest = load_mnist()
            train_set = train_set or mtrain
            test_set = test_set if test_set is not None else (None if args.data else mtest)

    model = load_model(args.resume) if args.resume else None
    run = train(cfg, train_set, model=model, report_every=args.report_every)
    bar = Progress(cfg.epochs, enabled=not args.quiet)
    if run.report_every is None and bar.enabled and bar.tty:
        # redraw the bar ~20 times per epoch (these records are not printed nor saved)
        n_batches = -(-len(run.train_set) // (cfg.batch_size or len(run.train_set)))
        run.report_every = max(1, n_batches // 20) if n_batches >= 20 else None
    history = []
    interrupted = False
    try:
        for rec in run:
            bar.update(rec)
            epoch_record = float(rec["epoch"]).is_integer() or rec["status"] != "running"
            if epoch_record:
                history.append(rec)
            if epoch_record or args.report_every:
                _emit(rec, args.json)
    except KeyboardInterrupt:
        interrupted = True
        sys.stderr.write("\ninterrupted: keeping the weights so far\n")
    last = history[-1] if history else {}
    final = dict(final=True, status="stopped" if interrupted else last.get("status"),
                 message=last.get("message", ""), epochs_run=last.get("epoch"),
                 train_acc=last.get("train_acc"), val_acc=last.get("val_acc"),
                 config=cfg.to_dict())
    metrics = {}
    if test_set is not None and test_set.has_labels:
        ev = evaluate(run.model, test_set)
        metrics = dict(test_acc=ev["accuracy"], test_loss=ev["loss"], n_test=ev["n"],
                       per_class_accuracy=ev["per_class_accuracy"])
        final.update(test_acc=ev["accuracy"], test_loss=ev["loss"])
    if args.preset:
        fig = presets.figures(args.preset, run.model, run.train_set, test_set)
        final.update(fig)
        metrics.update({k: fig[k] for k in ("preset", "metric", "value", "expected")})
    if args.out:
        save_model(run.model, args.out, config=cfg, history=history, metrics=metrics)
        final["saved"] = args.out
    if args.json:
        _emit(final, True)
    else:
        lines = [f"status: {final['status']}" + (f" ({final['message']})"
                                                 if final["message"] else "")]
        if final.get("val_acc") is not None:
            lines.append(f"validation accuracy: {100 * final['val_acc']:.2f}%")
        if "test_acc" in final:
            lines.append(f"test accuracy: {100 * final['test_acc']:.2f}% "
                         f"({final.get('n_test', metrics.get('n_test'))} digits)")
        if args.preset:
            exp = final["expected"]
            lines.append(f"preset {args.preset}: {final['metric']} = "
                         f"{100 * final['value']:.2f}%" +
                         (f" (tutorial: {100 * exp:.1f}%, difference "
                          f"{final['difference_points']:+.2f} points)" if exp else ""))
        if args.out:
            lines.append(f"saved: {args.out}")
        print("\n".join(lines))
    if final["status"] == "diverged":
        return EXIT_ERROR
    return 130 if interrupted else 0


# --------------------------------------------------------------------------------------------
# evaluate


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="score a model file",
                       description="Accuracy, per-class accuracy and confusion matrix of a "
                       "model file on the bundled MNIST test set or a given labelled dataset.")
    p.add_argument("model", nargs="?", help=f"model .npz (default: {DEFAULT_MODEL.name})")
    p.add_argument("--data", metavar="FILE", help="labelled data (CSV, NPZ or IDX)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from mnist.data.bundled import load_mnist
    from mnist.training.metrics import evaluate
    from mnist.training.persist import load_model

    model = load_model(_model_path(args.model))
    ds = _read_set(args.data, "test") if args.data else load_mnist()[1]
    if not ds.has_labels:
        raise CLIError(f"{ds.name} has no labels: it can be predicted, not scored")
    ev = evaluate(model, ds)
    ev.pop("predictions")
    ev = dict(final=True, model=_model_path(args.model), data=ds.name, **ev)
    if args.json:
        _emit(ev, True)
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
    try:
        import mnist.drawing as preprocess
    except ImportError:
        raise CLIError("image preprocessing is not available (mnist.drawing is missing); "
                       "use --raw for a 28x28 image") from None
    bad_image = getattr(preprocess, "PreprocessError", ValueError)
    try:
        img = preprocess.preprocess_canvas(rgba)
    except bad_image as e:
        raise CLIError(f"{path}: {e}") from None
    if img is None:
        raise CLIError(f"{path}: no digit found in the image")
    return np.asarray(img, dtype=np.float32)


def cmd_predict(args) -> int:
    from mnist.training.persist import load_model

    model = load_model(_model_path(args.model))
    img = _load_image(args.image, args.raw)  # (28, 28) in [0, 1]
    probs = model.predict_proba(img.reshape(1, 784))[0]
    digit = int(np.argmax(probs))
    res = dict(final=True, image=args.image, digit=digit, confidence=float(probs[digit]),
               probabilities=[round(float(p), 6) for p in probs])
    if args.json:
        _emit(res, True)
    else:
        print(f"digit: {digit}  (confidence {100 * probs[digit]:.1f}%)")
        top = np.argsort(-probs)[:3]
        print("top 3: " + ", ".join(f"{d}: {100 * probs[d]:.1f}%" for d in top))
    return 0


# --------------------------------------------------------------------------------------------
# info


def _add_info(sub):
    p = sub.add_parser("info", help="describe a model file",
                       description="Architecture, parameter count, training config, metrics "
                       "and format version of a model file.")
    p.add_argument("model", nargs="?", help=f"model .npz (default: {DEFAULT_MODEL.name})")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    from mnist.training.persist import load_model

    path = _model_path(args.model)
    model = load_model(path)
    meta = model.meta
    info = dict(final=True, model=path, architecture=meta["architecture"],
                n_params=model.n_params, format_version=meta["format_version"],
                config=meta.get("config"), metrics=meta.get("metrics"),
                epochs_recorded=len(meta.get("history") or []))
    if args.json:
        _emit(info, True)
        return 0
    arch = meta["architecture"]
    print(f"model: {path}")
    print(f"network: {'-'.join(map(str, arch['sizes']))}, activation {arch['activation']}, "
          f"loss {arch['loss']}, {arch['dtype']}, {model.n_params:,} parameters")
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
    sub = parser.add_subparsers(dest="command", metavar="{train,evaluate,predict,info,search}",
                                parser_class=_Parser)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_info(sub)
    from mnist.cli.search import add_search_parser  # issue 6: `search` lives in cli_search.py
    add_search_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from mnist.training.config import ConfigError
    from mnist.errors import DatasetError
    from mnist.training.persist import ModelFileError

    if "OPENBLAS_NUM_THREADS" not in os.environ:
        # One BLAS thread unless asked otherwise: for matrices this small a second OpenBLAS
        # thread spins between products and made training 4-20x slower here (bench_train.py).
        from mnist.training.threads import blas_threads

        blas_threads(1)
    try:
        return args.func(args)
    except (CLIError, ConfigError, DatasetError, ModelFileError) as e:
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
