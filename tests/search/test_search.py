"""Hyperparameter search (mnist.search) and the learning-rate range test (mnist.training.lr_finder).

Small networks on a few hundred digits: the point is the behaviour (configs, pairing, a search
run as a study on the run engine, divergence, results tables, validation within an epoch, the
figures), not accuracy. The engine itself (samplers, pruners, stop, dead workers, fair queues)
is tested in tests/engine.
"""

import csv
import importlib
import io
import json
import math
import os

import numpy as np
import psutil
import pytest
from scipy import stats

from mnist import ConfigError, DatasetError, TrainConfig, build_model, load_mnist, train
from mnist.nn.fast import FastPath
from mnist.training.lr_finder import lr_range_test
from mnist.engine import datacache
from mnist.engine import trial as T
from mnist.engine.pool import Pool
from mnist.engine.storage import runs_dir
from mnist.engine.study import create_study
from mnist.engine.trial import work
from mnist.search.estimate import estimate_seconds
from mnist.search.presets import SEARCH_PRESETS
from mnist.search.results import results_csv, results_json, results_table, write_results
from mnist.search.space import MAX_RUNS, Choice, IntRange, Range, grid, sample, varied_fields

steps_mod = importlib.import_module("mnist.training.steps")  # where training draws its batches

TINY = TrainConfig(hidden=(16,), init="he", optimizer="sgd", lr=0.05, batch_size=32, epochs=2,
                   subset=400, val_fraction=0.25, seed=3)


@pytest.fixture(scope="module")
def digits():
    train_ds, _ = load_mnist()
    return train_ds.subset(1200, seed=0)


# ------------------------------------------------------------------------------ spaces
def test_grid_makes_every_combination_in_order_with_the_base_seed():
    cfgs = grid({"lr": [0.1, 0.01], "hidden": [(32,), (64, 32)], "batch_size": [16, 64, 128]},
                base=TINY)
    assert len(cfgs) == 12
    combos = [(c.lr, c.hidden, c.batch_size) for c in cfgs]
    assert len(set(combos)) == 12
    assert combos[0] == (0.1, (32,), 16) and combos[-1] == (0.01, (64, 32), 128)
    assert all(c.seed == TINY.seed and c.epochs == TINY.epochs for c in cfgs)  # paired
    assert varied_fields(cfgs) == ["hidden", "lr", "batch_size"]


def test_unpaired_grid_gives_each_run_its_own_seed():
    cfgs = grid({"lr": [0.1, 0.01, 0.001]}, base=TINY, paired=False)
    assert [c.seed for c in cfgs] == [3, 4, 5]


def test_random_sample_counts_ranges_and_types():
    space = {"lr": Range(1e-4, 1.0), "dropout": Range(0.0, 0.5),
             "batch_size": IntRange(16, 256), "hidden": [(32,), (64,)],
             "activation": Choice(("relu", "tanh"))}
    cfgs = sample(space, 16, seed=7, base=TINY)
    assert len(cfgs) == 16
    for c in cfgs:
        assert 1e-4 <= c.lr <= 1.0 and 0.0 <= c.dropout <= 0.5
        assert isinstance(c.batch_size, int) and 16 <= c.batch_size <= 256
        assert c.hidden in ((32,), (64,)) and c.activation in ("relu", "tanh")
        assert c.seed == TINY.seed
        TrainConfig.from_json(c.to_json())  # plain, JSON-able values
    assert len({c.lr for c in cfgs}) == 16
    # the same seed draws the same configs, another seed other ones
    assert sample(space, 16, seed=7, base=TINY) == cfgs
    assert sample(space, 16, seed=8, base=TINY) != cfgs


def test_learning_rate_ranges_are_log_uniform_others_uniform():
    rng = np.random.default_rng(0)
    lr = Range(1e-4, 1.0).draw(rng, "lr", 4000)
    # log-uniform: log10(lr) is uniform on [-4, 0]; a uniform draw would put ~all above 1e-2
    assert stats.kstest((np.log10(lr) + 4) / 4, "uniform").pvalue > 0.01
    assert 0.4 < np.mean(lr < 1e-2) < 0.6
    wd = Range(1e-6, 1e-2).draw(rng, "weight_decay", 4000)
    assert 0.4 < np.mean(wd < 1e-4) < 0.6
    d = Range(0.0, 0.5).draw(rng, "dropout", 4000)
    assert stats.kstest(d / 0.5, "uniform").pvalue > 0.01
    forced = Range(1e-4, 1.0, log=False).draw(rng, "lr", 4000)
    assert np.mean(forced < 1e-2) < 0.05
    ints = IntRange(1, 4).draw(rng, "epochs", 4000)
    assert set(ints.tolist()) == {1, 2, 3, 4}


@pytest.mark.parametrize("space, words", [
    ({"momentum": [0.5, 1.5]}, ["run 2", "momentum=1.5", "momentum must be"]),
    ({"learning_rate": [0.1]}, ["'learning_rate'", "not a TrainConfig field"]),
    ({"lr": []}, ["lr", "empty"]),
    ({"lr": Range(1e-3, 1.0)}, ["ranges are for a random search"]),
    ({}, ["empty"]),
    ({"lr": list(np.geomspace(1e-4, 1, 5)), "batch_size": [16, 32, 64, 128]}, ["20 runs",
                                                                              "at most 16"]),
])
def test_bad_spaces_say_what_is_wrong(space, words):
    with pytest.raises(ConfigError) as e:
        grid(space, base=TINY)
    for w in words:
        assert w in str(e.value)


def test_bad_random_trials_and_ranges():
    with pytest.raises(ConfigError, match="at most 16"):
        sample({"lr": Range(1e-3, 1)}, MAX_RUNS + 1)
    with pytest.raises(ConfigError, match="lo <= hi"):
        Range(1.0, 0.1)
    with pytest.raises(ConfigError, match="momentum must be"):
        sample({"momentum": Range(0.5, 1.5)}, 16, seed=1)  # some draws are >= 1


# ------------------------------------------------------------------------------ pairing
def spy_batches(monkeypatch, seen: dict, run: list):
    """Record each training minibatch of train() under `seen[run[0]]`, as (labels or None,
    per-row pixel sums), whichever way it is served: batches() (plain path, augmentation)
    or FastPath.load (the fast path gathers its own rows)."""
    real_batches, real_load = steps_mod.batches, FastPath.load

    def batches(ds, batch_size, rng=None):
        for x, y in real_batches(ds, batch_size, rng):
            if rng is not None:  # training batches (evaluation passes no generator)
                seen.setdefault(run[0], []).append(
                    (y.copy(), np.rint(x.astype(np.float64) * 255).sum(axis=1)))
            yield x, y

    def load(self, images, idx):
        seen.setdefault(run[0], []).append(
            (None, images[idx].astype(np.float64).sum(axis=1)))
        return real_load(self, images, idx)

    monkeypatch.setattr(steps_mod, "batches", batches)
    monkeypatch.setattr(FastPath, "load", load)


def same_batches(a, b) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(sa, sb) and (ya is None or yb is None or np.array_equal(ya, yb))
        for (ya, sa), (yb, sb) in zip(a, b))


def test_paired_runs_start_from_identical_weights_and_see_identical_batches(digits, monkeypatch):
    """What makes a learning-rate comparison fair: change only lr (and the optimizer), and the
    initial weights and the minibatch order of train() stay exactly the same."""
    seen, run_id = {}, [0]
    spy_batches(monkeypatch, seen, run_id)
    cfgs = grid({"lr": [1e-3, 0.05, 0.5]}, base=TINY) + \
        grid({"optimizer": ["momentum", "adam"]}, base=TINY)
    initial = []
    for current, cfg in enumerate(cfgs):
        run_id[0] = current
        run = train(cfg, digits)
        initial.append(run.model.state_dict())  # before the first step
        assert initial[-1].keys() == build_model(cfg).state_dict().keys()
        list(run)
    for state in initial[1:]:
        for k in state:
            np.testing.assert_array_equal(state[k], initial[0][k])
    n_batches = math.ceil(300 / 32) * TINY.epochs  # 400 digits, a quarter held out
    assert len(seen[0]) == n_batches
    for i in range(1, len(cfgs)):
        assert same_batches(seen[0], seen[i]), f"run {i} saw other batches"
    # and the runs really differ (the learning rate did something)
    assert initial[0]["0.W"].shape == (784, 16)


def test_presets_pair_or_unpair_their_runs_like_grid():
    """A preset's runs share the base seed, or with paired=False get base.seed + i (for the
    CLI's --unpaired and the page's checkbox alike), whether it is a grid or variants."""
    for preset in SEARCH_PRESETS.values():
        paired = preset.configs(epochs=1)
        unpaired = preset.configs(False, epochs=1)
        assert len({c.seed for c in paired}) == 1
        assert [c.seed for c in unpaired] == [paired[0].seed + i for i in range(len(paired))]
        assert [c.replace(seed=0) for c in unpaired] == [c.replace(seed=0) for c in paired]


def test_unpaired_runs_start_from_different_weights():
    a, b = grid({"lr": [0.1, 0.01]}, base=TINY, paired=False)
    assert not np.array_equal(build_model(a).state_dict()["0.W"],
                              build_model(b).state_dict()["0.W"])


# ------------------------------------------------------------------------------ running
# (the engine's own tests, tests/engine, cover halving, stop, cancelled runs, dead workers)
def _children():
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture
def journal(tmp_path):
    return str(tmp_path / "studies.journal")


def _bundled_train():
    return datacache.load(runs_dir())[0]  # what the workers train on


def test_a_grid_on_worker_processes_gives_the_numbers_of_the_same_runs_here(journal):
    space = {"lr": [0.05, 0.5, 50.0]}
    pool = Pool(2)
    try:
        study = create_study(space, base=TINY, storage=journal, report_every=3)
        pool.submit(study)
        assert pool.wait(study.id, timeout=120)
        pids = pool.pids()
    finally:
        pool.close()
    trials = study.trials()
    assert [t.status for t in trials] == ["complete", "complete", "diverged"]
    assert {t.worker["pid"] for t in trials} <= set(pids) and os.getpid() not in pids
    assert "diverged" in trials[2].message
    assert study.best().number in (0, 1) and study.best().value > 0.2  # chance is 0.1
    # intra-epoch points (no validation) and end-of-epoch points (with validation)
    h = trials[0].records
    assert any(not float(r["epoch"]).is_integer() for r in h)
    assert [r["epoch"] for r in h if r["val_acc"] is not None] == [1.0, 2.0]
    assert not set(pids) & _children()  # no worker left behind
    # the same runs one after another in this process give the same numbers
    serial = create_study(space, base=TINY, storage=journal, report_every=3)
    assert work(serial.id, journal) == 3
    for a, b in zip(trials, serial.trials()):
        assert a.status == b.status
        assert a.records[-1]["val_acc"] == pytest.approx(b.records[-1]["val_acc"], abs=1e-9)
        assert a.records[-1]["train_loss"] == pytest.approx(b.records[-1]["train_loss"],
                                                            rel=1e-5)


def test_best_weights_are_kept_and_reproduce_the_validation_accuracy(journal):
    study = create_study({"lr": [0.003, 0.3]}, base=TINY, storage=journal)
    work(study.id, journal)
    best = study.best()
    model = study.load_model(best.number)
    run = train(best.config, _bundled_train())  # the same validation split, recomputed
    val = run.validation
    acc = float(np.mean(model.predict(val.x()) == val.y()))
    assert acc == pytest.approx(best.value, abs=1e-9)


def test_a_failing_run_does_not_fail_the_study(journal):
    # valid configs, but train() rejects the second: a subset bigger than the data
    study = create_study(configs=[TINY, TINY.replace(subset=100_000)], storage=journal)
    work(study.id, journal)
    ok, failed = study.trials()
    assert ok.status == "complete"
    assert failed.status == "failed" and "subset" in failed.message


def test_validation_is_measured_within_the_epoch_when_asked(digits, journal):
    cfg = TINY.replace(epochs=2)  # 300 training digits, batch 32: 10 batches an epoch
    recs = list(train(cfg, digits, report_every=2, validate_every=5))
    inner = [r for r in recs if not float(r["epoch"]).is_integer()]
    with_val = [r["epoch"] for r in inner if r["val_acc"] is not None]
    assert with_val == [0.5, 1.5]  # batch 5 of each epoch; the reports between have none
    assert all(r["val_acc"] is None for r in inner if r["epoch"] not in with_val)
    # the same run without it: the same epochs (a validation pass changes nothing)
    plain = list(train(cfg, digits, report_every=2))

    def ends(rs):
        return [(r["epoch"], r["train_loss"], r["val_loss"]) for r in rs
                if float(r["epoch"]).is_integer()]

    assert ends(plain) == ends(recs) and len(ends(recs)) == 2
    with pytest.raises(ConfigError, match="validate_every"):
        train(cfg, digits, validate_every=0)
    # a study asks for it per epoch; the pruner still sees whole epochs only
    study = create_study({"lr": [0.05]}, base=TINY.replace(subset=2000), storage=journal,
                         val_per_epoch=4, pruner="halving")
    work(study.id, journal)
    t = study.trial(0)
    first = [r["epoch"] for r in t.records if r["val_acc"] is not None and r["epoch"] < 1]
    assert len(first) == 3  # and the 4th at the epoch's end
    assert sorted(t.intermediate) == [1, 2]


def test_the_flagship_comparison_shows_validation_in_its_first_epoch(journal):
    """Issue 15: in "four learning rates" (the page's default, 3 epochs of 10,000 digits)
    the first epoch, where the runs differ most, has validation points of its own."""
    from ui.search_form import VAL_PER_EPOCH

    preset = SEARCH_PRESETS["four-learning-rates"]
    study = create_study(preset.space, base=preset.base.replace(epochs=1, subset=10_000),
                         storage=journal, val_per_epoch=VAL_PER_EPOCH)
    T.run_next_trial(study)  # lr=0.001 is enough: every run is measured alike
    t = study.trial(0)
    first = [r["epoch"] for r in t.records if r["val_acc"] is not None and r["epoch"] < 1]
    assert len(first) >= 5


# ------------------------------------------------------------------------------ tables
def test_results_table_csv_and_json(journal, tmp_path):
    study = create_study({"lr": [0.05, 50.0], "hidden": [(16,)]}, base=TINY.replace(epochs=1),
                         storage=journal)
    work(study.id, journal)
    results = [t.to_result() for t in study.trials()]
    rows = list(csv.DictReader(io.StringIO(results_csv(results))))
    assert [r["status"] for r in rows] == ["done", "diverged"]
    assert float(rows[0]["lr"]) == 0.05 and float(rows[0]["val_acc"]) > 0.1
    data = json.loads(results_json(results))
    assert data[1]["config"]["lr"] == 50.0 and data[0]["history"]
    write_results(results, tmp_path / "r.json")
    write_results(results, tmp_path / "r.csv")
    assert json.loads((tmp_path / "r.json").read_text())[0]["run"] == 0
    assert (tmp_path / "r.csv").read_text().startswith("run,lr,hidden,status")  # the space


def test_estimate_places_runs_longest_first():
    a = TrainConfig(epochs=4, subset=1000, val_fraction=0.0)
    b = a.replace(epochs=2)
    # 1000 samples/s: 4 s, 4 s, 2 s, 2 s on 2 workers -> 6 s (+ a little start-up)
    est = estimate_seconds([a, b, a, b], 60000, 1000.0, jobs=2)
    assert 6.0 <= est < 6.5  # (+ a fixed start-up)
    assert estimate_seconds([a, b, a, b], 60000, 1000.0, jobs=1) >= 12.0


# ------------------------------------------------------------------------------ LR range test
def test_lr_range_test_raises_lr_exponentially_and_suggests_a_range(digits):
    cfg = TrainConfig(hidden=(32,), init="he", optimizer="sgd", batch_size=32, seed=0)
    res = lr_range_test(cfg, digits, lr_min=1e-5, lr_max=10.0, steps=200)
    lrs = np.array(res.lrs)
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, (1e6) ** (1 / 199), rtol=1e-9)
    assert lrs[0] == pytest.approx(1e-5)
    # SGD at lr ~10 blows up: the test stops before the end
    assert res.stopped_early and len(lrs) < 200
    lo, hi = res.suggested
    assert 1e-5 <= lo < hi <= 10 and res.min_lr == pytest.approx(
        lrs[int(np.argmin(res.smoothed))])
    # the suggested range is where the loss went down: the smoothed loss at hi is below start
    assert np.interp(np.log(hi), np.log(lrs), res.smoothed) < res.smoothed[0]
    again = lr_range_test(cfg, digits, lr_min=1e-5, lr_max=10.0, steps=200)
    assert again.losses == res.losses  # deterministic (seeded)


def test_lr_range_test_rejects_bad_arguments(digits):
    with pytest.raises(ConfigError, match="lr_min < lr_max"):
        lr_range_test(TINY, digits, lr_min=1.0, lr_max=0.1)
    with pytest.raises(ConfigError, match="steps"):
        lr_range_test(TINY, digits, steps=3)
    with pytest.raises(DatasetError, match="labelled training Dataset"):
        lr_range_test(TINY, None)


def test_batch_order_does_not_depend_on_dropout_or_augmentation(digits, monkeypatch):
    """Dropout and augmentation runs take the plain path (batches()), the others the fast
    path (FastPath.load): the same minibatches, in the same order, either way."""
    seen, run_id = {}, [0]
    spy_batches(monkeypatch, seen, run_id)
    cfgs = grid({"dropout": [0.0, 0.3]}, base=TINY) + [TINY.replace(augment=True)]
    for current, cfg in enumerate(cfgs):
        run_id[0] = current
        list(train(cfg, digits))
    assert seen[0][0][0] is None and seen[1][0][0] is not None  # both paths were taken
    assert len(seen[0]) == math.ceil(300 / 32) * TINY.epochs
    assert same_batches(seen[0], seen[1])
    assert len(seen[2]) == len(seen[0])  # augmentation changes the pixels, not the order:
    assert all(np.array_equal(ya, yb) for (_, _), (ya, _), (yb, _) in
               zip(seen[0], seen[1], seen[2]))


# ------------------------------------------------------------------------------ command line
def test_cli_search_writes_a_results_table(tmp_path, capsys):
    from mnist.cli.main import main

    out = tmp_path / "results.csv"
    code = main(["search", "--vary", "lr=0.001,0.1,50", "--set", "optimizer=sgd",
                 "--set", "hidden=16", "--epochs", "1", "--subset", "600", "--jobs", "2",
                 "--out", str(out), "--json", "--quiet"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    final = json.loads(lines[-1])
    assert final["final"] and final["varied"] == ["lr"] and len(final["results"]) == 3
    assert any(json.loads(l).get("event") == "record" for l in lines[:-1])
    rows = list(csv.DictReader(out.open()))
    assert [float(r["lr"]) for r in rows] == [0.001, 0.1, 50.0]
    assert rows[2]["status"] == "diverged" and rows[1]["status"] == "done"


def test_cli_search_random_ranges_and_errors(capsys):
    from mnist.cli.main import main

    assert main(["search", "--random", "3", "--vary", "lr=1e-4:1", "--vary",
                 "hidden=16,32x16", "--epochs", "1", "--subset", "300", "--jobs", "0",
                 "--json", "--quiet"]) == 0
    final = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(final["results"]) == 3
    # (a field is a table column when its value differs between the runs)
    assert all(1e-4 <= r["lr"] <= 1 and r.get("hidden", "16") in ("16", "32-16")
               for r in final["results"])
    assert main(["search", "--vary", "momentum=0.5,1.5"]) == 1
    assert "momentum=1.5" in capsys.readouterr().err
    assert main(["search", "--vary", "lr=banana"]) == 1
    assert "not a valid value" in capsys.readouterr().err
    assert main(["search"]) == 1
    assert "nothing to compare" in capsys.readouterr().err


# ------------------------------------------------------------------------------ figures
@pytest.fixture(scope="module")
def six_runs(tmp_path_factory):
    """lr 0.001, 0.1, 50 x batch 32, 64, one epoch (lr 50 diverges), as RunResults."""
    journal = str(tmp_path_factory.mktemp("figs") / "studies.journal")
    study = create_study({"lr": [0.001, 0.1, 50.0], "batch_size": [32, 64]},
                         base=TINY.replace(epochs=1), storage=journal, report_every=2)
    work(study.id, journal)
    return study, [t.to_result() for t in study.trials()]


def test_search_figures_mark_divergence_and_use_log_axes(six_runs):
    from mnist.plots.search import (accuracy_vs_lr, lr_finder_plot, parallel_coordinates,
                                    search_curves)

    study, results = six_runs
    runs = [r.to_dict() for r in results]
    fig = search_curves(runs, epochs=1)
    legend = [t.name for t in fig.data if t.showlegend]
    n_div = sum(r.status == "diverged" for r in results)
    assert n_div >= 1 and sum("(diverged)" in n for n in legend) == n_div
    assert "diverged" in legend and any(t.marker.symbol == "x" for t in fig.data)
    assert fig.layout.yaxis2.type == "log"
    u = accuracy_vs_lr(runs, best=study.best().number)
    assert u.layout.xaxis.type == "log"
    assert {t.name for t in u.data} >= {"finished", "diverged", "best"}
    pc = parallel_coordinates(results_table(results), ["lr", "batch_size"])
    dims = pc.data[0].dimensions
    assert [d.label for d in dims] == ["lr (log)", "batch_size", "val_acc"]
    np.testing.assert_allclose(dims[0].values, np.log10([r.config.lr for r in results]))
    res = lr_range_test(TINY, _bundled_train(), steps=60)
    f = lr_finder_plot(res.to_dict())
    assert f.layout.xaxis.type == "log" and len(f.layout.shapes) == (1 if res.suggested else 0)


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], float)


def test_a_handful_of_runs_get_distinct_colours_in_learning_rate_order():
    """Issue 15: four learning rates got nearby shades of one continuous scale (0.05 and 0.5
    nearly alike); up to ten runs now get one palette colour each, in lr order."""
    from mnist.plots.search import MAX_DISTINCT, PALETTE, run_colors

    def runs(lrs):
        return [{"values": {"lr": float(lr)}} for lr in lrs]

    colors, bar = run_colors(runs([0.5, 0.001, 5.0, 0.05]))
    assert bar is None and set(colors) <= set(PALETTE) and len(set(colors)) == 4
    assert [colors[i] for i in (1, 3, 0, 2)] == list(PALETTE[:4])  # by learning rate
    rgb = [_rgb(c) for c in colors]
    assert min(np.linalg.norm(a - b) for i, a in enumerate(rgb) for b in rgb[i + 1:]) > 120
    assert len(set(run_colors(runs(np.geomspace(1e-4, 1, MAX_DISTINCT)))[0])) == MAX_DISTINCT
    # more runs than colours: a log scale with a colour bar
    colors, bar = run_colors(runs(np.geomspace(1e-4, 1, MAX_DISTINCT + 2)))
    assert bar == pytest.approx((-4.0, 0.0)) and colors[0] != colors[-1]


def test_log_axes_name_every_tick_in_full(six_runs):
    """Issue 15: the log loss axis labelled minor ticks "5", "2" without their decade."""
    from mnist.plots.search import accuracy_vs_lr, log_ticks, search_curves

    _, results = six_runs
    runs = [r.to_dict() for r in results]
    for axis in (search_curves(runs, epochs=1).layout.yaxis2,
                 accuracy_vs_lr(runs).layout.xaxis):
        assert axis.tickmode == "array" and len(axis.tickvals) >= 2
        for value, text in zip(axis.tickvals, axis.ticktext):
            assert float(text) == pytest.approx(value)  # "0.2", never a bare "2"
    assert log_ticks([0.04, 0.3])["ticktext"] == ["0.02", "0.05", "0.1", "0.2", "0.5"]
    assert log_ticks([1e-5, 10.0])["ticktext"] == ["1e-05", "0.0001", "0.001", "0.01", "0.1",
                                                  "1", "10"]
    assert log_ticks([None, float("nan")]) == {}


def test_every_curve_is_a_solid_line_so_an_oscillating_run_shows(six_runs):
    """Issue 15: the jumpy run showed only in faint dotted lines."""
    from mnist.plots.search import search_curves

    _, results = six_runs
    fig = search_curves([r.to_dict() for r in results], epochs=1)
    lines = [t for t in fig.data if t.mode and t.mode.startswith("lines")]
    assert lines and all(t.line.dash in (None, "solid") for t in lines)
    assert all((t.opacity if t.opacity is not None else 1.0) >= 0.8 for t in lines)
    thin = [t for t in lines if t.mode == "lines"]  # training: thinner, same colour
    assert thin and all(t.line.width < 2 for t in thin)


def test_optunas_figures_where_they_make_sense_in_our_colours(journal):
    from mnist.plots.search import optuna_figures, run_colors

    grid_study = create_study({"lr": [0.05, 0.2]}, base=TINY, storage=journal)
    work(grid_study.id, journal)
    runs = [t.to_result().to_dict() for t in grid_study.trials()]
    colors, _ = run_colors(runs)
    figs = optuna_figures(grid_study.optuna, grid_study.sampler,
                          {r["run_id"]: (r["label"], c) for r, c in zip(runs, colors)})
    assert [k for k, _, _ in figs] == ["intermediate", "timeline"]  # a grid: no drawn params
    lines = figs[0][2].data
    assert [t.name for t in lines] == ["lr=0.05", "lr=0.2"]
    assert [t.line.color for t in lines] == colors
    drawn = create_study({"lr": Range(0.01, 0.5), "batch_size": IntRange(16, 64)}, base=TINY,
                         sampler="random", trials=3, storage=journal)
    work(drawn.id, journal)
    keys = [k for k, _, _ in optuna_figures(drawn.optuna, drawn.sampler)]
    assert keys == ["intermediate", "timeline", "importances", "parallel", "contour", "slice"]
