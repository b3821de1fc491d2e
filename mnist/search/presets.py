"""Search presets: the comparisons people come for, as a base config and what varies.

`SEARCH_PRESETS[name]` is a `SearchPreset`; `preset.configs(epochs=2, subset=5000)` gives its
runs with a budget applied (`python -m mnist search --preset NAME`, the Search page's menu).
"""

from __future__ import annotations

from dataclasses import dataclass

from mnist.search.space import grid, make_config
from mnist.training.config import TrainConfig


@dataclass(frozen=True)
class SearchPreset:
    """A named comparison: a base config plus a grid `space`, or explicit `variants` (each a
    dict of changes to the base, for comparisons that change one thing at a time)."""

    title: str
    note: str
    base: TrainConfig
    space: dict | None = None
    variants: tuple = ()

    def configs(self, paired: bool = True, **changes) -> list[TrainConfig]:
        """The runs, with `changes` (the budget: epochs, subset, ...) applied to the base;
        `paired=False` gives run i the seed base.seed + i, as grid() does."""
        base = self.base.replace(**changes) if changes else self.base
        if self.space:
            return grid(self.space, base, paired)
        return [make_config(base, v, i, paired) for i, v in enumerate(self.variants)]


_TUTORIAL = TrainConfig(hidden=(128, 64), activation="relu", init="normal001", optimizer="sgd",
                        lr=0.1, batch_size=32, epochs=3, val_fraction=0.1, seed=0)

SEARCH_PRESETS: dict[str, SearchPreset] = {
    "four-learning-rates": SearchPreset(
        "Four learning rates side by side",
        "784-128-64-10, He init, plain SGD, batch 32, identical starting weights and batches. "
        "lr 0.001 crawls, 0.05 converges, 0.5 is fast but jumpy, 5 blows up.",
        _TUTORIAL.replace(init="he"), space={"lr": [0.001, 0.05, 0.5, 5.0]}),
    "tutorial": SearchPreset(
        "The tutorial's four experiments",
        "784-128-64-10, N(0, 0.01^2) init, SGD, batch 32, lr 0.1, then one change at a time: "
        "lr 0.001 (the tiny initial weights make the signal vanish: it barely moves), wider "
        "layers (256-128), batch 128 (4x fewer steps per epoch).",
        _TUTORIAL, variants=({"lr": 0.1}, {"lr": 0.001}, {"hidden": (256, 128)},
                             {"batch_size": 128})),
    "lr-u-curve": SearchPreset(
        "Learning rates from 1e-4 to 1 (the U-curve)",
        "Nine learning rates, evenly spaced on a log scale, for 784-128-64-10 with He init and "
        "plain SGD: too small learns slowly, too big overshoots or diverges, the best is in "
        "between.",
        _TUTORIAL.replace(init="he"),
        space={"lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]}),
}
