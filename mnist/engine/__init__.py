"""The run engine: where and how training runs execute, on one machine or many.

A search (or a single run) is an Optuna study, a run is one of its trials; the storage is the
record (every training record, the stop flags, the plan), so anything that can open the storage
can follow, stop or resume a study by its id, from any process or machine.

- `mnist.engine.storage`: `open_storage(url)`: the runs folder's journal file by default, a
  journal path, or a `postgresql://` database for many machines.
- `mnist.engine.study`: `create_study`, `open_study`, `list_studies`; `Study` (trials, stop,
  resume, best) and `TrialView` (a run as read: status, values, config, records, value).
- `mnist.engine.trial`: one trial trained in this process (`run_next_trial`, `work`).
- `mnist.engine.pool`: `Pool` / `shared_pool()`: spawned worker processes shared fairly by
  every submitter.
- `mnist.engine.liveness`: trials whose worker died are failed, so the study goes on.
- `mnist.engine.params`, `mnist.engine.datacache`: the space in Optuna's terms; the digits
  mapped read-only by every worker.

Code inside the package imports from the defining modules; the names below are for users.
"""

from mnist.engine.pool import Pool, shared_pool
from mnist.engine.storage import Storage, open_storage
from mnist.engine.study import (Study, StudySummary, TrialView, create_study, list_studies,
                                open_study)

__all__ = ["Pool", "Storage", "Study", "StudySummary", "TrialView", "create_study",
           "list_studies", "open_storage", "open_study", "shared_pool"]
