"""The Train page's results: the current model's test scores, its mistakes by class, its softmax
outputs on a few test digits, its curves and its files.

The figures are made once per model and data, not on every rerun of the page (each widget
change reruns it): for the bundled model on MNIST once per server (`st.cache_resource`, shared
read-only), for the session's own models once per session (the current one is kept).
"""

from __future__ import annotations

import streamlit as st

from mnist.analysis import explore
from mnist.plots import training as tp
from ui import cache, data, session

SHOWN = 8  # test digits whose softmax outputs are shown


def _figures(entry, ev: dict, test) -> dict:
    labels = test.labels[:SHOWN] if test.has_labels else None
    probs = ev["probs"][:SHOWN]
    return dict(per_class=tp.per_class_accuracy(ev["per_class"]),
                confusion=tp.confusion_heatmap(ev["confusion"]),
                softmax=tp.softmax_heatmap(probs, labels),
                table=explore.softmax_table(probs),
                mosaic=explore.mosaic(test.images[:SHOWN], cols=4),
                curves=tp.training_curves(entry.history) if entry.history else None)


@st.cache_resource(show_spinner=False)
def _bundled_figures(mtime: float | None) -> dict:
    """The bundled model's figures on MNIST, made once per server (keyed by the file's
    mtime, as its model and scores are)."""
    entry = session.models()[session.BUNDLED_NAME]
    return _figures(entry, cache.default_score(), cache.mnist_data()[1])


def figures(entry, ev: dict) -> dict:
    """The current model's figures, made once per (model, data)."""
    if entry.source == "bundled" and data.data_token() == "mnist":
        return _bundled_figures(cache.default_mtime())
    key = (entry.name, id(entry.model), data.data_token())
    kept = st.session_state.get("_tr_result_figures")
    if kept is None or kept[0] != key:
        kept = (key, _figures(entry, ev, data.active_data()[1]))
        st.session_state["_tr_result_figures"] = kept  # only the current model's
    return kept[1]


def history_csv(history: list[dict]) -> str:
    import pandas as pd  # only when the file is asked for: half a second on a first visit

    return pd.DataFrame(history).to_csv(index=False)


def panel() -> None:
    """The results section for the session's current model."""
    entry = session.current()
    if entry is None:
        st.info(cache.default_model_problem() or "No model yet.", icon=":material/info:")
        return
    st.markdown(f"**{entry.name}** · `{entry.architecture}` · {entry.describe()} · "
                f"{entry.source}")
    with st.spinner("Measuring the current model on the test set ..."):
        ev = session.evaluation(entry)
        figs = figures(entry, ev)
    c1, c2, c3 = st.columns(3)
    c1.metric("Test accuracy", f"{ev['test_acc']:.2%}",
              help=f"On {ev['n']:,} test digits the model never trained on.")
    c2.metric("Test loss", f"{ev['test_loss']:.4f}",
              help="The average loss on the test digits (lower is better).")
    c3.metric("Test errors", f"{int(round((1 - ev['test_acc']) * ev['n'])):,}",
              help="Test digits it gets wrong (see them on the Mistakes page).")
    chart = dict(config={"displayModeBar": False})
    c1, c2 = st.columns(2)
    c1.plotly_chart(figs["per_class"], key="_tr_per_class", **chart)
    c2.plotly_chart(figs["confusion"], key="_tr_confusion", **chart)
    st.caption("Rows: the true digit; columns: what the model said. Off the diagonal are the "
               "mistakes: which digits it mixes up.")

    st.markdown("**Softmax outputs for the first test digits**")
    c1, c2 = st.columns([1, 3])
    c1.image(figs["mosaic"], width=260,
             caption=f"test digits #0-#{SHOWN - 1}, left to right, top to bottom")
    c2.plotly_chart(figs["softmax"], key="_tr_softmax", **chart)
    st.caption("Each row sums to 1: the network's probability for each digit. A confident "
               "network puts almost everything on one class.")
    with st.expander("As the tutorials print them"):
        st.code("probabilities for classes 0..9 -> predicted digit\n" + figs["table"],
                language=None)
    if figs["curves"] is not None:
        with st.expander("Training curves of this model"):
            st.plotly_chart(figs["curves"], key="_tr_model_curves", **chart)
    _downloads(entry)


def _downloads(entry) -> None:
    st.markdown("**Download**")
    c1, c2, c3 = st.columns(3)
    safe = entry.file_stem
    # the files are made when clicked (a big model takes a second to compress), not on every
    # rerun of the page
    c1.download_button("Model (.npz)", lambda: session.model_file_bytes(entry), f"{safe}.npz",
                       mime="application/octet-stream", icon=":material/download:",
                       help="The weights and metadata; load it again with Upload below or "
                            "mnist.load_model.", key="_tr_dl_model")
    c2.download_button("Config (JSON)", entry.config_json(), f"{safe}.json",
                       mime="application/json", icon=":material/data_object:",
                       key="_tr_dl_config",
                       help="The TrainConfig that made this model (TrainConfig.from_json).")
    c3.download_button("History (CSV)", lambda: history_csv(entry.history),
                       f"{safe}-history.csv", mime="text/csv",
                       icon=":material/table:", disabled=not entry.history, key="_tr_dl_hist",
                       help="One row per record: epoch, loss, accuracy, learning rate ...")
