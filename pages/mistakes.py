"""Mistakes: every test digit the current model gets wrong, the confusion matrix as a filter,
and what a second model fixed or broke."""

import numpy as np
import streamlit as st

import mnist.analysis as an
from mnist.plots import analysis as ap
from ui import data, session, widgets

PER_PAGE = 40
COLS = 10
ANY = "any"
SORT_LABELS = {
    "confidence": "most confident first",
    "true": "by true class",
    "pred": "by predicted class",
    "index": "by test index",
}

ss = st.session_state
ss.setdefault("mk_true", ANY)
ss.setdefault("mk_pred", ANY)
ss.setdefault("mk_page", 1)


def on_cell_click():
    """A click on the confusion matrix sets the true/predicted filters (before they draw).
    Every trace of that figure has x = predicted class, y = true class."""
    for pt in widgets.selected_points("mk_cm"):
        if pt.get("x") is not None and pt.get("y") is not None:
            ss["mk_true"], ss["mk_pred"] = int(round(pt["y"])), int(round(pt["x"]))
            ss["mk_page"] = 1
            return


def on_digit_click():
    i = widgets.clicked_index("mk_grid")
    if i is not None:
        ss["mk_digit"] = i


def clear_filter():
    ss["mk_true"], ss["mk_pred"], ss["mk_page"] = ANY, ANY, 1


def reset_page():
    ss["mk_page"] = 1


entry = session.require_model()
ev = session.evaluation(entry)
train, test = data.active_data()
y = test.y()
probs = ev["probs"]
cm = np.asarray(ev["confusion"])

st.title("Mistakes")
n_wrong = int(np.sum(ev["preds"] != y))
st.caption(f"Model **{entry.name}**: {n_wrong:,} of {len(y):,} test digits wrong "
           f"({ev['test_acc']:.2%} right).")

t_sel = ss["mk_true"] if ss["mk_true"] != ANY else None
p_sel = ss["mk_pred"] if ss["mk_pred"] != ANY else None
left, right = st.columns([1.3, 1], gap="large")
with left:
    sel = (t_sel, p_sel) if t_sel is not None and p_sel is not None else None
    st.plotly_chart(ap.confusion_cells(cm, selected=sel), key="mk_cm", on_select=on_cell_click,
                    selection_mode="points")
with right:
    st.markdown("**Which mistakes**")
    c1, c2 = st.columns(2)
    with c1:
        st.selectbox("True class", [ANY, *range(10)], key="mk_true", on_change=reset_page)
    with c2:
        st.selectbox("Predicted class", [ANY, *range(10)], key="mk_pred", on_change=reset_page)
    st.button("Show all mistakes", on_click=clear_filter, key="mk_all",
              disabled=t_sel is None and p_sel is None)
    st.caption("Click a cell of the matrix (or use the two boxes) to see only the digits of "
               "true class *row* predicted as *column*. Colour shows the errors; the diagonal "
               "(grey) is what the model got right.")
    sort = st.selectbox("Order", list(SORT_LABELS), format_func=SORT_LABELS.get,
                        key="mk_sort", on_change=reset_page)

table = an.mistake_table(y, probs, sort=sort, true_class=t_sel, pred_class=p_sel)
n = len(table["index"])
pages = an.n_pages(n, PER_PAGE)
if ss["mk_page"] > pages:
    ss["mk_page"] = pages
what = ("true " + (str(t_sel) if t_sel is not None else "any") + ", predicted "
        + (str(p_sel) if p_sel is not None else "any"))
if n == 0:
    st.info(f"No mistakes with {what}.", icon=":material/check_circle:")
else:
    p1, p2 = st.columns([1, 3], vertical_alignment="bottom")
    with p1:
        st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1,
                        key="mk_page")
    with p2:
        st.markdown(f"**{n:,} mistakes** ({what}), {SORT_LABELS[sort]}.  \n"
                    "Each digit: true→predicted, and the confidence of the wrong guess. "
                    "Click one to see all its probabilities below.")
    page = an.page_of(table, ss["mk_page"] - 1, PER_PAGE)
    mos = an.mosaic(test.images[page["index"]], cols=COLS, pad=2, fill=40)
    rows = -(-len(page["index"]) // COLS)
    fig = ap.mistake_grid(mos, page["true"], page["pred"], page["confidence"],
                          page["index"], cols=COLS, height=40 + rows * 96)
    st.plotly_chart(fig, key="mk_grid", on_select=on_digit_click, selection_mode="points")

    options = page["index"].tolist()
    if ss.get("mk_digit") not in options:
        ss["mk_digit"] = options[0]
    d1, d2 = st.columns([1, 2])
    with d1:
        st.selectbox("Digit", options, key="mk_digit",
                     format_func=lambda i: f"test #{i}: true {int(y[i])}, "
                                           f"predicted {int(ev['preds'][i])}")
        i = ss["mk_digit"]
        st.image(an.upscale(test.images[i], 6))
    with d2:
        st.plotly_chart(ap.probs_bar(probs[i], true=int(y[i]),
                                     title=f"test #{i}: softmax output (true class "
                                           "outlined)"), key="mk_probs")

# ------------------------------------------------------------------------- compare models
st.divider()
st.subheader("Compare two models")
ms = session.models()
names = list(ms)
if len(names) < 2:
    st.info("Train, fine-tune or upload a second model to compare it with this one: which "
            "mistakes it fixed and which new ones it made.", icon=":material/compare:")
else:
    default_b = names.index(entry.name)
    default_a = 0 if default_b != 0 else 1
    c1, c2 = st.columns(2)
    with c1:
        a_name = st.selectbox("Model A (before)", names, index=default_a, key="mk_a")
    with c2:
        b_name = st.selectbox("Model B (after)", names, index=default_b, key="mk_b")
    st.caption(f"A: `{ms[a_name].architecture}` · B: `{ms[b_name].architecture}` (any two "
               "models: an MLP against a CNN, a model against an ensemble ...)")
    if a_name == b_name:
        st.caption("Pick two different models.")
    else:
        ev_a, ev_b = session.evaluation(ms[a_name]), session.evaluation(ms[b_name])
        cmp = an.compare(y, ev_a["preds"], ev_b["preds"])
        counts = cmp["counts"]
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Fixed by B", f"{counts['fixed']:,}")
        m2.metric("Introduced by B", f"{counts['introduced']:,}")
        m3.metric("Wrong in both", f"{counts['both_wrong']:,}")
        m4.metric("Accuracy B − A", f"{ev_b['test_acc'] - ev_a['test_acc']:+.2%}")
        show = st.slider("Show at most", 10, 200, 40, step=10, key="mk_cmp_n")
        for kind, title, ev_shown in (("fixed", "A was wrong, B is right", ev_a),
                                      ("introduced", "A was right, B is wrong", ev_b)):
            idx = cmp[kind]
            st.markdown(f"**{title}** ({len(idx):,}; the label shows the wrong model's "
                        "guess)")
            if len(idx) == 0:
                st.caption("none")
                continue
            idx = idx[:show]
            pred = ev_shown["preds"][idx]
            fig = ap.mistake_grid(an.mosaic(test.images[idx], cols=COLS, pad=2, fill=40),
                                  y[idx], pred, ev_shown["probs"][idx, pred], idx, cols=COLS)
            st.plotly_chart(fig, key=f"mk_cmp_{kind}")
