"""Studies: a search (or a single run) as an Optuna study that any worker can join by its id.

    study = create_study({"lr": [0.01, 0.1, 0.5]}, base=cfg, owner=session_id)  # a grid
    study = create_study({"lr": Range(1e-4, 1)}, sampler="tpe", trials=16, pruner="halving")
    study = create_study(configs=[cfg])          # a list of configs: the Train page's one run
    study.id                                     # unguessable: the only way back to the study
    study = open_study(study.id)                 # from any process, any time later
    for t in study.trials(): t.number, t.status, t.records, t.value
    study.stop()        # every running trial ends (weights kept), waiting ones never start
    list_studies(owner=session_id)               # this owner's studies only

*What is stored.* The study's name is its id (`secrets.token_urlsafe`). Its user attributes hold
the plan as plain JSON (`ATTR`): sampler, pruner, paired, base config, space and Optuna
distributions, number of trials, owner, task. Every run is enqueued at creation as a waiting
trial (a grid's points in `grid()` order with their configs, or empty trials the sampler fills
when a worker takes them): a study never runs more trials than planned, however many workers.

*Paired.* A grid's configs come from `mnist.search.space.grid`, so paired runs keep the base
seed (same initial weights, same batches) exactly as before; drawn runs get the same rule with
the trial number as the run index.

*Stop flags* ("stop", "stop:<trial number>") and rate requests are study user attributes a
running trial reads (mnist.engine.control); a stopped study's waiting trials show as
"cancelled" and no worker takes them until `resume()`.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from itertools import product

from optuna.trial import TrialState

from mnist.engine import params as P
from mnist.engine.control import STOP_KEY
from mnist.engine.liveness import WORKER_ATTR, fail_dead_trials
from mnist.engine.storage import Storage, open_storage
from mnist.errors import ConfigError, EngineError
from mnist.search.results import RunResult
from mnist.search.space import check_count, format_value, grid, run_label
from mnist.training.config import TrainConfig

ATTR = "mnist"  # the study user attribute that holds the plan
SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("none", "halving", "hyperband")
STATUSES = ("waiting", "running", "complete", "pruned", "failed", "stopped", "cancelled",
            "diverged")
FINISHED = ("complete", "pruned", "failed", "stopped", "cancelled", "diverged")
RECORDS_PREFIX = "records:"  # trial user attributes "records:0000", ...: chunks of records
# what RunResult (the results tables and figures) calls each status
_RESULT_STATUS = {"waiting": "pending", "pruned": "halved"}


@dataclass
class TrialView:
    """One run of a study as read from the storage (a snapshot: read again for news)."""

    number: int
    status: str  # one of STATUSES
    values: dict  # the searched fields and this run's values (layer sizes as tuples)
    config: TrainConfig | None  # None until a worker has drawn its parameters
    records: list = field(default_factory=list, repr=False)  # train() records, in order
    value: float | None = None  # the objective: final validation accuracy
    message: str = ""
    outcome: str | None = None  # train()'s final status: done, diverged, stopped, ...
    weights: str | None = None  # path of the .npz with the final weights (on `worker`'s host)
    worker: dict | None = None  # host, pid of the process that ran it
    intermediate: dict = field(default_factory=dict)  # epoch -> validation accuracy (pruner)
    started: float | None = None  # epoch seconds
    finished_at: float | None = None
    attrs: dict = field(default_factory=dict, repr=False)  # its other attributes ("test", ...)

    @property
    def label(self) -> str:
        return run_label(self.values, f"trial {self.number}")

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def epochs_done(self) -> float:
        return float(self.records[-1]["epoch"]) if self.records else 0.0

    @property
    def progress(self) -> float:
        """0..1 of the planned epochs actually trained (a cancelled run shows 0, not 1)."""
        if self.status == "complete":
            return 1.0
        epochs = self.config.epochs if self.config else 0
        return min(self.epochs_done / epochs, 1.0) if epochs else 0.0

    def to_result(self) -> RunResult:
        """As a RunResult, for mnist.search.results' tables/CSV/JSON and mnist.plots.search."""
        status = _RESULT_STATUS.get(self.status, self.status)
        if self.status == "complete":
            status = self.outcome or "done"
        return RunResult(self.number, self.config or TrainConfig(), dict(self.values), status,
                         list(self.records), self.message)


@dataclass(frozen=True)
class StudySummary:
    """A line of `list_studies`."""

    id: str
    title: str
    owner: str
    sampler: str
    pruner: str
    n_trials: int
    created: float
    best_value: float | None


class Study:
    """A study in a storage (see the module docstring). `optuna` is the Optuna study itself
    (for `optuna.visualization`); `plan` the stored plan (plain JSON)."""

    def __init__(self, ostudy, storage: Storage):
        self.optuna = ostudy
        self.storage = storage
        self.id: str = ostudy.study_name
        self.plan: dict = dict(ostudy.user_attrs.get(ATTR) or {})

    def __repr__(self) -> str:
        return f"Study({self.id!r}, {self.sampler}, {self.n_trials} trials)"

    # ------------------------------------------------------------------ the plan
    owner = property(lambda self: self.plan.get("owner", ""))
    title = property(lambda self: self.plan.get("title", ""))
    sampler = property(lambda self: self.plan.get("sampler", "grid"))  # grid|random|tpe|list
    pruner = property(lambda self: self.plan.get("pruner", "none"))
    paired = property(lambda self: bool(self.plan.get("paired", True)))
    n_trials = property(lambda self: int(self.plan.get("n_trials", 0)))
    created = property(lambda self: float(self.plan.get("created", 0.0)))
    data = property(lambda self: self.plan.get("data", "mnist"))
    report_every = property(lambda self: self.plan.get("report_every"))

    @property
    def base(self) -> TrainConfig:
        return TrainConfig.from_dict(self.plan["base"])

    @property
    def distributions(self) -> dict:
        return P.from_json(self.plan.get("distributions") or {})

    # ------------------------------------------------------------------ reading
    def _attrs(self) -> dict:
        o = self.optuna
        return o._storage.get_study_user_attrs(o._study_id)

    @property
    def stopped(self) -> bool:
        return bool(self._attrs().get(STOP_KEY))

    def trials(self) -> list[TrialView]:
        """Every trial with its status and records, in trial-number order. Fails trials whose
        worker died first (see mnist.engine.liveness), so a dead run never shows as running."""
        fail_dead_trials(self.optuna)
        stopped = self.stopped
        return [_view(t, self.distributions, stopped)
                for t in self.optuna.get_trials(deepcopy=False)]

    def trial(self, number: int) -> TrialView:
        for t in self.trials():
            if t.number == number:
                return t
        raise EngineError(f"study {self.id} has no trial {number}")

    def best(self) -> TrialView | None:
        """The complete trial with the highest value (diverged runs rank below the rest)."""
        done = [t for t in self.trials() if t.value is not None and
                t.status in ("complete", "diverged")]
        return max(done, key=lambda t: (t.status == "complete", t.value), default=None)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for t in self.trials():
            out[t.status] += 1
        return out

    def load_model(self, number: int):
        """The trained network of a finished trial (from its .npz on this machine)."""
        from mnist.training.persist import load_model

        t = self.trial(number)
        if not t.weights:
            raise EngineError(f"trial {number} of study {self.id} kept no weights")
        try:
            return load_model(t.weights)
        except OSError as e:
            raise EngineError(f"weights of trial {number} not readable here ({e.strerror}): "
                              f"{t.weights} is on {(t.worker or {}).get('host')}") from None

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Stop the study: running trials end within a poll (weights kept), waiting ones are
        cancelled (no worker takes them until resume())."""
        self.optuna.set_user_attr(STOP_KEY, True)

    def stop_trial(self, number: int) -> None:
        """Stop one running trial (weights kept); the study goes on."""
        self.optuna.set_user_attr(f"{STOP_KEY}:{int(number)}", True)

    def resume(self) -> None:
        """Let workers take the waiting trials of a stopped study again."""
        if self.stopped:
            self.optuna.set_user_attr(STOP_KEY, False)

    def add_trials(self, n: int) -> None:
        """`n` more trials for a random or TPE study (a grid's points are fixed)."""
        if self.sampler not in ("random", "tpe"):
            raise ConfigError(f"a {self.sampler} study has a fixed set of runs; only random "
                              "and TPE studies take more trials")
        check_count(self.n_trials + int(n))
        for _ in range(int(n)):
            self.optuna.enqueue_trial({})
        self.plan["n_trials"] = self.n_trials + int(n)
        self.optuna.set_user_attr(ATTR, self.plan)
        self.resume()

    def waiting(self) -> int:
        return len(self.optuna.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _view(t, dists: dict, stopped: bool) -> TrialView:
    ua = t.user_attrs
    outcome = ua.get("status")
    if t.state == TrialState.WAITING:
        status = "cancelled" if stopped else "waiting"
    elif t.state == TrialState.RUNNING:
        status = "running"
    elif t.state == TrialState.COMPLETE:
        status = "diverged" if outcome == "diverged" else "complete"
    elif t.state == TrialState.PRUNED:
        status = "stopped" if outcome == "stopped" else "pruned"
    else:
        status = "failed"
    records = []
    for key in sorted(k for k in ua if k.startswith(RECORDS_PREFIX)):
        records.extend(ua[key])
    cfg = ua.get("config")
    fixed = t.system_attrs.get("fixed_params") or {}
    raw = {**fixed, **t.params}
    values = {k: P.decode(k, raw[k]) for k in (dists or raw) if k in raw}
    message = ua.get("message", "")
    if status == "failed" and not message:
        message = "its worker stopped answering (no heartbeat)"
    elif status == "pruned" and not message:
        message = "pruned: below the better part of the runs at the same epoch"
    return TrialView(
        number=t.number, status=status, values=values,
        config=TrainConfig.from_dict(cfg) if cfg else None, records=records,
        value=t.value if t.state == TrialState.COMPLETE else None, message=message,
        outcome=outcome, weights=ua.get("weights"), worker=ua.get(WORKER_ATTR),
        intermediate=dict(t.intermediate_values),
        started=t.datetime_start.timestamp() if t.datetime_start else None,
        finished_at=t.datetime_complete.timestamp() if t.datetime_complete else None,
        attrs={k: v for k, v in ua.items() if not k.startswith(RECORDS_PREFIX)})


# ---------------------------------------------------------------------------------- creating


def create_study(space: dict | None = None, *, configs: list[TrainConfig] | None = None,
                 base: TrainConfig | None = None, sampler: str = "grid",
                 trials: int | None = None, pruner: str = "none", paired: bool = True,
                 seed: int = 0, owner: str = "", title: str = "",
                 report_every: int | None = None, val_per_epoch: int | None = None,
                 data: str = "mnist", init: str | None = None, score_test: bool = False,
                 task: str | None = None, task_args: dict | None = None, storage=None) -> Study:
    """A new study in `storage` (default: the runs folder's journal), its runs enqueued.

    Either a `space` searched with `sampler` ("grid": every combination; "random" / "tpe":
    `trials` draws) from `base`, or an explicit list of `configs` (a preset's variants, one
    Train-page run). `pruner`: "none", "halving" (successive halving) or "hyperband"; it
    compares validation accuracy at whole epochs. `owner` tags the study for `list_studies`;
    `report_every` batches between intra-epoch records (default: about 20 an epoch);
    `val_per_epoch` validations an epoch (default 1: at its end; more show learning's shape).
    `init`: an .npz model every run starts from (resuming); `score_test`: each run also
    scores its model on the data's test set (trial attribute "test"); `task`, `task_args`: a
    short job instead of training (mnist.engine.tasks). Bad choices raise ConfigError; an
    unusable storage EngineError."""
    if (space is None) == (configs is None):
        raise ConfigError("give a search space or a list of configs, not both or neither")
    if pruner not in PRUNERS:
        raise ConfigError(f"unknown pruner {pruner!r} (choose from {', '.join(PRUNERS)})")
    if configs is not None:
        configs = list(configs)
        if not configs or not all(isinstance(c, TrainConfig) for c in configs):
            raise ConfigError("configs must be a non-empty list of TrainConfigs")
        check_count(len(configs))
        base, sampler, dists = configs[0], "list", {}
        varied = [f.name for f in dataclasses.fields(TrainConfig)
                  if any(getattr(c, f.name) != getattr(configs[0], f.name) for c in configs)]
        runs = [({k: P.encode(k, getattr(c, k)) for k in varied}, c) for c in configs]
    else:
        base = base or TrainConfig()
        if sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {sampler!r} (choose from {', '.join(SAMPLERS)})")
        dists = P.distributions(space)
        if sampler == "grid":
            configs = grid(space, base, paired)  # checks the fields, the values, the count
            names = list(space)
            runs = [({k: P.encode(k, v) for k, v in zip(names, combo)}, c) for combo, c in
                    zip(product(*[list(getattr(s, "options", s)) for s in space.values()]),
                        configs)]
        else:
            if not isinstance(trials, int) or isinstance(trials, bool):
                raise ConfigError(f"a {sampler} search needs a number of trials, got {trials!r}")
            check_count(trials)
            _check_corners(space, base)
            runs = [None] * trials
    store = open_storage(storage)
    plan = dict(version=1, owner=str(owner), title=str(title), created=time.time(),
                sampler=sampler, pruner=pruner, paired=bool(paired), seed=int(seed),
                n_trials=len(runs), base=base.to_dict(), report_every=report_every,
                val_per_epoch=val_per_epoch, data=data, init=init, score_test=bool(score_test),
                task=task, task_args=dict(task_args or {}),
                space=P.space_json(space) if space is not None else None,
                distributions=P.to_json(dists))
    ostudy = _new_optuna_study(store)
    ostudy.set_user_attr(ATTR, plan)
    for run in runs:
        if run is None:
            ostudy.enqueue_trial({})
        else:
            params, cfg = run
            ostudy.enqueue_trial(params, user_attrs={"config": cfg.to_dict()})
    return Study(ostudy, store)


def _check_corners(space: dict, base: TrainConfig) -> None:
    """A range whose ends make no valid config fails now, not in every trial."""
    for name, spec in space.items():
        ends = [spec.lo, spec.hi] if hasattr(spec, "lo") else list(getattr(spec, "options", spec))
        for v in ends:
            try:
                base.replace(**{name: P.decode(name, P.encode(name, v)) if name == "hidden"
                                else v})
            except ConfigError as e:
                raise ConfigError(f"{name}={format_value(v)} is not a valid config: {e}") from None
            except TypeError:
                raise ConfigError(f"cannot vary {name!r}: not a TrainConfig field") from None


def new_id() -> str:
    """128 random bits, URL-safe; never starting with "-" (a command line would read it as an
    option)."""
    while True:
        sid = secrets.token_urlsafe(16)
        if not sid.startswith("-"):
            return sid


def _new_optuna_study(store: Storage):
    import optuna

    try:
        return optuna.create_study(storage=store.optuna, study_name=new_id(),
                                   direction="maximize")
    except Exception as e:  # the database went away between opening and now
        raise EngineError(f"cannot create a study in {store.label}: {e}") from None


def open_study(study_id: str, storage=None) -> Study:
    """The study named `study_id` in `storage`; EngineError if there is none."""
    import optuna

    store = open_storage(storage)
    try:
        ostudy = optuna.load_study(study_name=str(study_id), storage=store.optuna)
    except KeyError:
        raise EngineError(f"no study named {study_id!r} in {store.label}") from None
    if ATTR not in ostudy.user_attrs:
        raise EngineError(f"study {study_id!r} in {store.label} was not made by mnist")
    return Study(ostudy, store)


def list_studies(storage=None, *, owner: str | None) -> list[StudySummary]:
    """The studies of `owner` (None: every study, for the command line), newest first."""
    store = open_storage(storage)
    out = []
    for s in store.optuna.get_all_studies():
        plan = s.user_attrs.get(ATTR)
        if not plan or (owner is not None and plan.get("owner") != owner):
            continue
        try:
            best = store.optuna.get_best_trial(s._study_id).value
        except ValueError:  # no complete trial yet
            best = None
        out.append(StudySummary(s.study_name, plan.get("title", ""), plan.get("owner", ""),
                                plan.get("sampler", ""), plan.get("pruner", "none"),
                                int(plan.get("n_trials", 0)), float(plan.get("created", 0)),
                                best))
    return sorted(out, key=lambda s: -s.created)
