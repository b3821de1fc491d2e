"""`python -m mnist search`: a search from the command line, run as a study on the run engine
(mnist.engine; the running and following is mnist.cli.studies, the parsing is here).

    python -m mnist search --vary lr=1e-4,1e-3,1e-2,1e-1 --epochs 3 --subset 10000 --out r.csv
    python -m mnist search --random 8 --vary lr=1e-4:1 --vary batch_size=32,128 --jobs 2
    python -m mnist search --preset four-learning-rates --epochs 2 --json
    python -m mnist search --lr-find --set optimizer=sgd --set init=he

`--vary FIELD=V1,V2,...` lists values (a grid, or choices in a random search); `FIELD=LO:HI` is
a range (random search only; log-uniform for lr and weight_decay). Layer sizes are written
128x64; layer specs with "-" between pieces, since commas separate the values
(`--vary layers=128-64,conv8k3-pool-64`: an MLP against a CNN, same seed and batches).
Progress goes to stderr, one line per finished run; the results table to stdout (or JSON with
--json) and to --out (.csv or .json). `mnist.cli.main` calls `add_search_parser`.
"""

from __future__ import annotations

import json
from pathlib import Path

from mnist.errors import CLIError
from mnist.cli.studies import add_engine_arguments, run_search
from mnist.search.presets import SEARCH_PRESETS
from mnist.search.space import can_range, parse_value, parse_values, range_of
from mnist.training.config import TrainConfig


def add_search_parser(sub) -> None:
    p = sub.add_parser(
        "search", help="compare training runs (grid or random search, LR range test)",
        description="Train several configs in parallel (paired: same initial weights and batch "
        "order unless --unpaired) and write a results table. Diverged runs are results, not "
        "errors.")
    p.add_argument("--vary", action="append", default=[], metavar="FIELD=VALUES",
                   help="values to try: lr=0.1,0.01 (list) or lr=1e-4:1 (range, with --random); "
                   "layer specs with '-' between pieces, commas between specs: "
                   "layers=128-64,conv8k3-pool-64")
    p.add_argument("--random", type=int, metavar="N", help="N random trials instead of a grid")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the random draws")
    p.add_argument("--preset", help="a search preset: " + ", ".join(SEARCH_PRESETS))
    p.add_argument("--config", metavar="FILE", help="base TrainConfig as JSON")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a field of the base config (repeatable)")
    p.add_argument("--epochs", type=int, help="epochs per run")
    p.add_argument("--subset", type=str, help="train each run on N digits (or a fraction)")
    p.add_argument("--seed", type=int, help="training seed (shared by paired runs)")
    p.add_argument("--unpaired", action="store_true",
                   help="give each run its own seed (independent initial weights and batches)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores; "
                   "0 = in this process)")
    p.add_argument("--halving", action="store_true", help="successive halving: after each "
                   "rung only the better half of the runs continue")
    p.add_argument("--lr-find", action="store_true", help="run the learning-rate range test "
                   "on the base config instead of a search")
    p.add_argument("--lr-min", type=float, default=1e-5)
    p.add_argument("--lr-max", type=float, default=10.0)
    p.add_argument("--steps", type=int, default=200, help="batches of the range test")
    p.add_argument("--out", metavar="FILE", help="write the results table (.csv or .json)")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_engine_arguments(p)
    p.set_defaults(func=cmd_search)


# --------------------------------------------------------------------------------------------
# parsing values (each field's kind: mnist.search.space.FIELDS)


def parse_vary(items: list[str]) -> dict:
    """--vary arguments -> a search space (lists, Range or IntRange)."""
    space = {}
    for item in items:
        if "=" not in item:
            raise CLIError(f"--vary needs FIELD=VALUES, got {item!r}")
        name, values = (s.strip() for s in item.split("=", 1))
        ranged = can_range(name)  # (an unknown field is refused here, by name)
        if ":" in values and ranged:
            lo, hi = values.split(":", 1)
            space[name] = range_of(name, parse_value(name, lo), parse_value(name, hi))
        else:
            space[name] = parse_values(name, values)
            if not space[name]:
                raise CLIError(f"--vary {name}: no values")
    return space


def _base_config(args):
    if args.preset and args.config:
        raise CLIError("use either --preset or --config, not both")
    preset = None
    if args.preset:
        if args.preset not in SEARCH_PRESETS:
            raise CLIError(f"unknown search preset {args.preset!r} (known: "
                           f"{', '.join(SEARCH_PRESETS)})")
        preset = SEARCH_PRESETS[args.preset]
        base = preset.base
    elif args.config:
        try:
            base = TrainConfig.from_json(Path(args.config).read_text(encoding="utf-8"))
        except OSError as e:
            raise CLIError(f"cannot read config {args.config}: {e.strerror or e}") from None
    else:
        base = TrainConfig()
    changes = {}
    for item in args.set:
        if "=" not in item:
            raise CLIError(f"--set needs FIELD=VALUE, got {item!r}")
        name, value = (s.strip() for s in item.split("=", 1))
        changes[name] = parse_value(name, value)
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.subset is not None:
        changes["subset"] = parse_value("subset", args.subset)
    if args.seed is not None:
        changes["seed"] = args.seed
    return (base.replace(**changes) if changes else base), preset, changes


# --------------------------------------------------------------------------------------------
# the command


def cmd_search(args) -> int:
    from mnist.data.bundled import load_mnist

    base, preset, changes = _base_config(args)
    if args.out:
        out_dir = Path(args.out).resolve().parent
        if not out_dir.is_dir():
            raise CLIError(f"--out: directory {out_dir} does not exist")
    if args.lr_find:
        return _lr_find(args, base, load_mnist()[0])

    return run_search(args, base, preset, changes, parse_vary(args.vary))


def _table(rows: list[dict], best) -> str:
    if not rows:
        return "(no runs)"
    cols = [c for c in rows[0] if c != "message"]

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    for r, row in zip(rows, cells):
        mark = "* " if r["run"] == best else "  "
        lines.append(mark + "  ".join(v.ljust(w) for v, w in zip(row, widths)))
    lines.append("(* best by validation accuracy)")
    return "\n".join(lines)


def _lr_find(args, base, train_ds) -> int:
    from mnist.training.lr_finder import lr_range_test

    res = lr_range_test(base, train_ds, lr_min=args.lr_min, lr_max=args.lr_max,
                        steps=args.steps)
    if args.out:
        Path(args.out).write_text(json.dumps(res.to_dict()), encoding="utf-8")
    if args.json:
        print(json.dumps(dict(final=True, **res.to_dict(), saved=args.out)))
    else:
        print(f"learning-rate range test: {len(res.lrs)} batches, lr {res.lrs[0]:.2g} .. "
              f"{res.lrs[-1]:.2g}{' (stopped: the loss exploded)' if res.stopped_early else ''}"
              f", {res.seconds:.1f} s")
        print(res.message)
        if args.out:
            print(f"saved: {args.out}")
    return 0
