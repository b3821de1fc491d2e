"""MNIST Lab's Streamlit layer: the only code outside pages/ that imports streamlit.

Two kinds of state, kept apart on purpose: what every user of the server shares, loaded once
and read-only, and what belongs to one user's session. Pages read widgets, call these modules
or `mnist`, and draw; everything that computes arrays is in `mnist/`.

    ui.cache     shared and read-only (st.cache_resource): MNIST, the bundled models (MLP, CNN
                 when models/cnn.npz is there, their ensemble), their scores
    ui.data      this session's data: MNIST or an upload, the validation split
    ui.session   this session's models; `session.add_model(name, model, source, ...)` is the
                 one way a new model joins (built, scored, added, made current)
    ui.runs      this session's background training run: start, find, collect its model
    ui.limits    the app's caps (weights per model, models per session, runs per server)
    ui.widgets   shared widget helpers and formats
    ui.train_form  the Train page's form <-> TrainConfig, the presets it offers
    ui.studies   the run engine for the app: storage, the shared worker pool, this session's
                 studies (ui.search_form / search_view / search_link: the Search page's parts)
    ui.my_digits   the Draw page's "my digits" (this session's own handwriting)
    ui.ensemble  the sidebar's "Make an ensemble" of this session's models, its members shown
    ui.bundled   the Draw page's table: the current model beside the bundled MLP, CNN, ensemble
    ui.sidebar   the sidebar app.py draws on every page (`sidebar.draw()`)

Importing ui changes nothing in the process (app.py limits BLAS threads at start).
"""

from ui import (bundled, cache, data, ensemble, limits, my_digits, runs,  # noqa: F401
                session, sidebar, train_form, widgets)
