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

The per-batch work is `_step`: the forward and backward pass, then `optimizer.step()`. The
pass is `mnist.nn.fast.FastPath` (preallocated buffers, same numbers) whenever it supports the
model, else the plain `model.forward_backward`. On the fast path the batch is gathered by
FastPath itself (same shuffled order) and, for plain SGD, gradient and update are one fused
step (`FastPath.loaded(..., lr=)`; mnist/fast.py explains).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Iterator

import numpy as np

from mnist.training.config import ConfigError, TrainConfig
from mnist.data.dataset import Dataset, batches
from mnist.errors import DatasetError
from mnist.nn.fast import FastPath, forward_backward_for
from mnist.nn.model import MLP
from mnist.nn.optim import SGD, make_optimizer, schedule_lr

EVAL_BATCH = 1000  # rows per evaluation chunk: memory stays small on 60k digits
ACCUM_CHUNK = 8192  # a batch larger than this is processed in chunks, gradients accumulated
# A loss this much larger than the first batch's is an explosion even if still finite: with
# ReLUs and a stable log-sum-exp a huge learning rate kills every unit, and the loss jumps to
# hundreds (or 1e20) and stays there without ever reaching inf. A run that makes its loss 50
# times worse than at random initial weights is not learning; the floor keeps tiny initial
# losses (MSE ~0.2) from tripping it on a harmless bump.
EXPLODE_FACTOR = 50
EXPLODE_FLOOR = 100.0


def build_model(cfg: TrainConfig) -> MLP:
    """The untrained network a config describes (weights drawn from `cfg.seed`)."""
    return MLP(cfg.sizes, activation=cfg.activation, init=cfg.init, seed=cfg.seed,
               dropout=cfg.dropout, loss=cfg.loss, dtype=cfg.dtype)


def evaluate_loss(model: MLP, ds: Dataset, batch_size: int = EVAL_BATCH) -> tuple[float, float]:
    """(mean loss, accuracy) of `model` on a labelled dataset, in chunks, dropout off."""
    total_loss, correct = 0.0, 0
    for x, y in batches(ds, batch_size):
        loss, c = model.loss_on(x, y)
        total_loss += loss * len(y)
        correct += c
    n = max(len(ds), 1)
    return total_loss / n, correct / n


def _step(forward_backward, opt, x: np.ndarray, y: np.ndarray, weight_decay: float):
    """One minibatch: gradients (`model.forward_backward` or its fast equivalent, see
    mnist/fast.py), then the update (skipped if the loss is not finite)."""
    loss, correct = forward_backward(x, y, weight_decay)
    if math.isfinite(loss):
        opt.step()
    return loss, correct


def _big_step(forward_backward, model: MLP, opt, ds: Dataset, idx: np.ndarray,
              weight_decay: float, augment, rng, accum: list[np.ndarray]):
    """One step on a batch too big to hold at once (full-batch gradient descent on 60k):
    the mean gradient is accumulated over chunks of ACCUM_CHUNK rows, then one update.
    `forward_backward` handles up to ACCUM_CHUNK rows (the fast path when it applies)."""
    n = len(idx)
    for a in accum:
        a[...] = 0
    total_loss, correct = 0.0, 0
    pairs = list(model.params())
    for x, y in batches(ds.take(idx) if len(idx) < len(ds) else ds, ACCUM_CHUNK):
        if augment is not None:
            x = augment(x, rng)
        loss, c = forward_backward(x, y, 0.0)
        weight = len(y) / n
        total_loss += loss * weight
        correct += c
        w = model.dtype.type(weight)
        for a, (_, g) in zip(accum, pairs):
            a += w * g
    for a, (_, g) in zip(accum, pairs):
        g[...] = a
    if weight_decay:
        total_loss += model.add_weight_decay(weight_decay)
    if math.isfinite(total_loss):
        opt.step()
    return total_loss, correct


def _finite(model: MLP) -> bool:
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

    def __init__(self, cfg, model, train_set, validation, report_every, stop):
        self.config = cfg
        self.model = model
        self.train_set = train_set
        self.validation = validation
        self.report_every = report_every
        self.stop = stop
        self.history: list[dict] = []
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
        cfg, model, data, val = self.config, self.model, self.train_set, self.validation
        stop = self.stop or (lambda: False)
        # One stream per purpose, all from the seed: the minibatch order never depends on
        # whether dropout or augmentation also draw numbers (paired comparisons rely on it).
        rng = np.random.default_rng([cfg.seed, 1])  # shuffling
        model.set_rng(np.random.default_rng([cfg.seed, 2]))  # dropout masks
        aug_rng = np.random.default_rng([cfg.seed, 3])  # augmentation
        augment = _augmenter(cfg)
        opt = make_optimizer(cfg.optimizer, model.params(), cfg.lr, momentum=cfg.momentum,
                             beta1=cfg.beta1, beta2=cfg.beta2, rho=cfg.rho, eps=cfg.eps)
        n = len(data)
        B = min(cfg.batch_size or n, n)
        big = B > ACCUM_CHUNK
        n_batches = math.ceil(n / B)
        accum = [np.zeros_like(p) for p, _ in model.params()] if big else None
        forward_backward = forward_backward_for(model, ACCUM_CHUNK if big else B)
        # the fast path gathers its own batches and fuses plain SGD's update into the backward
        # pass; not when augmentation rewrites the batches
        fast = (forward_backward if isinstance(forward_backward, FastPath) and not big
                and augment is None and FastPath.loads_exactly(model) else None)
        fused_sgd = fast is not None and type(opt) is SGD
        if fast is not None:  # once per run, not per batch
            flat, labels = data.flat, data.labels.astype(np.int64)
        fixed_lr = cfg.schedule == "constant" and not cfg.warmup_epochs
        wd = cfg.weight_decay
        every = self.report_every

        t0 = time.perf_counter()
        train_time = 0.0  # seconds spent in training steps since the last record
        step = 0
        best_val, best_state, bad_epochs = math.inf, None, 0
        lr = cfg.lr
        explode_at = math.inf  # set from the first batch's loss

        rate_seen = 0  # samples trained on since the last record (for samples/s)

        def record(epoch, status, loss_sum, correct, seen, with_val, message=""):
            nonlocal train_time, rate_seen
            val_loss = val_acc = None
            if with_val and val is not None and len(val):
                val_loss, val_acc = evaluate_loss(model, val)
            rec = dict(
                epoch=round(float(epoch), 6), step=step,
                train_loss=_num(loss_sum / seen) if seen else None,
                train_acc=_num(correct / seen) if seen else None,
                val_loss=_num(val_loss), val_acc=_num(val_acc),
                lr=float(lr), elapsed=time.perf_counter() - t0,
                samples_per_s=(rate_seen / train_time) if train_time > 0 else None,
                status=status, message=message,
            )
            train_time, rate_seen = 0.0, 0
            return rec

        if stop():
            yield record(0, "stopped", 0, 0, 0, False, "stopped before the first step")
            return

        for e in range(cfg.epochs):
            # weights known to be sane, restored if the run diverges (also kept at reports)
            snapshot, snapshot_at = model.state_dict(), f"the start of epoch {e + 1}"
            ep_loss = ep_correct = ep_seen = 0  # whole epoch
            win_loss = win_correct = win_seen = 0  # since the last intra-epoch report
            if big:  # batches of indices
                order = np.arange(n) if B >= n else rng.permutation(n)
                source = (order[i:i + B] for i in range(0, n, B))
            elif fast is not None:  # batches of indices, labels, label positions
                order = rng.permutation(n)  # the very order batches() would draw
                y_epoch = labels.take(order)
                at_epoch = fast.label_positions(y_epoch)
                source = ((order[i:i + B], y_epoch[i:i + B], at_epoch[i:i + B])
                          for i in range(0, n, B))
            else:
                source = batches(data, B, rng)
            for i, item in enumerate(source):
                if not fixed_lr:
                    lr = schedule_lr(e + i / n_batches, cfg.lr, cfg.schedule, cfg.epochs,
                                     cfg.warmup_epochs, cfg.step_size, cfg.gamma, cfg.min_lr)
                    opt.lr = lr
                ts = time.perf_counter()
                if big:
                    b = len(item)
                    loss, correct = _big_step(forward_backward, model, opt, data, item, wd,
                                              augment, aug_rng, accum)
                elif fast is not None:
                    idx, y, at = item
                    b = fast.load(flat, idx)
                    if fused_sgd:  # one fused step (skipped by itself if the loss is not finite)
                        loss, correct = fast.loaded(y, wd, lr=lr, label_at=at)
                    else:
                        loss, correct = fast.loaded(y, wd, label_at=at)
                        if math.isfinite(loss):
                            opt.step()
                else:
                    x, y = item
                    b = len(y)
                    if augment is not None:
                        x = augment(x, aug_rng)
                    loss, correct = _step(forward_backward, opt, x, y, wd)
                train_time += time.perf_counter() - ts
                rate_seen += b
                step += 1
                epoch_pos = e + (i + 1) / n_batches
                if not math.isfinite(loss) or loss > explode_at:
                    model.load_state_dict(snapshot)
                    msg = (f"diverged: the loss became {loss:.4g} at epoch {e + 1} "
                           f"(batch {i + 1} of {n_batches}) with learning rate {lr:g}; "
                           f"restored the weights from {snapshot_at}; "
                           "try a smaller learning rate")
                    rec = record(epoch_pos, "diverged", ep_loss, ep_correct, ep_seen, True, msg)
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
                    yield record(epoch_pos, "stopped", ep_loss, ep_correct, ep_seen, True,
                                 f"stopped at epoch {epoch_pos:.3g}")
                    return
                if every and (i + 1) % every == 0 and i + 1 < n_batches:
                    snapshot, snapshot_at = model.state_dict(), f"epoch {epoch_pos:.4g}"
                    yield record(epoch_pos, "running", win_loss, win_correct, win_seen, False)
                    win_loss = win_correct = win_seen = 0

            if not _finite(model):
                model.load_state_dict(snapshot)
                yield record(e + 1, "diverged", ep_loss, ep_correct, ep_seen, True,
                             f"diverged: the weights became non-finite in epoch {e + 1} with "
                             f"learning rate {lr:g}; restored the weights from {snapshot_at}; "
                             "try a smaller learning rate")
                return
            last = e == cfg.epochs - 1
            rec = record(e + 1, "done" if last else "running", ep_loss, ep_correct, ep_seen,
                         True)
            if cfg.patience is not None and rec["val_loss"] is not None:
                if rec["val_loss"] < best_val:
                    best_val, best_state, bad_epochs = rec["val_loss"], model.state_dict(), 0
                    best_epoch = e + 1
                else:
                    bad_epochs += 1
                    if bad_epochs >= cfg.patience and not last:
                        model.load_state_dict(best_state)
                        rec["status"] = "early_stopped"
                        rec["message"] = (f"validation loss has not improved for {bad_epochs} "
                                          f"epochs; restored the best weights (epoch "
                                          f"{best_epoch}, val loss {best_val:.4f})")
                        yield rec
                        return
                if last and best_state is not None and bad_epochs:
                    model.load_state_dict(best_state)
                    rec["message"] = (f"restored the best weights (epoch {best_epoch}, "
                                      f"val loss {best_val:.4f})")
            yield rec


def _augmenter(cfg: TrainConfig):
    if not cfg.augment:
        return None
    try:
        from mnist.data.augment import augment_batch
    except ImportError:
        raise ConfigError("augment not available: mnist.data.augment is missing") from None
    return augment_batch


def train(config: TrainConfig, train: Dataset, model: MLP | None = None,
          validation: Dataset | None = None, report_every: int | None = None,
          stop: Callable[[], bool] | None = None) -> TrainingRun:
    """Fit `model` (or a new `build_model(config)`) on `train`; iterate to train.

    - `config.subset` subsamples `train` (stratified); then `config.val_fraction` of it is
      held out as validation (stratified) unless `validation` is given.
    - Yields a record per epoch, plus one every `report_every` batches (default
      `config.report_every`) with the training figures of that window and no validation.
    - `stop()` is checked after every batch; True ends the run with status "stopped".
    - The model is updated in place; pass a loaded model to continue training it (its own
      architecture is used; the optimizer state starts fresh).
    Problems with the inputs raise ConfigError / DatasetError here, before any training.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(train, Dataset):
        raise DatasetError(f"train must be a Dataset, got {type(train).__name__}")
    if not train.has_labels:
        raise DatasetError(f"{train.name} has no labels: it cannot be trained on")
    if validation is not None and not validation.has_labels:
        raise DatasetError(f"{validation.name} has no labels: it cannot validate")
    _augmenter(config)  # fail now if augmentation is asked for but missing
    data = train
    if config.subset is not None:
        data = data.subset(config.subset, seed=config.seed)
    if validation is None and config.val_fraction > 0:
        data, validation = data.split(config.val_fraction, seed=config.seed)
    if config.patience is not None and validation is None:
        raise ConfigError("patience needs a validation set: val_fraction is 0 and no "
                          "validation dataset was given")
    if model is None:
        model = build_model(config)
    elif not isinstance(model, MLP):
        raise ConfigError(f"model must be an MLP, got {type(model).__name__}")
    if model.sizes[0] != 784 or model.sizes[-1] != 10:
        raise ConfigError(f"model must map 784 pixels to 10 classes, has sizes {model.sizes}")
    every = report_every if report_every is not None else config.report_every
    return TrainingRun(config, model, data, validation, every, stop)
