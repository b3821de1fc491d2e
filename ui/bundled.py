"""The bundled models side by side on one drawing (the Draw page): the current model, the
bundled MLP, the bundled CNN and the ensemble of both, so a learner sees where they disagree.

Every row reads the same 28x28 image the current model read (the drawing is preprocessed
once); a row is one `predict_proba` of a single row, a few milliseconds even for the CNN. The
bundled models are the shared read-only ones of `ui.cache`, whatever this session holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui import cache, session

MLP_NAME = "bundled MLP"  # the session's "bundled model"
ENSEMBLE_NAME = "MLP + CNN ensemble"


def readings(entry: session.ModelEntry, image, probs=None) -> list[dict]:
    """[{model, architecture, current, probs (10,), pred, confidence}] for the current model
    (`probs` when already computed) and each bundled model that is not the current one."""
    x = np.asarray(image, dtype=np.float32).reshape(1, -1)
    mlp, cnn, pair = cache.default_model(), cache.cnn_model(), cache.bundled_ensemble()
    rows = []

    def add(name, model, p=None, current=False):
        p = np.asarray(model.predict_proba(x)[0] if p is None else p, dtype=np.float64)
        rows.append(dict(model=name, architecture=session.model_architecture(model),
                         current=current, probs=p, pred=int(p.argmax()),
                         confidence=float(p.max())))

    bundled = [(MLP_NAME, mlp), (session.BUNDLED_CNN_NAME, cnn), (ENSEMBLE_NAME, pair)]
    # the current model is one of the bundled ones: its row says which
    current = next((n for n, m in bundled if m is not None and m is entry.model), entry.name)
    add(current, entry.model, probs, current=True)
    for name, model in bundled:
        if model is not None and model is not entry.model:
            add(name, model)
    return rows


def agreement(rows: list[dict]) -> str:
    """One line: all read the same digit, or who reads what."""
    preds = [r["pred"] for r in rows]
    if len(set(preds)) == 1:
        return f"All {len(rows)} read **{preds[0]}**."
    return "They disagree: " + "; ".join(f"{r['model']} reads **{r['pred']}**" for r in rows) \
        + "."


def drawing_table(entry: session.ModelEntry, reading: dict) -> None:
    """The Draw page's comparison: a row per model, its digit, how sure, its ten
    probabilities as small bars; nothing when no bundled model is there."""
    rows = readings(entry, reading["image"], reading["probs"])
    missing = ("" if cache.cnn_model() is not None else
               " The bundled CNN (models/cnn.npz) is not installed: its row appears when it is.")
    if len(rows) < 2:
        if missing:
            st.caption(missing.strip())
        return
    st.markdown("**The bundled models on the same drawing**")
    df = pd.DataFrame(dict(
        Model=[r["model"] + (" (current)" if r["current"] else "") for r in rows],
        Reads=[r["pred"] for r in rows],
        Sure=[r["confidence"] for r in rows],
        Probabilities=[[round(float(v), 4) for v in r["probs"]] for r in rows],
        Architecture=[r["architecture"] for r in rows]))
    # pixel widths that fit the Draw page's right column (~470 px): all ten bars in view
    st.dataframe(df, hide_index=True, key="draw_compare", column_config={
        "Model": st.column_config.TextColumn("Model", width=170),
        "Reads": st.column_config.NumberColumn("Reads", width=55,
                                               help="The digit the model reads"),
        "Sure": st.column_config.ProgressColumn("Sure", format="percent", min_value=0.0,
                                                max_value=1.0, width=95),
        "Probabilities": st.column_config.BarChartColumn(
            "0 … 9", y_min=0.0, y_max=1.0, width=140,
            help="The ten output probabilities, digit 0 on the left"),
        "Architecture": st.column_config.TextColumn("Architecture", width="medium")})
    why = (" An MLP sees 784 separate pixels; a CNN slides small filters over the image, so "
           "it cares less exactly where a stroke is. The ensemble averages the two's "
           "probabilities." if cache.bundled_ensemble() is not None else "")
    st.caption(agreement(rows) + why + missing)
