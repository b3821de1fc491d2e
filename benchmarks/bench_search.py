"""Parallel efficiency of the search engine: the same runs serially, then in parallel.

The goal (issue 6): on the full 60k training set, a 4-learning-rate grid of 784-128-64-10 for
3 epochs finishes in under 1.25 x (serial time / cores), i.e. parallel efficiency
serial / (jobs x parallel) >= 80%.

- serial: `Search(configs, jobs=0)`, the runs one after another in this process, one BLAS
  thread (the fastest serial way here: with 2 BLAS threads small matrices only fight);
- parallel: `Search(configs, jobs=J)`, J worker processes, one BLAS thread each.
Both share everything else (data, configs, validation, reporting), and the results must match.

Prints one JSON line per case and a summary line. The machine load (1-minute load average)
before and after is in the summary: other work on the cores makes the parallel case slower
(it needs both cores at once). The CPU seconds (this process + its joined workers) show the
work done whatever the load, and a last case times one run alone and `jobs` copies at once in
bare processes (no engine): how well the machine itself scales at that moment.

Run: .venv/bin/python benchmarks/bench_search.py [--epochs 3] [--subset N] [--jobs 2]
"""

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
from mnist import TrainConfig, load_mnist  # noqa: E402
from mnist.search import Search, grid  # noqa: E402

LRS = [1e-4, 1e-3, 1e-2, 1e-1]


def cpu_seconds() -> float:
    """CPU time of this process and of its finished (joined) children so far."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run(configs, train, jobs):
    c0, t0 = cpu_seconds(), time.perf_counter()
    search = Search(configs, train, jobs=jobs, keep="none")
    search.run()
    return time.perf_counter() - t0, cpu_seconds() - c0, search


def _bare(cfg, train):
    from mnist import train as fit
    from mnist.training.threads import blas_threads

    with blas_threads(1):
        list(fit(cfg, train))


def machine_scaling(cfg, train, jobs):
    """The same run alone, then `jobs` copies at once in bare forked processes (no search
    engine): how well the machine itself scales right now (1.0 = perfectly)."""
    ctx = mp.get_context("fork")

    def timed(n):
        procs = [ctx.Process(target=_bare, args=(cfg, train)) for _ in range(n)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        return time.perf_counter() - t0

    t1, tn = timed(1), timed(jobs)
    return t1, tn, t1 / tn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--subset", type=int, default=None, help="default: all 60,000 digits")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--optimizer", default="sgd")
    args = ap.parse_args()

    train, _ = load_mnist()
    base = TrainConfig(hidden=(128, 64), init="normal001", optimizer=args.optimizer,
                       batch_size=args.batch_size, epochs=args.epochs, subset=args.subset,
                       val_fraction=0.1, seed=0)
    configs = grid({"lr": LRS}, base)
    load_before = os.getloadavg()[0]

    t_par, cpu_par, par = run(configs, train, args.jobs)
    print(json.dumps({"case": f"parallel ({args.jobs} workers)", "seconds": round(t_par, 2),
                      "cpu_seconds": round(cpu_par, 2), "runs": len(configs),
                      "status": [r.status for r in par.results]}), flush=True)
    t_ser, cpu_ser, ser = run(configs, train, 0)
    print(json.dumps({"case": "serial (this process)", "seconds": round(t_ser, 2),
                      "cpu_seconds": round(cpu_ser, 2), "runs": len(configs),
                      "status": [r.status for r in ser.results]}), flush=True)

    t1, tn, scaling = machine_scaling(configs[-1], train, args.jobs)
    print(json.dumps({"case": f"bare processes: 1 run alone, then {args.jobs} at once",
                      "seconds_alone": round(t1, 2), "seconds_together": round(tn, 2),
                      "machine_scaling": round(scaling, 3)}), flush=True)

    same = all(a.status == b.status and abs(a.last["val_acc"] - b.last["val_acc"]) < 1e-9
               for a, b in zip(par.results, ser.results))
    efficiency = t_ser / (args.jobs * t_par)
    print(json.dumps({
        "case": "summary",
        "network": "784-128-64-10", "optimizer": args.optimizer, "batch_size": args.batch_size,
        "epochs": args.epochs, "digits": len(train) if args.subset is None else args.subset,
        "val_fraction": 0.1, "lrs": LRS, "jobs": args.jobs, "cores": os.cpu_count(),
        "serial_s": round(t_ser, 2), "parallel_s": round(t_par, 2),
        "ideal_parallel_s": round(t_ser / args.jobs, 2),
        "efficiency": round(efficiency, 3), "target": 0.8, "meets_target": efficiency >= 0.8,
        # CPU work, whatever the load: parallel / serial near 1 = no extra work in parallel
        "serial_cpu_s": round(cpu_ser, 2), "parallel_cpu_s": round(cpu_par, 2),
        "same_results": same, "machine_scaling_now": round(scaling, 3),
        "load_1min_before": round(load_before, 2), "load_1min_after": round(os.getloadavg()[0],
                                                                            2),
    }), flush=True)


if __name__ == "__main__":
    main()
