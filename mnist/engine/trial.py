"""One trial, trained here: take the next waiting run of a study, train it, record everything.

    run_next_trial(study)      # -> the trial number it ran, or None (nothing left, or stopped)
    work(study_id, storage, n=None)   # what a worker does: trials until none is left

What a trial does, in order:
1. *Claims* a waiting trial (Optuna's own queue: setting it running succeeds in one process
   only), records this worker (host, pid: see mnist.engine.liveness) and, on a database, beats
   a heartbeat while it trains.
2. *Its config*: the enqueued config (a grid point, a preset's variant), or the parameters its
   sampler draws from the study's distributions applied to the base config. The sampler is seeded
   with (study seed, trial number), so a random or TPE study draws the same runs whichever
   worker takes which trial. Paired studies keep the base seed; unpaired ones give trial i the
   seed base.seed + i, as `mnist.search.space` does.
3. *Trains* with `mnist.training.loop.train`. Every record (intra-epoch training figures and
   per-epoch validation) goes to the storage as trial user attributes, a chunk at most every
   `FLUSH_S` (a handful of small writes a second, whatever the speed). Each epoch's validation
   accuracy is reported for the pruner, which may end the trial ("pruned").
4. *Stops* when the study or this trial is flagged, and takes a learning rate asked for while
   it trains (both read at most every `STOP_POLL_S`: mnist.engine.control).
5. *Scores* the model on the data's test set if the study asks (`score_test`: the Train page's
   run), and *keeps the weights* as an .npz in the storage's folder (`weights/<study>/trial-<n>.npz`),
   named in the trial's "weights" attribute, and tells Optuna the outcome: complete (value = final
   validation accuracy; diverged runs too, marked "diverged"), pruned, or failed with a message.
"""

from __future__ import annotations

import os
import threading
import time
import warnings

import numpy as np
import optuna
from optuna.trial import TrialState

from mnist.engine import datacache, tasks
from mnist.engine import params as P
from mnist.engine.control import Steering
from mnist.engine.liveness import WORKER_ATTR, fail_dead_trials, heartbeat_enabled, worker_tag
from mnist.engine.storage import runs_dir
from mnist.engine.study import RECORDS_PREFIX, Study, open_study
from mnist.errors import ConfigError, DatasetError, EngineError
from mnist.search.space import make_config
from mnist.training.config import TrainConfig
from mnist.training.live import batches_per_epoch

FLUSH_S = 0.25  # ... and writes its new records at most this often
REPORTS_PER_EPOCH = 20  # intra-epoch records by default, so the curves move within an epoch


def run_next_trial(study: Study, on_claim=None) -> int | None:
    """Claim and train the next waiting trial of `study` in this process; its number, or None
    when no trial is waiting or the study is stopped. `on_claim(trial_id, number)` is called
    once the trial is ours (the pool uses it to know which trial a dying worker held)."""
    fail_dead_trials(study.optuna)
    if study.stopped:
        return None
    claimed = _claim(study)
    if claimed is None:
        return None
    trial_id, number = claimed
    if on_claim is not None:
        on_claim(trial_id, number)
    ostudy = study.optuna  # this trial's sampler and the pruner: the storage has neither
    ostudy.sampler, ostudy.pruner = make_sampler(study, number), make_pruner(study)
    if isinstance(ostudy.sampler, optuna.samplers.GridSampler):
        _mark_grid_point(ostudy, trial_id)
    trial = optuna.trial.Trial(ostudy, trial_id)
    with _Heartbeat(study.storage.optuna, trial_id):
        state, value = _train(study, trial)
    try:
        if state == TrialState.COMPLETE:
            ostudy.tell(trial, value)
        else:
            ostudy.tell(trial, state=state)
    except (RuntimeError, ValueError):
        # already failed by a reader who thought us dead; or the grid sampler, its grid done,
        # asks to stop an optimize loop we do not run (the state is stored either way)
        pass
    return number


def work(study_id: str, storage=None, n: int | None = None, on_trial=None) -> int:
    """Run trials of a study until none is waiting (or `n` have run); how many ran.
    `on_trial(number)` after each. This is `python -m mnist worker`."""
    study = open_study(study_id, storage)
    done = 0
    while n is None or done < n:
        number = run_next_trial(study)
        if number is None:
            break
        done += 1
        if on_trial is not None:
            on_trial(number)
    return done


def _claim(study: Study) -> tuple[int, int] | None:
    storage = study.storage.optuna
    for t in study.optuna.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                return t._trial_id, t.number
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def _mark_grid_point(ostudy, trial_id: int) -> None:
    """Tell the grid sampler which of its points this enqueued trial is (as if it had picked
    it), so it counts the grid's visited points as it does for its own trials."""
    sampler, storage = ostudy.sampler, ostudy._storage
    fixed = storage.get_trial(trial_id).system_attrs.get("fixed_params", {})
    point = tuple(fixed.get(k) for k in sampler._search_space)
    if point in sampler._all_grids:
        storage.set_trial_system_attr(trial_id, "search_space", sampler._search_space)
        storage.set_trial_system_attr(trial_id, "grid_id", sampler._all_grids.index(point))


def _seed(study_seed: int, number: int) -> int:
    return int(np.random.SeedSequence([int(study_seed) % 2**32, number]).generate_state(1)[0])


def make_sampler(study: Study, number: int):
    """The study's sampler, seeded for this trial (see the module docstring)."""
    plan, seed = study.plan, _seed(study.plan.get("seed", 0), number)
    kind = plan.get("sampler")
    if kind == "grid":
        space = {k: list(d.choices) for k, d in study.distributions.items()}
        return optuna.samplers.GridSampler(space, seed=seed)
    if kind == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # multivariate and constant_liar are "experimental"
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=max(3, min(10, study.n_trials // 3)),
                multivariate=True, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(study: Study):
    """Successive halving compares validation accuracy at epochs 1, 2, 4, ... (the better half
    of the trials that reached an epoch go on); Hyperband runs several such brackets."""
    kind = study.pruner
    if kind == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2,
                                                      min_early_stopping_rate=0)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=2,
                                              max_resource=max(1, study.base.epochs))
    return optuna.pruners.NopPruner()


def config_for(study: Study, trial) -> TrainConfig:
    """The trial's config: enqueued as it is, or drawn by its sampler from the space."""
    ua = trial.user_attrs
    if "config" in ua:
        return TrainConfig.from_dict(ua["config"])
    values = P.suggest(trial, study.distributions)
    return make_config(study.base, values, trial.number, study.paired)


class RecordWriter:
    """Records to the trial's user attributes in numbered chunks, at most every FLUSH_S (the
    first at once, so a page shows the first point without waiting). Each gets a "time" (epoch
    seconds) when it was made."""

    def __init__(self, storage, trial_id: int):
        self.storage, self.trial_id = storage, trial_id
        self.buffer, self.chunks, self.last = [], 0, None

    def add(self, rec: dict) -> None:
        self.buffer.append(dict(rec, time=time.time()))  # when it was made (readers' latency)
        if self.last is None or time.monotonic() - self.last >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.storage.set_trial_user_attr(self.trial_id,
                                             f"{RECORDS_PREFIX}{self.chunks:06d}", self.buffer)
            self.buffer, self.chunks = [], self.chunks + 1
        self.last = time.monotonic()


class _Heartbeat:
    """Beats for a running trial on a database storage (Optuna's heartbeat), in a thread."""

    def __init__(self, storage, trial_id: int):
        self.storage, self.trial_id = storage, trial_id
        self.enabled = heartbeat_enabled(storage)
        self.done = threading.Event()

    def _beat(self):
        interval = self.storage.get_heartbeat_interval()
        while True:
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # the database hiccuped: the next beat may get through
                pass
            if self.done.wait(interval):
                return

    def __enter__(self):
        if self.enabled:
            self.thread = threading.Thread(target=self._beat, daemon=True, name="heartbeat")
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.done.set()
            self.thread.join()


def _report_every(study: Study, cfg: TrainConfig, batches: int):
    """Batches between intra-epoch records: the study's or config's, else ~20 an epoch."""
    every = study.report_every or cfg.report_every
    if every:
        return every
    return max(1, batches // REPORTS_PER_EPOCH) if batches >= 2 * REPORTS_PER_EPOCH else \
        (1 if batches > 1 else None)


def _validate_every(study: Study, cfg: TrainConfig, batches: int):
    """Batches between validations within an epoch, for the study's `val_per_epoch`."""
    k = study.plan.get("val_per_epoch")
    if not isinstance(k, int) or k <= 1 or not cfg.val_fraction:
        return None
    return max(1, -(-batches // k))  # the last one: the epoch's end


def _train(study: Study, trial) -> tuple[TrialState, float | None]:
    """Train the claimed trial; (the state to tell Optuna, the value)."""
    from mnist.training.loop import train

    storage, tid = study.storage.optuna, trial._trial_id
    storage.set_trial_user_attr(tid, WORKER_ATTR, worker_tag())
    try:
        cfg = config_for(study, trial)
        storage.set_trial_user_attr(tid, "config", cfg.to_dict())
        train_ds, test_ds = datacache.load(runs_dir(), study.data)
        if study.plan.get("task"):  # a range test, a fine-tune (mnist.engine.tasks)
            return tasks.run(study, tid, trial.number, cfg, train_ds, _initial_model(study),
                             lambda name, write: _write_beside(study, name, write))
        writer = RecordWriter(storage, tid)
        steer = Steering(storage, study.optuna._study_id, trial.number, cfg, writer.add)
        run = train(cfg, train_ds, model=_initial_model(study), stop=steer)
        steer.run = run
        batches = batches_per_epoch(len(run.train_set), cfg.batch_size)  # the run's own split
        run.report_every = _report_every(study, cfg, batches)
        run.validate_every = _validate_every(study, cfg, batches)
        n_val = len(run.validation) if run.validation is not None else 0
        storage.set_trial_user_attr(tid, "sizes", dict(
            n_train=len(run.train_set), n_val=n_val, batches_per_epoch=batches))
        pruned = False
        for rec in run:
            writer.add(rec)
            epoch, acc = float(rec["epoch"]), rec.get("val_acc")
            if acc is not None and epoch.is_integer() and rec["status"] in ("running", "done"):
                trial.report(acc, int(epoch))
                if rec["status"] == "running" and trial.should_prune():
                    pruned = True
                    break
        run.close()
        writer.flush()
        if study.plan.get("score_test") and test_ds.has_labels and len(test_ds):
            _save_scores(study, trial, run.model, test_ds)
    except (ConfigError, DatasetError, EngineError) as e:
        return _failed(storage, tid, str(e))
    except optuna.exceptions.UpdateFinishedTrialError:
        return TrialState.FAIL, None  # failed by a reader who thought this worker dead
    except Exception as e:  # a bug must not take the worker (and the other runs) down
        return _failed(storage, tid, f"{type(e).__name__}: {e}")
    last = run.history[-1] if run.history else {}
    outcome = "pruned" if pruned else last.get("status", "stopped")
    value = last.get("val_acc")
    value = last.get("train_acc") if value is None else value
    storage.set_trial_user_attr(tid, "status", outcome)
    storage.set_trial_user_attr(tid, "message", last.get("message") or "")
    storage.set_trial_user_attr(tid, "weights", _save_weights(study, trial.number, run, cfg))
    if outcome in ("pruned", "stopped"):
        return TrialState.PRUNED, None
    return TrialState.COMPLETE, float(value if value is not None else 0.0)


def _initial_model(study: Study):
    """The network every run of the study starts from (a resumed model), or None: a new one."""
    path = study.plan.get("init")
    if not path:
        return None
    from mnist.training.persist import load_model

    try:
        return load_model(path)
    except OSError as e:
        raise EngineError(f"the model to resume ({path}) is not readable here: "
                          f"{e.strerror or e}") from None


def _failed(storage, tid: int, message: str) -> tuple[TrialState, None]:
    try:
        storage.set_trial_user_attr(tid, "message", message)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass
    return TrialState.FAIL, None


def _save_scores(study: Study, trial, model, test_ds) -> None:
    """The model's test scores (mnist.training.metrics.score): the figures as the trial's
    "test" attribute, the arrays (probabilities, predictions, confusion) in an .npz beside its
    weights, named by "test_file" (a storage keeps small JSON, not 10,000 x 10 numbers)."""
    from mnist.training.metrics import score

    sc = score(model, test_ds)
    arrays = {k: v for k, v in sc.items() if isinstance(v, np.ndarray)}
    path = _write_beside(study, f"trial-{trial.number}.test.npz",
                         lambda f: np.savez(f, **arrays))
    storage = study.storage.optuna
    storage.set_trial_user_attr(trial._trial_id, "test",
                                {k: v for k, v in sc.items() if k not in arrays})
    storage.set_trial_user_attr(trial._trial_id, "test_file", path)


def _save_weights(study: Study, number: int, run, cfg: TrainConfig) -> str:
    from mnist.training.persist import save_model

    return _write_beside(study, f"trial-{number}.npz",
                         lambda f: save_model(run.model, f, config=cfg, history=run.history))


def _write_beside(study: Study, name: str, write) -> str:
    """`write(file)` into the study's folder of the storage (`weights/<study>/<name>`), whole
    or not at all (a temporary file renamed into place); the path."""
    folder = study.storage.folder / "weights" / study.id
    folder.mkdir(parents=True, exist_ok=True)
    path, tmp = folder / name, folder / f".{name}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)
    return str(path)
