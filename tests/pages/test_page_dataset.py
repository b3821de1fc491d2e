"""The Dataset page: grid modes, one digit up close, statistics, upload (through the page's
uploader), the split."""


import numpy as np

import mnist
from mnist.analysis import explore
from tests.app_helpers import csv_bytes, errors, figures, no_exception, page, plotly_array




def _grid_indices(fig):
    (digits,) = [t for t in fig["data"] if t.get("name") == "digits"]
    return [int(i) for i in np.ravel(plotly_array(digits["customdata"]))]


def test_grid_modes_and_one_digit_up_close():
    train, test = mnist.load_mnist()
    at = page("dataset").run()
    no_exception(at)
    figs = figures(at)
    assert len(figs) == 5  # grid, digit, class distribution, means, histogram
    idx = _grid_indices(figs[0])
    assert idx == list(explore.pick_indices(train, "random", 100, seed=0))
    at.radio(key="ds_mode").set_value("by class").run()
    idx = _grid_indices(figures(at)[0])
    assert [int(train.labels[i]) for i in idx] == [c for c in range(10) for _ in range(10)]
    at.radio(key="ds_mode").set_value("by index").run()
    at.number_input(key="ds_start").set_value(500).run()
    assert _grid_indices(figures(at)[0]) == list(range(500, 600))
    at.radio(key="ds_part").set_value("test").run()
    at.number_input(key="ds_index").set_value(9999).run()
    no_exception(at)
    big = figures(at)[1]
    assert f"label {int(test.labels[9999])}" in big["layout"]["title"]["text"]
    counts = figures(at)[2]
    assert [t["name"] for t in counts["data"]] == ["train", "test"]


def test_split_choice_is_shared_with_training():
    at = page("dataset").run()
    at.toggle(key="_split_standard").set_value(True).run()
    no_exception(at)
    assert at.session_state["split_val_fraction"] == 0.0
    at.toggle(key="_split_standard").set_value(False).run()
    at.slider(key="_split_fraction").set_value(0.2).run()
    assert at.session_state["split_val_fraction"] == 0.2


def test_upload_through_the_page_bad_then_good_then_reset():
    at = page("dataset").run()
    up = at.get("file_uploader")[0]
    up.set_value(("bad.csv", b"label,p\n1,zz\n", "text/csv"))
    at.run()  # the button is enabled once a file is there
    at.button[[b.label for b in at.button].index("Use this data")].click().run()
    no_exception(at)
    assert any("bad.csv" in e for e in errors(at))
    assert "data_override" not in at.session_state
    up = at.get("file_uploader")[0]
    up.set_value(("mine.csv", csv_bytes(120), "text/csv"))
    at.run()
    at.button[[b.label for b in at.button].index("Use this data")].click().run()
    no_exception(at)
    assert not errors(at)
    assert len(at.session_state["data_override"]["train"]) == 120
    assert "uploaded: mine.csv" in " ".join(m.value for m in at.markdown)
    at.button[[b.label for b in at.button].index("Back to MNIST")].click().run()
    no_exception(at)
    assert "data_override" not in at.session_state
