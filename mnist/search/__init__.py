"""Hyperparameter search: many training runs, side by side, compared fairly.

    space.py     which fields vary and how (Range, IntRange, Choice, FIELDS); grid(), sample()
    presets.py   SEARCH_PRESETS: the comparisons people come for
    results.py   RunResult, the results table, CSV/JSON export
    estimate.py  a worker's measured speed and the search's expected duration

Where the runs train (worker processes, one machine or many) is the run engine's business:
mnist.engine (a search is a study, a run a trial). The names below are re-exported for users
(`from mnist.search import grid, sample`); code inside the package imports them from their
modules.
"""

from mnist.search.estimate import estimate_seconds, measure_speed, run_seconds, speed_key
from mnist.search.presets import SEARCH_PRESETS, SearchPreset
from mnist.search.results import (RunResult, results_csv, results_json, results_table,
                                  write_results)
from mnist.search.space import (FIELDS, INT_FIELDS, LOG_FIELDS, MAX_RUNS, Choice, IntRange,
                                Range, count_runs, format_value, grid, parse_value, sample,
                                varied_fields)

__all__ = [
    "estimate_seconds", "measure_speed", "run_seconds", "speed_key",
    "SEARCH_PRESETS", "SearchPreset",
    "RunResult", "results_csv", "results_json", "results_table", "write_results",
    "FIELDS", "INT_FIELDS", "LOG_FIELDS", "MAX_RUNS", "Choice", "IntRange", "Range",
    "count_runs", "format_value", "grid", "parse_value", "sample", "varied_fields",
]
