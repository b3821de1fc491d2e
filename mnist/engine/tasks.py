"""Trials that are not a plain training run of a config: a plan's "task".

Everything that trains goes through the worker pool, also the two short jobs the pages offer
beside a run: the Search page's learning-rate range test and the Draw page's fine-tuning on a
user's digits. Each is a one-trial study whose plan names its task; a worker runs it here and
leaves its result in the storage, where the page reads it (mnist.engine.job starts them).

- RANGE_TEST: `mnist.training.lr_finder.lr_range_test` of the study's config; the result
  (LRFinderResult.to_dict()) is the trial's "lr_range" attribute.
- FINE_TUNE: `mnist.analysis.mydigits.fine_tune` of the study's starting model on the digits
  in the file its task_args name, then `held_out_accuracy` (the same fine-tune without each part
  of the digits, to say how it carries over); the new model is saved as a run's weights are
  (attribute "weights") and the figures are the attribute "fine_tune".
"""

from __future__ import annotations

import numpy as np
from optuna.trial import TrialState

RANGE_TEST = "lr_range"
FINE_TUNE = "fine_tune"
TASKS = (RANGE_TEST, FINE_TUNE)


def run(study, tid: int, number: int, cfg, train_ds, model, write_beside):
    """Run the study's task in this worker: (the state to tell Optuna, the value).
    `model`: the study's starting model; `write_beside(name, write)`: a file in the study's
    folder (mnist.engine.trial)."""
    task = study.plan.get("task")
    if task == RANGE_TEST:
        return _range_test(study, tid, cfg, train_ds)
    if task == FINE_TUNE:
        return _fine_tune(study, tid, number, train_ds, model, write_beside)
    from mnist.errors import EngineError

    raise EngineError(f"unknown task {task!r} (this worker knows {', '.join(TASKS)})")


def _range_test(study, tid: int, cfg, train_ds):
    from mnist.training.lr_finder import DEFAULT_STEPS, lr_range_test

    steps = int(study.plan["task_args"].get("steps") or DEFAULT_STEPS)
    result = lr_range_test(cfg, train_ds, steps=steps)
    _done(study, tid, "lr_range", result.to_dict(), result.message)
    return TrialState.COMPLETE, float(result.suggested[0] if result.suggested else 0.0)


def _fine_tune(study, tid: int, number: int, train_ds, model, write_beside):
    from mnist.analysis.mydigits import fine_tune, held_out_accuracy
    from mnist.errors import EngineError
    from mnist.training.persist import save_model

    if model is None:
        raise EngineError("a fine-tune needs the model to start from")
    try:
        with np.load(study.plan["task_args"]["digits"], allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, KeyError, ValueError) as e:
        raise EngineError(f"the digits to fine-tune on are not readable here: {e}") from None
    new, cfg, history = fine_tune(model, images, labels, train_ds)
    held = held_out_accuracy(model, images, labels, train_ds)
    path = write_beside(f"trial-{number}.npz",
                        lambda f: save_model(new, f, config=cfg, history=history))
    study.storage.optuna.set_trial_user_attr(tid, "weights", path)
    _done(study, tid, "fine_tune", dict(held=held, config=cfg.to_dict(), history=history),
          f"fine-tuned on {len(labels)} digits")
    return TrialState.COMPLETE, float(held["accuracy"] or 0.0)


def _done(study, tid: int, key: str, value, message: str) -> None:
    storage = study.storage.optuna
    storage.set_trial_user_attr(tid, key, value)
    storage.set_trial_user_attr(tid, "status", "done")
    storage.set_trial_user_attr(tid, "message", message)
