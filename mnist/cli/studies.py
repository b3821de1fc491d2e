"""The command line on the run engine (mnist.engine): `search` runs as a study, `worker` joins
one from any machine, `studies` lists them.

    python -m mnist search --vary lr=1e-4:1 --sampler tpe --trials 16 --pruner halving
    python -m mnist search ... --storage postgresql://u:p@db/mnist --workers 0   # prints the id
    python -m mnist worker --storage postgresql://u:p@db/mnist --study ID        # on each machine
    python -m mnist studies --storage postgresql://u:p@db/mnist

A search prints its study id on stderr (and as `study_id` in every JSON line), runs its trials
on `--workers` local processes (or in this process with `--jobs 0`, or only on remote workers
with `--workers 0`) and follows the storage for records until every trial has finished; so
what it prints is what any other reader of the storage would see. Ctrl-C stops the study
(running trials end with their weights kept) and prints what there is.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from mnist.cli.common import emit
from mnist.errors import CLIError

POLL_S = 0.25
OWNER = "cli"


def add_engine_arguments(p) -> None:
    """The search command's engine options."""
    p.add_argument("--sampler", choices=("grid", "random", "tpe"),
                   help="grid (default; every combination), random or tpe (Bayesian): the "
                   "last two draw --trials runs from the --vary lists and ranges")
    p.add_argument("--trials", type=int, metavar="N", help="runs of a random or TPE search")
    p.add_argument("--pruner", choices=("none", "halving", "hyperband"),
                   help="end weak runs early: successive halving or Hyperband on validation "
                   "accuracy at epochs 1, 2, 4, ... (--halving = --pruner halving)")
    p.add_argument("--storage", metavar="URL", help="where the study is recorded: a journal "
                   "file path or a postgresql:// URL (default: runs/studies.journal, or "
                   "$MNIST_STORAGE)")
    p.add_argument("--study", metavar="ID", help="resume a study (random/TPE: --trials adds "
                   "runs) instead of creating one")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: "
                   "the cores); 0 = leave the runs to `python -m mnist worker` elsewhere")


def add_engine_parsers(sub) -> None:
    p = sub.add_parser("worker", help="run trials of a study (any machine)",
                       description="Join a study: take its waiting trials one after another "
                       "until none is left (or N have run). Start one per core, on as many "
                       "machines as share the storage.")
    p.add_argument("--storage", metavar="URL", help="journal path or postgresql:// URL")
    p.add_argument("--study", required=True, metavar="ID")
    p.add_argument("--trials", type=int, metavar="N", help="stop after N trials")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("studies", help="list the studies of a storage",
                       description="The studies in a storage, newest first, with their best "
                       "validation accuracy.")
    p.add_argument("--storage", metavar="URL", help="journal path or postgresql:// URL")
    p.add_argument("--owner", help="only this owner's studies")
    p.add_argument("--json", action="store_true", help="one JSON line per study")
    p.set_defaults(func=cmd_studies)


# --------------------------------------------------------------------------------------------
# search


def _make_study(args, base, preset, changes, space):
    from mnist.engine.study import create_study, open_study

    paired = not args.unpaired
    sampler = args.sampler or ("random" if args.random else "grid")
    trials = args.trials or args.random
    pruner = args.pruner or ("halving" if args.halving else "none")
    if args.study:
        study = open_study(args.study, args.storage)
        if trials and study.sampler in ("random", "tpe"):
            study.add_trials(trials)
        else:
            study.resume()
        return study
    common = dict(pruner=pruner, paired=paired, owner=OWNER, storage=args.storage)
    if preset is not None and not space:
        return create_study(configs=preset.configs(paired, **changes), title=preset.title,
                            **{k: v for k, v in common.items() if k != "paired"})
    if not space:
        raise CLIError("nothing to compare: give --vary FIELD=VALUES (or --preset)")
    if sampler != "grid" and not trials:
        raise CLIError(f"a {sampler} search needs --trials N")
    return create_study(space, base=base, sampler=sampler, trials=trials if sampler != "grid"
                        else None, seed=args.sample_seed, **common)


def run_search(args, base, preset, changes, space) -> int:
    """`python -m mnist search` on the engine (the parsing is mnist.cli.search's)."""
    from mnist.engine.pool import Pool, available_cores
    from mnist.engine.trial import work
    from mnist.search.results import results_table, write_results
    from mnist.search.space import varied_fields

    study = _make_study(args, base, preset, changes, space)
    workers = args.workers if args.workers is not None else args.jobs
    workers = available_cores() if workers is None else workers
    in_process = args.workers is None and args.jobs == 0
    n = study.n_trials
    if not args.quiet:
        where = ("in this process" if in_process else f"{workers} local worker"
                 f"{'s' if workers != 1 else ''}" if workers else "remote workers only")
        sys.stderr.write(f"study {study.id} in {study.storage.label}: {n} runs "
                         f"({study.sampler}, pruner {study.pruner}) on {where}\n"
                         f"  join it: python -m mnist worker --study {study.id} --storage "
                         f"{study.storage.label}\n")
    pool = thread = None
    if in_process:
        thread = threading.Thread(target=work, args=(study.id, study.storage), daemon=True)
        thread.start()
    elif workers:
        pool = Pool(min(workers, max(1, study.waiting())))
        pool.submit(study)
    t0, interrupted = time.perf_counter(), False
    try:
        trials = _follow(study, args, t0, lambda: (thread is not None and thread.is_alive()) or
                         (pool is not None and (pool.queued() or pool.running())))
    except KeyboardInterrupt:
        interrupted = True
        study.stop()
        sys.stderr.write("\ninterrupted: runs stopped, writing what there is\n")
        trials = _follow(study, args, t0, lambda: False, grace=5.0)
    finally:
        if pool is not None:
            pool.close()
    results = [t.to_result() for t in trials]
    rows = results_table(results)
    best = study.best()
    configs = [t.config for t in trials if t.config is not None]
    if args.out:
        write_results(results, args.out)
    if args.json:
        emit(dict(final=True, study_id=study.id, storage=study.storage.label,
                  seconds=time.perf_counter() - t0, jobs=workers, varied=varied_fields(configs),
                  best=best.number if best else None, results=rows, saved=args.out), True)
    else:
        from mnist.cli.search import _table

        print(_table(rows, best.number if best else None))
        print(f"study: {study.id}")
        if args.out:
            print(f"saved: {args.out}")
    return 130 if interrupted else 0


def _follow(study, args, t0: float, local_busy, grace: float | None = None) -> list:
    """Print records (--json) and finished runs as the storage shows them, until every trial
    has finished (or, after a stop, `grace` seconds for the running ones to end)."""
    seen: dict[int, int] = {}
    announced: set[int] = set()
    deadline = None if grace is None else time.monotonic() + grace
    while True:
        trials = study.trials()
        for t in trials:
            new = t.records[seen.get(t.number, 0):]
            seen[t.number] = len(t.records)
            if args.json:
                for rec in new:
                    emit(dict(event="record", study_id=study.id, run=t.number, **rec), True)
            if t.finished and t.number not in announced:
                announced.add(t.number)
                if not args.quiet:
                    acc = t.to_result().last.get("val_acc")
                    acc_text = f", val acc {100 * acc:.2f}%" if acc is not None else ""
                    sys.stderr.write(f"run {t.number + 1}/{len(trials)} {t.label}: {t.status}"
                                     f"{acc_text} ({t.epochs_done:.3g} epochs, "
                                     f"{time.perf_counter() - t0:.1f} s)\n")
                    sys.stderr.flush()
        waiting = any(t.status == "waiting" for t in trials)
        running = any(t.status == "running" for t in trials)
        if deadline is not None:
            if not running or time.monotonic() > deadline:
                return trials
        elif not (waiting or running):
            return trials
        elif not running and not local_busy() and args.workers != 0:
            return trials  # the local workers are done and nobody else is on it
        time.sleep(POLL_S)


# --------------------------------------------------------------------------------------------
# worker, studies


def cmd_worker(args) -> int:
    from mnist.engine.study import open_study
    from mnist.engine.trial import work

    study = open_study(args.study, args.storage)
    if args.trials is not None and args.trials < 1:
        raise CLIError("--trials must be at least 1")
    if not args.quiet:
        sys.stderr.write(f"worker: study {study.id} in {study.storage.label}, "
                         f"{study.waiting()} runs waiting\n")

    def done(number):
        if not args.quiet:
            t = study.trial(number)
            acc = f", val acc {100 * t.value:.2f}%" if t.value is not None else ""
            sys.stderr.write(f"run {number + 1} {t.label}: {t.status}{acc}\n")
            sys.stderr.flush()

    n = work(study.id, study.storage, n=args.trials, on_trial=done)
    print(f"worker: ran {n} run{'s' if n != 1 else ''} of study {study.id}", flush=True)
    return 0


def cmd_studies(args) -> int:
    import datetime

    from mnist.engine.storage import open_storage
    from mnist.engine.study import list_studies

    store = open_storage(args.storage)
    studies = list_studies(store, owner=args.owner)
    if args.json:
        for s in studies:
            print(json.dumps(dict(study_id=s.id, title=s.title, owner=s.owner,
                                  sampler=s.sampler, pruner=s.pruner, trials=s.n_trials,
                                  created=s.created, best_value=s.best_value)), flush=True)
        return 0
    if not studies:
        print(f"no studies in {store.label}")
        return 0
    for s in studies:
        when = datetime.datetime.fromtimestamp(s.created).strftime("%Y-%m-%d %H:%M")
        best = "-" if s.best_value is None else f"{100 * s.best_value:.2f}%"
        print(f"{s.id}  {when}  {s.sampler:<6} {s.n_trials:>3} runs  best {best:>7}  "
              f"{s.owner}  {s.title}")
    return 0
