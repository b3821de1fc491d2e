"""The run engine (mnist.engine) measured: parallel efficiency, storage costs, TPE vs random.

Cases, one JSON line each, then a summary line:
1. *Parallel efficiency.* A 4-learning-rate grid of 784-128-64-10 (plain SGD, batch 32) for
   `--epochs` on `--subset` digits (default: all 60,000): serially in this process (`work`),
   then on a pool of `--jobs` worker processes. Goal: serial / (jobs x parallel) >= 0.8. The
   runs are paired, so both ways must give identical validation accuracies.
2. *Storage overhead per trial*: tiny trials run through the engine (claim, records, weights,
   tell) minus the same trainings run bare, in ms per trial; journal file, and PostgreSQL too
   with `--pg URL`.
3. *Record latency*: a trial trains in a worker while this process reads the storage every
   20 ms; seconds from a record made (its "time") to this reader seeing it (median and max).
   The writer flushes at most every FLUSH_S, so half of that is the typical floor.
4. *TPE vs random*: 16 trials each on the same space (lr log-uniform 1e-4..1, momentum
   0.5..0.99, hidden 32/64/128), 3 seeds, best validation accuracy per study; medians.

Run: .venv/bin/python benchmarks/bench_search.py [--epochs 3] [--subset N] [--jobs 2]
     [--pg postgresql://...] [--skip-parallel]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
os.environ.setdefault("MNIST_RUNS_DIR", tempfile.mkdtemp(prefix="bench-runs-"))

from mnist.engine import datacache  # noqa: E402
from mnist.engine.pool import Pool  # noqa: E402
from mnist.engine.storage import runs_dir  # noqa: E402
from mnist.engine.study import create_study  # noqa: E402
from mnist.engine.trial import FLUSH_S, work  # noqa: E402
from mnist.search.space import Choice, Range  # noqa: E402
from mnist.training.config import TrainConfig  # noqa: E402
from mnist.training.loop import train  # noqa: E402
from mnist.training.threads import blas_threads  # noqa: E402

LRS = [1e-4, 1e-3, 1e-2, 1e-1]


def emit(d):
    print(json.dumps(d), flush=True)


def parallel_efficiency(args, folder):
    base = TrainConfig(hidden=(128, 64), init="normal001", optimizer="sgd", batch_size=32,
                       epochs=args.epochs, subset=args.subset, val_fraction=0.1, seed=0)
    pool = Pool(args.jobs)
    pool.wait_ready()
    par = create_study({"lr": LRS}, base=base, storage=f"{folder}/par.journal")
    t0 = time.perf_counter()
    pool.submit(par)
    pool.wait(par.id)
    t_par = time.perf_counter() - t0
    pool.close()
    ser = create_study({"lr": LRS}, base=base, storage=f"{folder}/ser.journal")
    t0 = time.perf_counter()
    with blas_threads(1):
        work(ser.id, f"{folder}/ser.journal")
    t_ser = time.perf_counter() - t0
    same = [t.value for t in par.trials()] == [t.value for t in ser.trials()]
    eff = t_ser / (args.jobs * t_par)
    scaling = machine_scaling(base.replace(lr=LRS[-1]), args.jobs)
    emit({"case": "4-run grid: serial vs pool", "jobs": args.jobs, "serial_s": round(t_ser, 2),
          "parallel_s": round(t_par, 2), "efficiency": round(eff, 3), "target": 0.8,
          "same_results": same, "statuses": [t.status for t in par.trials()],
          "machine_scaling_now": round(scaling, 3)})
    return eff


def _bare(cfg):
    from mnist.training.threads import blas_threads as limit

    limit(1)
    list(train(cfg, datacache.load(runs_dir())[0]))


def machine_scaling(cfg, jobs):
    """One run alone, then `jobs` copies at once, in bare spawned processes (no engine): how
    well the machine itself scales right now (1.0 = perfectly; other users' work lowers it)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")

    def timed(n):
        procs = [ctx.Process(target=_bare, args=(cfg,)) for _ in range(n)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        return time.perf_counter() - t0

    t1, tn = timed(1), timed(jobs)
    emit({"case": f"bare processes: 1 run alone, then {jobs} at once",
          "seconds_alone": round(t1, 2), "seconds_together": round(tn, 2),
          "machine_scaling": round(t1 / tn, 3)})
    return t1 / tn


def storage_overhead(storage, label, n=8):
    cfg = TrainConfig(hidden=(16,), epochs=1, subset=500, batch_size=32, optimizer="sgd",
                      lr=0.1, val_fraction=0.2)
    train_ds, _ = datacache.load(runs_dir())
    configs = [cfg.replace(lr=0.01 * (i + 1)) for i in range(n)]
    with blas_threads(1):
        list(train(configs[0], train_ds))  # warm
        t0 = time.perf_counter()
        for c in configs:
            list(train(c, train_ds, report_every=1))
        bare = time.perf_counter() - t0
        study = create_study(configs=configs, storage=storage, report_every=1)
        t0 = time.perf_counter()
        work(study.id, storage)
        engine = time.perf_counter() - t0
    per = (engine - bare) / n * 1000
    emit({"case": f"storage overhead per trial ({label})", "trials": n,
          "bare_s": round(bare, 3), "engine_s": round(engine, 3),
          "overhead_ms_per_trial": round(per, 1)})
    return per


def record_latency(storage):
    cfg = TrainConfig(hidden=(64,), epochs=3, subset=20000, batch_size=32, optimizer="sgd",
                      lr=0.05, val_fraction=0.1)
    study = create_study(configs=[cfg], storage=storage)
    pool = Pool(1)
    pool.wait_ready()
    seen, lags = 0, []
    pool.submit(study)
    while True:
        t = study.trial(0)
        now = time.time()
        for rec in t.records[seen:]:
            lags.append(now - rec["time"])
        seen = len(t.records)
        if t.finished:
            break
        time.sleep(0.02)
    pool.close()
    emit({"case": "record latency: made -> reader sees it", "records": len(lags),
          "median_s": round(statistics.median(lags), 3), "max_s": round(max(lags), 3),
          "writer_flush_s": FLUSH_S, "reader_poll_s": 0.02})
    return statistics.median(lags)


def tpe_vs_random(args, folder):
    space = {"lr": Range(1e-4, 1.0), "momentum": Range(0.5, 0.99),
             "hidden": Choice([(32,), (64,), (128,)])}
    base = TrainConfig(optimizer="momentum", batch_size=64, epochs=2, subset=args.tpe_subset,
                       val_fraction=0.2, seed=0)
    pool = Pool(args.jobs)
    pool.wait_ready()
    best = {"random": [], "tpe": []}
    for seed in range(3):
        for sampler in ("random", "tpe"):
            s = create_study(space, base=base, sampler=sampler, trials=16, seed=seed,
                             storage=f"{folder}/tpe.journal")
            pool.submit(s)
            pool.wait(s.id)
            best[sampler].append(s.best().value)
    pool.close()
    med = {k: statistics.median(v) for k, v in best.items()}
    emit({"case": "TPE 16 vs random 16 (best val acc, 3 seeds)", "digits": args.tpe_subset,
          "epochs": 2, "random": best["random"], "tpe": best["tpe"],
          "median_random": round(med["random"], 4), "median_tpe": round(med["tpe"], 4)})
    return med


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--subset", type=int, default=None, help="default: all 60,000 digits")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--tpe-subset", type=int, default=5000)
    ap.add_argument("--pg", metavar="URL", help="also measure a PostgreSQL storage")
    ap.add_argument("--skip-parallel", action="store_true")
    args = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-search-")
    datacache.load(runs_dir())  # the .npy cache, made once before anything is timed
    load_before = os.getloadavg()[0]
    summary = {"case": "summary", "cores": os.cpu_count(), "jobs": args.jobs}
    if not args.skip_parallel:
        summary["efficiency"] = round(parallel_efficiency(args, folder), 3)
    summary["overhead_ms_journal"] = round(storage_overhead(f"{folder}/o.journal",
                                                            "journal"), 1)
    if args.pg:
        summary["overhead_ms_postgres"] = round(storage_overhead(args.pg, "postgresql"), 1)
    summary["record_latency_median_s"] = round(record_latency(f"{folder}/lat.journal"), 3)
    med = tpe_vs_random(args, folder)
    summary.update(tpe_median_best=round(med["tpe"], 4),
                   random_median_best=round(med["random"], 4),
                   load_1min_before=round(load_before, 2),
                   load_1min_after=round(os.getloadavg()[0], 2))
    emit(summary)


if __name__ == "__main__":
    main()
