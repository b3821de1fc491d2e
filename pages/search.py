"""Search: what does the learning rate (or any setting) do? Train several runs side by side.

The form (ui.search_form) describes a study: a preset, or a grid / random / TPE search, pruned
or not. Start creates it in the engine's storage under this session's owner tag and queues its
runs on the server's one worker pool (ui.studies), which every session shares. A fragment polls
the storage twice a second and redraws the live curves; Cancel sets the study's stop flag.
Afterwards: the results table, our paired curves and U-curve, Optuna's own figures, and any run
as the session's model. The URL holds the setup (ui.search_link) and, when shared, the study.
The learning-rate range test (mnist.training.lr_finder) has its own section at the bottom; it
runs on the pool too (ui.range_test).
"""

import streamlit as st

import ui
from mnist.errors import ConfigError, DatasetError, EngineError
from mnist.plots.search import lr_finder_plot, search_curves
from mnist.search.estimate import estimate_seconds, measure_speed, speed_key
from mnist.training.config import TrainConfig
from ui import range_test, search_form, search_link, search_view, studies

ui.widgets.ensure_router()  # a shared link to this page may be a fresh server's first request
st.title("Search")
st.caption("Train several networks side by side and compare them honestly: runs that differ "
           "in one setting start from the **same initial weights** and see the **same "
           "minibatches in the same order**, so any difference between the curves is that "
           "setting's doing. Runs train in worker processes that every user of the server "
           "shares, taking turns.")

train_ds, test_ds = ui.data.active_data()
ui.widgets.keep_widget_state()  # choices survive a visit to another page (the app does it too)
n_train, val_fraction = len(train_ds), ui.data.val_fraction() or 0.1

problem = studies.storage_problem()
if problem:
    st.error(f"Searches cannot be stored, so none can run: {problem}. The storage is set by "
             "the `MNIST_STORAGE` environment variable or the `storage` secret.",
             icon=":material/database:")
    st.stop()

first = search_form.defaults(n_train)
note = search_link.apply_link(first, n_train)  # the URL's setup, before the widgets
search_view.open_linked_study()
if note:
    st.info(note, icon=":material/link:")

# ============================================================================ what to compare
st.subheader("What to compare", anchor="what-to-compare")
plan = search_form.draw_form(n_train, val_fraction)
params = search_link.sync_link(first, search_view.shared_study_id())


@st.cache_data(show_spinner=False, max_entries=64)
def _speed(key_json: str, _cfg: TrainConfig, token: str) -> float:  # token: the active data
    return measure_speed(_cfg, train_ds)  # about 0.1 s for the tutorial's network


pool = studies.pool()
current = studies.current()
running = current is not None and search_view.unfinished(current)
if plan.problem:
    st.error(plan.problem, icon=":material/error:")
elif plan.configs:
    speeds = {}
    for c in plan.configs:
        if speed_key(c) not in speeds:
            speeds[speed_key(c)] = _speed(repr(speed_key(c)), c, ui.data.data_token())
    est = estimate_seconds(plan.configs, n_train, speeds, pool.size)
    search_view.plan_summary(plan, n_train, val_fraction, pool.size, est)
with st.expander("Link to this setup", icon=":material/link:"):
    st.caption("The address bar always holds the setup above: send this link and it opens the "
               "same comparison, ready to start.")
    st.code(search_link.setup_url(params), language=None, wrap_lines=True)

others = pool.queued() + pool.running() - (pool.queued(current.id) + pool.running(current.id)
                                           if current is not None else 0)
if others > 0:
    st.caption(f"{others} run{'s are' if others > 1 else ' is'} queued or training for other "
               f"searches on this server's {pool.size} worker processes: yours take turns "
               "with them, so they may take longer than estimated.")
if st.button("Start the search", type="primary", icon=":material/play_arrow:",
             disabled=running or not plan.configs, key="_sr_start"):
    try:
        current = studies.start(title=plan.title, data=studies.data_key(),
                                **plan.study)
    except (ConfigError, DatasetError, EngineError) as e:
        st.error(f"Cannot start: {e}", icon=":material/error:")
    else:
        running = True


# ============================================================================ live progress
def progress_panel():
    study = studies.current()
    if study is None:
        st.info("No search yet in this session: pick a comparison and press **Start the "
                "search**.", icon=":material/info:")
        return
    try:
        trials = study.trials()
        places = studies.queue_places(study)
    except Exception as e:  # the database went away: say so, keep the page
        st.error(f"Cannot read study {study.id} from {study.storage.label}: {e}",
                 icon=":material/database:")
        return
    done = all(t.finished for t in trials)
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.markdown(search_view.header(study, trials, done))
    if not done and c2.button("Cancel", icon=":material/cancel:", key="_sr_cancel",
                              use_container_width=True,
                              help="Stop every run now: the running ones keep what they "
                                   "learned so far, the queued ones never start."):
        studies.stop(study)
        st.toast("Cancelling ...")
    search_view.run_bars(study, trials, places)
    search_view.resume_offer(study, trials, places)
    runs = [t.to_result().to_dict() for t in trials]
    if any(r["history"] for r in runs):
        st.plotly_chart(search_curves(runs, epochs=study.base.epochs),
                        config={"displayModeBar": False}, key="_sr_live_curves")
    if done and st.session_state.get("_sr_results_for") != study.id:
        # the results section is drawn by a whole-page run; asked again at every tick until
        # that run has drawn them (a rerun request can be superseded by another event)
        st.rerun(scope="app")


if current is not None and not running:  # this whole-page run draws the results below
    st.session_state["_sr_results_for"] = current.id
st.subheader("Progress")
st.fragment(progress_panel, run_every=0.5 if running else None)()

if current is not None and not running:
    search_view.results(current)

# ============================================================================ my studies
st.subheader("My studies")
search_view.my_studies_panel()

# ============================================================================ LR range test
st.subheader("Learning-rate range test")
st.caption("One short run in which the learning rate grows exponentially every batch, from "
           "1e-5 to 10, while the loss is recorded (Leslie Smith's test). Where the loss falls "
           "fastest up to a tenth of where it is lowest is a good range to search. Seconds.")
lr_base = plan.configs[0] if plan.configs else TrainConfig(init="he", optimizer="sgd",
                                                           batch_size=32)
st.markdown(f"On `{lr_base.layers or '-'.join(map(str, lr_base.sizes))}`, {lr_base.init} init, "
            f"{lr_base.optimizer}, batch {lr_base.batch_size} (the first run above).")
if st.button("Run the range test", icon=":material/speed:", key="_sr_lrfind",
             disabled=range_test.TEST.running(), help="Runs in a worker process, like a search."):
    with st.spinner("Raising the learning rate batch by batch in a worker ..."):
        range_test.start(lr_base.replace(subset=None), train_ds)
range_test.TEST.follow()
if st.session_state.get(range_test.ERROR_KEY):
    st.error(st.session_state[range_test.ERROR_KEY], icon=":material/error:")
res = st.session_state.get(range_test.RESULT_KEY)
if res:
    st.plotly_chart(lr_finder_plot(res), config={"displayModeBar": False}, key="_sr_lrplot")
    if res["suggested"]:
        lo, hi = res["suggested"]
        st.success(f"Suggested range: **{lo:.2g} to {hi:.2g}**. {res['message']}.",
                   icon=":material/lightbulb:")
        st.button("Search this range", on_click=search_view.use_suggested_range,
                  args=(lo, hi, res["config"]), icon=":material/tune:", key="_sr_use_range",
                  help="Sets up a custom grid of four learning rates in this range (same "
                       "network) in the form at the top of the page.")
        search_view.range_applied_note()
    else:
        st.warning(res["message"], icon=":material/warning:")
