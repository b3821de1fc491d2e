"""Training: build a network from a TrainConfig and fit it, yielding a record as it goes.

    run = train(cfg, train_ds)            # validates and prepares now, trains lazily
    for rec in run:                       # one record per epoch (+ every N batches if asked)
        plot(rec["epoch"], rec["val_acc"])  # the caller plots, stores, or breaks out
    run.model                             # trained in place; run.history = all records

Everything random (initial weights, shuffling, dropout masks, augmentation) comes from
generators derived from `cfg.seed`: the weights from `default_rng(seed)` (so `build_model(cfg)`
gives the same start whether the caller or train() builds it), shuffling from
`default_rng([seed, 1])`, dropout masks from `[seed, 2]`, augmentation from `[seed, 3]`: the
minibatch order is the same whatever else differs. Same config, same data, same records
(timings aside).

The per-batch work is a stepper's (mnist/training/steps.py), chosen once per run: the loop
calls `stepper.step(x, y)` the same way whatever computes it, sets the learning rate on the
optimizer (the only place it lives) and watches the loss.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Iterator

import numpy as np

from mnist.data.dataset import Dataset, batches
from mnist.errors import ConfigError, DatasetError
from mnist.nn.model import Network, build_network
from mnist.nn.optim import make_optimizer, schedule_lr
from mnist.training.config import TrainConfig
from mnist.training.steps import ACCUM_CHUNK, make_stepper

EVAL_BATCH = 1000  # rows per evaluation chunk: memory stays small on 60k digits
# A loss this much larger than the first batch's is an explosion even if still finite: with
# ReLUs and a huge learning rate every unit dies and the loss sits at hundreds without ever
# reaching inf. The floor keeps tiny initial losses (MSE ~0.2) from tripping it on a bump.
EXPLODE_FACTOR = 50
EXPLODE_FLOOR = 100.0


def build_model(cfg: TrainConfig) -> Network:
    """The untrained network a config describes (weights drawn from `cfg.seed`): an MLP for
    `hidden`, a conv net for a `layers` spec."""
    return build_network(cfg.spec, activation=cfg.activation, init=cfg.init, seed=cfg.seed,
                         dropout=cfg.dropout, loss=cfg.loss, dtype=cfg.dtype)


def evaluate_loss(model, ds: Dataset, batch_size: int | None = None) -> tuple[float, float]:
    """(mean loss, accuracy) of `model` (a network or an ensemble) on a labelled dataset, in
    chunks (EVAL_BATCH rows, fewer for conv nets: `model.chunk_rows`), dropout off."""
    total_loss, correct = 0.0, 0
    for x, y in batches(ds, batch_size or min(EVAL_BATCH, model.chunk_rows)):
        loss, c = model.loss_on(x, y)
        total_loss += loss * len(y)
        correct += c
    n = max(len(ds), 1)
    return total_loss / n, correct / n


def _finite(model: Network) -> bool:
    return all(np.isfinite(p).all() for p, _ in model.params())


def _num(v):
    """JSON-able number: None for missing or non-finite."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


class TrainingRun:
    """The iterator train() returns: yields records; `.model`, `.config`, `.history`,
    `.train_set`, `.validation` stay available to the caller."""

    def __init__(self, cfg, model, train_set, validation, report_every, stop,
                 validate_every=None):
        self.config = cfg
        self.model = model
        self.train_set = train_set
        self.validation = validation
        self.report_every = report_every
        self.validate_every = validate_every
        self.stop = stop
        self.history: list[dict] = []
        self.optimizer = None  # made when the first record is asked for; owns the rate
        self._gen = self._run()

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        rec = next(self._gen)
        self.history.append(rec)
        return rec

    def close(self):
        self._gen.close()

    # ------------------------------------------------------------------ the loop
    def _run(self) -> Iterator[dict]:
        cfg, model, data = self.config, self.model, self.train_set
        stop = self.stop or (lambda: False)
        # One stream per purpose, all from the seed: the minibatch order never depends on
        # whether dropout or augmentation also draw numbers (paired comparisons rely on it).
        rng = np.random.default_rng([cfg.seed, 1])  # shuffling
        model.set_rng(np.random.default_rng([cfg.seed, 2]))  # dropout masks
        aug_rng = np.random.default_rng([cfg.seed, 3])  # augmentation
        self.optimizer = opt = make_optimizer(
            cfg.optimizer, model.params(), cfg.lr, momentum=cfg.momentum, beta1=cfg.beta1,
            beta2=cfg.beta2, rho=cfg.rho, eps=cfg.eps)
        n = len(data)
        B = min(cfg.batch_size or n, n)
        n_batches = math.ceil(n / B)
        stepper = make_stepper(model, opt, data, B, cfg.weight_decay, _augmenter(cfg), aug_rng,
                               chunk=ACCUM_CHUNK)
        scheduled = cfg.schedule != "constant" or cfg.warmup_epochs
        every, val_every = self.report_every, self.validate_every
        self._t0 = time.perf_counter()
        self._train_time = 0.0  # seconds spent in training steps since the last record
        self._rate_seen = 0  # samples trained on since the last record (for samples/s)
        self._step = 0
        self._best = (math.inf, None, 0, 0)  # val loss, weights, epoch, epochs without gain
        explode_at = math.inf  # set from the first batch's loss

        if stop():
            yield self._record(0, "stopped", 0, 0, 0, False, "stopped before the first step")
            return

        for e in range(cfg.epochs):
            # weights known to be sane, restored if the run diverges (also kept at reports)
            snapshot, snapshot_at = model.state_dict(), f"the start of epoch {e + 1}"
            ep_loss = ep_correct = ep_seen = 0  # whole epoch
            win_loss = win_correct = win_seen = 0  # since the last intra-epoch report
            for i, (x, y) in enumerate(stepper.epoch(rng)):
                if scheduled:
                    opt.lr = schedule_lr(e + i / n_batches, cfg.lr, cfg.schedule, cfg.epochs,
                                         cfg.warmup_epochs, cfg.step_size, cfg.gamma,
                                         cfg.min_lr)
                ts = time.perf_counter()
                loss, correct = stepper.step(x, y)
                self._train_time += time.perf_counter() - ts
                b = len(y)
                self._rate_seen += b
                self._step += 1
                epoch_pos = e + (i + 1) / n_batches
                if not math.isfinite(loss) or loss > explode_at:
                    model.load_state_dict(snapshot)
                    msg = (f"diverged: the loss became {loss:.4g} at epoch {e + 1} "
                           f"(batch {i + 1} of {n_batches}) with learning rate {opt.lr:g}; "
                           f"restored the weights from {snapshot_at}; "
                           "try a smaller learning rate")
                    rec = self._record(epoch_pos, "diverged", ep_loss, ep_correct, ep_seen,
                                       True, msg)
                    # the value that blew up, for plots: a number, or "inf" / "nan"
                    rec["blowup_loss"] = float(loss) if math.isfinite(loss) else str(loss)
                    yield rec
                    return
                if explode_at == math.inf:
                    explode_at = max(EXPLODE_FLOOR, EXPLODE_FACTOR * loss)
                ep_loss += loss * b
                ep_correct += correct
                ep_seen += b
                win_loss += loss * b
                win_correct += correct
                win_seen += b
                if stop():
                    yield self._record(epoch_pos, "stopped", ep_loss, ep_correct, ep_seen, True,
                                       f"stopped at epoch {epoch_pos:.3g}")
                    return
                report = every and (i + 1) % every == 0
                validate = val_every and (i + 1) % val_every == 0
                if (report or validate) and i + 1 < n_batches:
                    snapshot, snapshot_at = model.state_dict(), f"epoch {epoch_pos:.4g}"
                    yield self._record(epoch_pos, "running", win_loss, win_correct, win_seen,
                                       bool(validate))
                    win_loss = win_correct = win_seen = 0

            if not _finite(model):
                model.load_state_dict(snapshot)
                yield self._record(
                    e + 1, "diverged", ep_loss, ep_correct, ep_seen, True,
                    f"diverged: the weights became non-finite in epoch {e + 1} with learning "
                    f"rate {opt.lr:g}; restored the weights from {snapshot_at}; "
                    "try a smaller learning rate")
                return
            last = e == cfg.epochs - 1
            rec = self._record(e + 1, "done" if last else "running", ep_loss, ep_correct,
                               ep_seen, True)
            if self._early_stopping(rec, e + 1, last):
                yield rec
                return
            yield rec

    def _record(self, epoch, status, loss_sum, correct, seen, with_val, message="") -> dict:
        val = self.validation
        val_loss = val_acc = None
        if with_val and val is not None and len(val):
            val_loss, val_acc = evaluate_loss(self.model, val)
        rec = dict(
            epoch=round(float(epoch), 6), step=self._step,
            train_loss=_num(loss_sum / seen) if seen else None,
            train_acc=_num(correct / seen) if seen else None,
            val_loss=_num(val_loss), val_acc=_num(val_acc),
            lr=float(self.optimizer.lr), elapsed=time.perf_counter() - self._t0,
            samples_per_s=(self._rate_seen / self._train_time) if self._train_time > 0 else None,
            status=status, message=message,
        )
        self._train_time, self._rate_seen = 0.0, 0
        return rec

    def _early_stopping(self, rec: dict, epoch: int, last: bool) -> bool:
        """With `patience`: keep the best weights by validation loss; True (and `rec` says
        so) when the run stops early, the best weights restored. At the last epoch the best
        weights come back too."""
        patience = self.config.patience
        if patience is None or rec["val_loss"] is None:
            return False
        best_val, best_state, best_epoch, bad = self._best
        if rec["val_loss"] < best_val:
            self._best = (rec["val_loss"], self.model.state_dict(), epoch, 0)
            return False
        bad += 1
        self._best = (best_val, best_state, best_epoch, bad)
        if bad >= patience and not last:
            self.model.load_state_dict(best_state)
            rec["status"] = "early_stopped"
            rec["message"] = (f"validation loss has not improved for {bad} epochs; restored "
                              f"the best weights (epoch {best_epoch}, val loss {best_val:.4f})")
            return True
        if last and best_state is not None:
            self.model.load_state_dict(best_state)
            rec["message"] = (f"restored the best weights (epoch {best_epoch}, "
                              f"val loss {best_val:.4f})")
        return False


def _augmenter(cfg: TrainConfig):
    """augment_batch if the config asks for it (imported only then: it loads scipy.ndimage)."""
    if not cfg.augment:
        return None
    from mnist.data.augment import augment_batch
    return augment_batch


def check_inputs(config: TrainConfig, train: Dataset | None, model: Network | None = None,
                 validation: Dataset | None = None, *, remote: bool = False) -> None:
    """What train() refuses, said before any digit is copied (ConfigError / DatasetError): by
    train() itself, and by whoever hands a run to another process (mnist.engine.job), where a
    refusal a second later in a worker is a worse message. `remote`: the worker reads the
    data itself, so `train` may be None (then it is not checked here)."""
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not (remote and train is None) and not isinstance(train, Dataset):
        raise DatasetError(f"train must be a Dataset, got {type(train).__name__}")
    if train is not None and not train.has_labels:
        raise DatasetError(f"{train.name} has no labels: it cannot be trained on")
    if validation is not None and not validation.has_labels:
        raise DatasetError(f"{validation.name} has no labels: it cannot validate")
    if config.patience is not None and validation is None and not config.val_fraction > 0:
        raise ConfigError("patience needs a validation set: val_fraction is 0 and no "
                          "validation dataset was given")
    if model is None:
        return
    if getattr(model, "kind", None) == "ensemble":
        raise ConfigError("an ensemble is not trained: train its members, then ensemble them")
    if not isinstance(model, Network):
        raise ConfigError(f"model must be a network (MLP or CNN), got {type(model).__name__}")
    if model.n_inputs != 784 or model.n_classes != 10:
        raise ConfigError(f"model must map 784 pixels to 10 classes, maps {model.n_inputs} "
                          f"to {model.n_classes}")


def train(config: TrainConfig, train: Dataset, model: Network | None = None,
          validation: Dataset | None = None, report_every: int | None = None,
          stop: Callable[[], bool] | None = None,
          validate_every: int | None = None) -> TrainingRun:
    """Fit `model` (or a new `build_model(config)`) on `train`; iterate to train.

    - `config.subset` subsamples `train` (stratified); then `config.val_fraction` of it is
      held out as validation (stratified) unless `validation` is given.
    - Yields a record per epoch, plus one every `report_every` batches (default
      `config.report_every`) with the training figures of that window and no validation;
      `validate_every` batches: such a record with the validation figures too (curves that
      show the shape of learning within an epoch, at the cost of a validation pass each).
    - `stop()` is checked after every batch; True ends the run with status "stopped".
    - The model is updated in place; pass a loaded model to continue training it (its own
      architecture is used; the optimizer state starts fresh).
    Problems with the inputs raise ConfigError / DatasetError here, before any training.
    """
    check_inputs(config, train, model, validation)
    data = train
    if config.subset is not None:
        data = data.subset(config.subset, seed=config.seed)
    if validation is None and config.val_fraction > 0:
        data, validation = data.split(config.val_fraction, seed=config.seed)
    if model is None:
        model = build_model(config)
    every = report_every if report_every is not None else config.report_every
    if validate_every is not None and (isinstance(validate_every, bool) or
                                       not isinstance(validate_every, int) or validate_every < 1):
        raise ConfigError(f"validate_every must be a number of batches >= 1, got "
                          f"{validate_every!r}")
    return TrainingRun(config, model, data, validation, every, stop, validate_every)
