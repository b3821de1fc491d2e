"""MNIST Lab: the router. Lists the pages that exist, draws the shared sidebar, runs the page.

No numerics here and nothing slow at import: the data and the bundled model are loaded lazily
by `ui` (cached once per server), so a cold start shows the home page quickly.
"""

from pathlib import Path

import streamlit as st

import ui

PAGES = [  # (file, title, icon); a page whose file does not exist yet is simply not listed
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/dataset.py", "Dataset", ":material/grid_view:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/search.py", "Search", ":material/tune:"),
    ("pages/mistakes.py", "Mistakes", ":material/error:"),
    ("pages/draw.py", "Draw", ":material/draw:"),
    ("pages/inside.py", "Inside the network", ":material/hub:"),
]
HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="MNIST Lab", page_icon=":material/neurology:", layout="wide")
pages = [st.Page(f, title=t, icon=i, default=(f == "pages/home.py"))
         for f, t, i in PAGES if (HERE / f).is_file()]
page = st.navigation(pages)
ui.keep_widget_state()
ui.sidebar()
page.run()
