"""MNIST Lab: the router. Limits BLAS to one thread, lists the pages, draws the shared
sidebar, runs the page.

No numerics here and nothing slow at import: the data and the bundled model are loaded lazily
by `ui.cache` (once per server), so a cold start shows the home page quickly.
"""

import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS libraries loaded later (scipy's)

import streamlit as st  # noqa: E402

from mnist.training.threads import blas_threads  # noqa: E402
from ui import sidebar, widgets  # noqa: E402

ICON = Path(__file__).resolve().parent / "assets" / "favicon.png"  # an MNIST 7, 64x64
PAGES = [  # (file, title, icon)
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/dataset.py", "Dataset", ":material/grid_view:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/search.py", "Search", ":material/tune:"),
    ("pages/mistakes.py", "Mistakes", ":material/error:"),
    ("pages/draw.py", "Draw", ":material/draw:"),
    ("pages/inside.py", "Inside the network", ":material/hub:"),
]


@st.cache_resource(show_spinner=False)
def one_blas_thread() -> bool:
    """Once per server process: one BLAS thread. On a shared 2-core box OpenBLAS's own threads
    spinning against the server's and the other users' made training 10-30x slower;
    parallelism comes from the users' runs (and the search's processes)."""
    blas_threads(1)
    return True


one_blas_thread()

# a local file: an emoji or a material icon as page_icon makes the browser fetch the favicon
# from a CDN, which fails offline (nothing may be fetched at run time)
st.set_page_config(page_title="MNIST Lab", page_icon=str(ICON), layout="wide")
page = st.navigation([st.Page(f, title=t, icon=i, default=(f == "pages/home.py"))
                      for f, t, i in PAGES])
widgets.keep_widget_state()
sidebar.draw(page.title)
page.run()
with st.sidebar:
    widgets.preload_charts()  # the tab loads the chart library while this page is read
