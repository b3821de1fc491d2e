"""Ensembles: several trained networks answering as one, by averaging their probabilities.

    ens = Ensemble([mlp, cnn, other_cnn])
    ens.predict_proba(x)   # (N, 10): the mean of the members' predict_proba
    ens.predict(x)         # (N,): its argmax

Networks trained differently make different mistakes, so the average of their probabilities
is usually right more often than any one of them (the tutorials' "model ensemble"). An
ensemble is read-only: it is built from trained models and is never trained itself.

It answers like a model wherever a model is only asked to predict: `predict`,
`predict_proba`, `forward` (the log of the mean probability, so that the cross-entropy
loss, `mnist.evaluate`, `mnist.evaluate_loss` and `score` read the ensemble's loss and
predictions as they do a network's) and `loss_on`. An ensemble of one model is that model:
it answers with the member's own outputs and loss.
"""

from __future__ import annotations

import numpy as np

from mnist.nn.losses import LOSSES

TINY = 1e-30  # log(0) guard: a class no member gives any probability


class Ensemble:
    """The mean of `models`' class probabilities (any mix of MLPs and conv nets taking the
    same inputs and giving the same classes). `members` lists them and `names` names them
    (default: each member's meta["name"], else "model 1", "model 2", ...); `meta` is free for
    metadata, as on a model (load_model fills it)."""

    kind = "ensemble"

    def __init__(self, models, names=None):
        members = list(models)
        if not members:
            raise ValueError("an ensemble needs at least one model")
        for m in members:
            if getattr(m, "kind", None) == "ensemble":
                raise ValueError("an ensemble's members are networks, not ensembles: list "
                                 "their members instead")
            if not hasattr(m, "predict_proba") or not hasattr(m, "n_classes"):
                raise ValueError(f"an ensemble's members are networks, not "
                                 f"{type(m).__name__}")
        shapes = {(m.n_inputs, m.n_classes) for m in members}
        if len(shapes) > 1:
            raise ValueError(f"the members map different inputs to different classes: "
                             f"{sorted(shapes)} (inputs, classes)")
        self.members = members
        if names is None:
            names = [getattr(m, "meta", {}).get("name") or f"model {i + 1}"
                     for i, m in enumerate(members)]
        self.names = [str(n) for n in names]
        if len(self.names) != len(members):
            raise ValueError(f"{len(self.names)} names for {len(members)} members")
        self.n_inputs, self.n_classes = shapes.pop()
        self.dtype = np.result_type(*(m.dtype for m in members))
        self.chunk_rows = min(m.chunk_rows for m in members)
        one = members[0] if len(members) == 1 else None
        self.loss = one.loss if one else "cross_entropy"
        self.loss_fn = one.loss_fn if one else LOSSES["cross_entropy"]
        self.meta: dict = {}

    def __repr__(self) -> str:
        return f"Ensemble([{', '.join(map(repr, self.members))}])"

    def __len__(self) -> int:
        return len(self.members)

    @property
    def n_params(self) -> int:
        return sum(m.n_params for m in self.members)

    @property
    def spec(self) -> str:
        """The members' specs, " + "-joined (a Dense-only member shows its hidden sizes)."""
        return " + ".join(m.spec or "linear" for m in self.members)

    def architecture(self) -> dict:
        return dict(kind="ensemble", members=[m.architecture() for m in self.members])

    def params(self):
        """Nothing to train: an ensemble has no parameters of its own."""
        return iter(())

    def state_dict(self) -> dict[str, np.ndarray]:
        """The members' arrays, prefixed "m0/", "m1/", ... (copies)."""
        return {f"m{i}/{k}": v for i, m in enumerate(self.members)
                for k, v in m.state_dict().items()}

    # ---------------------------------------------------------------------------- compute
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, 10): the mean of the members' probabilities (summed in float64)."""
        total = None
        for m in self.members:
            p = m.predict_proba(x)
            total = p.astype(np.float64) if total is None else total + p
        total /= len(self.members)
        return total.astype(self.dtype)

    def forward(self, x: np.ndarray, training: bool = False, trace=None) -> np.ndarray:
        """(N, 10) log mean probabilities: outputs whose softmax is `predict_proba` (one
        member: its own outputs)."""
        if training:
            raise ValueError("an ensemble is not trained: train its members")
        if trace is not None:
            raise ValueError("an ensemble has no layers of its own to trace; trace a member")
        if len(self.members) == 1:
            return self.members[0].forward(x)
        return np.log(np.maximum(self.predict_proba(x), self.dtype.type(TINY)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels (N,) int64: the class of highest mean probability."""
        if len(self.members) == 1:
            return self.members[0].predict(x)
        return self.predict_proba(x).argmax(1)

    def loss_on(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """(mean loss, number correct) on one chunk: the cross-entropy of the mean
        probabilities (one member: its own loss)."""
        out = self.forward(x)
        correct = int(np.count_nonzero(out.argmax(1) == y))
        loss, _ = self.loss_fn.loss_and_delta(out, y, overwrite=True)
        return loss, correct

    def forward_backward(self, *args, **kwargs):
        raise ValueError("an ensemble is not trained: train its members, then ensemble them")
