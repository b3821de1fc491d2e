"""`python -m mnist train`: train a network from flags, a JSON config or a preset.

Progress goes to stderr as a tqdm bar (redrawn about 20 times an epoch on a terminal); the
epoch records go to stdout with --json, and the last line carries the final figures (test
accuracy, the preset's figure, where the model was saved).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tqdm import tqdm

from mnist.cli.common import EXIT_ERROR, emit, read_set
from mnist.errors import CLIError
from mnist.training.config import parse_hidden


def _subset(text: str):
    """"5000" -> 5000 digits (int); "0.1" -> a tenth (float)."""
    text = text.strip()
    try:
        return int(text) if text.isdigit() else float(text)
    except ValueError:
        raise CLIError(f"--subset must be a count or a fraction; got {text!r}") from None


CONFIG_FLAGS = {
    # flag: (config field, type, help)
    "hidden": ("hidden", parse_hidden, "hidden layer sizes, e.g. 128,64 (empty: none)"),
    "layers": ("layers", str, "a layer spec instead, e.g. conv16k5-pool-conv32k5-pool-128"),
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


def add_train_parser(sub):
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
            emit(dict(preset=name, config=cfg.to_dict(), note=note), args.json,
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
        train_set = read_set(args.data, "train")
    if args.test_data:
        test_set = read_set(args.test_data, "test")
    if args.preset:
        cfg_p, train_set, test_set = presets.prepare(args.preset, train_set, test_set)
    else:
        if train_set is None or (test_set is None and not args.data):
            mtrain, mtest = load_mnist()
            train_set = train_set or mtrain
            test_set = test_set if test_set is not None else (None if args.data else mtest)

    model = load_model(args.resume) if args.resume else None
    run = train(cfg, train_set, model=model, report_every=args.report_every)
    bar = progress_bar(cfg.epochs, quiet=args.quiet)
    if run.report_every is None and not args.quiet and sys.stderr.isatty():
        # redraw the bar ~20 times per epoch (these records are not printed nor saved)
        n_batches = -(-len(run.train_set) // (cfg.batch_size or len(run.train_set)))
        run.report_every = max(1, n_batches // 20) if n_batches >= 20 else None
    history = []
    interrupted = False
    try:
        for rec in run:
            show(bar, rec)
            epoch_record = float(rec["epoch"]).is_integer() or rec["status"] != "running"
            if epoch_record:
                history.append(rec)
            if epoch_record or args.report_every:
                emit(rec, args.json)
    except KeyboardInterrupt:
        interrupted = True
        bar.close()
        sys.stderr.write("interrupted: keeping the weights so far\n")
    bar.close()
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
        emit(final, True)
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


def progress_bar(epochs: int, quiet: bool = False) -> tqdm:
    """A bar on stderr that counts epochs (fractions of one between epoch records)."""
    return tqdm(total=epochs, file=sys.stderr, disable=quiet, dynamic_ncols=True,
                bar_format="epoch {n:.2f}/{total_fmt} |{bar:24}| {percentage:5.1f}%{postfix} "
                           "[{elapsed}]")


def show(bar: tqdm, rec: dict) -> None:
    """Move the bar to a train() record's epoch, with its figures after it."""
    parts = []
    if rec.get("train_loss") is not None:
        parts.append(f"loss {rec['train_loss']:.4f}")
    if rec.get("train_acc") is not None:
        parts.append(f"acc {100 * rec['train_acc']:.2f}%")
    if rec.get("val_acc") is not None:
        parts.append(f"val {100 * rec['val_acc']:.2f}%")
    if rec.get("samples_per_s"):
        parts.append(f"{rec['samples_per_s']:,.0f}/s")
    bar.set_postfix_str("  ".join(parts), refresh=False)
    bar.update(min(rec["epoch"], bar.total) - bar.n)  # redrawn at most every 0.1 s
