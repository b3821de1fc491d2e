"""What the engine tests share besides fixtures: a tiny config, starting a worker process as a
machine would, and polling with a bound."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mnist.training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
# small and quick: a few hundred digits, a one-layer net
TINY = TrainConfig(hidden=(16,), epochs=2, subset=400, batch_size=32, lr=0.1, optimizer="sgd",
                   val_fraction=0.25, seed=0)


def start_worker(storage: str, study_id: str, *extra: str) -> subprocess.Popen:
    """`python -m mnist worker` as a machine would start it (its own process, our env)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "mnist", "worker", "--storage", storage,
                             "--study", study_id, *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(check, timeout: float = 60.0, every: float = 0.05):
    """Poll `check()` until it returns something true (a liveness bound, not a timing claim)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {check}")
        time.sleep(every)
