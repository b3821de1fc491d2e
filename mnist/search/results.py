"""The results of a search: one RunResult per run, and the table and files made from them.

A RunResult has the run's config, the varied values (its label), its status, every train()
record as it came, and maybe its final weights; `score` says what "best" means. The table is one
flat row per run, written as CSV or JSON (`write_results`).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field

from mnist.search.space import format_value, run_label
from mnist.training.config import TrainConfig

STATUSES = ("pending", "running", "done", "diverged", "stopped", "early_stopped", "halved",
            "cancelled", "failed")
FINISHED = ("done", "diverged", "stopped", "early_stopped", "halved", "cancelled", "failed")


@dataclass
class RunResult:
    """One run of a search: its config, live status and history, and (maybe) final weights."""

    run_id: int
    config: TrainConfig
    values: dict  # the varied fields and this run's values
    status: str = "pending"
    history: list = field(default_factory=list, repr=False)  # train() records, as they came
    message: str = ""
    state: dict | None = field(default=None, repr=False)  # final weights, if kept
    worker: int | None = None  # pid of the process that trained it

    @property
    def label(self) -> str:
        return run_label(self.values, f"run {self.run_id}")

    @property
    def last(self) -> dict:
        """The last record with validation figures (end of an epoch), else the last record."""
        for rec in reversed(self.history):
            if rec.get("val_loss") is not None or rec.get("status") != "running":
                return rec
        return self.history[-1] if self.history else {}

    @property
    def epochs_done(self) -> float:
        return float(self.history[-1]["epoch"]) if self.history else 0.0

    @property
    def progress(self) -> float:
        """0..1 of the planned epochs (1 once finished, whatever the reason)."""
        if self.status in FINISHED:
            return 1.0
        return min(self.epochs_done / max(self.config.epochs, 1), 1.0)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def score(self) -> float:
        """What 'best' means: validation accuracy (training accuracy without a validation set);
        a diverged or failed run ranks below every run that finished."""
        rec = self.last
        acc = rec.get("val_acc")
        if acc is None:
            acc = rec.get("train_acc")
        if acc is None or self.status in ("diverged", "failed", "cancelled"):
            return -1.0 + (acc or 0.0) * 1e-3
        return float(acc)

    def to_dict(self) -> dict:
        """Plain data for figures (mnist.plots.search) and JSON."""
        return dict(run_id=self.run_id, label=self.label, values=dict(self.values),
                    status=self.status, history=list(self.history), message=self.message,
                    config=self.config.to_dict(), progress=self.progress)

    def row(self) -> dict:
        """A flat row for a results table."""
        rec = self.last
        row = {"run": self.run_id}
        for k, v in self.values.items():
            row[k] = format_value(v) if isinstance(v, (tuple, list)) else v
        row.update(status=self.status, epochs=round(self.epochs_done, 3),
                   val_acc=rec.get("val_acc"), val_loss=rec.get("val_loss"),
                   train_acc=rec.get("train_acc"), train_loss=rec.get("train_loss"),
                   seconds=round(self.history[-1]["elapsed"], 2) if self.history else None,
                   message=self.message)
        return row


def results_table(results: list[RunResult]) -> list[dict]:
    return [r.row() for r in results]


def results_csv(results: list[RunResult]) -> str:
    rows = results_table(results)
    out = io.StringIO()
    if rows:
        w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return out.getvalue()


def results_json(results: list[RunResult], indent: int | None = 2) -> str:
    payload = [dict(r.row(), config=r.config.to_dict(), history=r.history) for r in results]
    return json.dumps(payload, indent=indent)


def write_results(results: list[RunResult], path) -> None:
    """A results table to `path`: JSON if it ends in .json, CSV otherwise."""
    path = os.fspath(path)
    text = results_json(results) if path.lower().endswith(".json") else results_csv(results)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
