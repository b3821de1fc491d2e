"""The Dataset page: grid modes, one digit up close, statistics, upload (through the page's
uploader), the split."""


import numpy as np

import mnist
from mnist.analysis import explore
from tests.app_helpers import csv_bytes, errors, figures, no_exception, page, plotly_array




def _texts(at):
    return [m.value for m in at.markdown]


def _grid_indices(fig):
    (digits,) = [t for t in fig["data"] if t.get("name") == "digits"]
    return [int(i) for i in np.ravel(plotly_array(digits["customdata"]))]


def test_grid_modes_and_one_digit_up_close():
    train, test = mnist.load_mnist()
    at = page("dataset").run()
    no_exception(at)
    figs = figures(at)
    assert len(figs) == 4  # grid, class distribution, means, histogram (the close-up: an image)
    idx = _grid_indices(figs[0])
    assert idx == list(explore.pick_indices(train, "random", 100, seed=0))
    # the close-up starts on the grid's first digit
    assert at.number_input(key="ds_index").value == idx[0]
    assert f"**Digit #{idx[0]}: label {int(train.labels[idx[0]])}**" in _texts(at)
    assert len(at.image) == 1  # the close-up
    at.radio(key="ds_mode").set_value("by class").run()
    idx = _grid_indices(figures(at)[0])
    assert [int(train.labels[i]) for i in idx] == [c for c in range(10) for _ in range(10)]
    at.radio(key="ds_mode").set_value("by index").run()
    at.number_input(key="ds_start").set_value(500).run()
    assert _grid_indices(figures(at)[0]) == list(range(500, 600))
    at.radio(key="ds_part").set_value("test").run()
    at.number_input(key="ds_index").set_value(9999).run()
    no_exception(at)
    assert f"**Digit #9999: label {int(test.labels[9999])}**" in _texts(at)
    counts = figures(at)[1]
    assert [t["name"] for t in counts["data"]] == ["train", "test"]
    # its 784 numbers, on demand, in a figure of their own
    at.toggle(key="ds_numbers").set_value(True).run()
    no_exception(at)
    numbers = figures(at)[1]
    assert "Digit #9999" in numbers["layout"]["title"]["text"]
    np.testing.assert_array_equal(plotly_array(numbers["data"][0]["text"]), test.images[9999])


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


def _use_data(at):
    at.button[[b.label for b in at.button].index("Use this data")].click().run()
    no_exception(at)


def test_a_new_upload_replaces_the_data_and_two_csvs_are_explained():
    """After one good CSV the uploader is empty again, so adding another file replaces the
    data (it was kept and the two were read as an IDX pair: "wrong magic number"); two CSVs
    at once are refused with what each file is and what to do."""
    at = page("dataset").run()
    at.get("file_uploader")[0].upload("first.csv", csv_bytes(120), "text/csv")
    at.run()
    _use_data(at)
    assert len(at.session_state["data_override"]["train"]) == 120
    at.get("file_uploader")[0].upload("second.csv", csv_bytes(150, start=300), "text/csv")
    at.run()
    _use_data(at)
    assert not errors(at)
    assert at.session_state["data_override"]["name"] == "second.csv"
    assert len(at.session_state["data_override"]["train"]) == 150
    at.get("file_uploader")[0].set_value([("a.csv", csv_bytes(30), "text/csv"),
                                          ("b.csv", csv_bytes(40), "text/csv")])
    at.run()
    _use_data(at)
    (msg,) = errors(at)
    assert "a.csv looks like a CSV" in msg and "b.csv looks like a CSV" in msg
    assert "magic" not in msg and "remove the other" in msg
    assert len(at.session_state["data_override"]["train"]) == 150  # unchanged


def test_the_figures_are_built_once_per_data(monkeypatch):
    """The grid and the statistics of MNIST are built once per server, not per visit; an
    upload gets its own."""
    from mnist.plots import digits
    from ui import data

    data._mnist_figure.clear()
    built = []
    real = digits.digit_grid
    monkeypatch.setattr(digits, "digit_grid", lambda *a, **k: built.append(1) or real(*a, **k))
    for _ in range(2):  # two sessions
        no_exception(page("dataset").run())
    assert len(built) == 1
    at = page("dataset").run()
    at.get("file_uploader")[0].upload("mine.csv", csv_bytes(120), "text/csv")
    at.run()
    _use_data(at)
    assert len(built) == 2
    assert _grid_indices(figures(at)[0]) == list(explore.pick_indices(
        at.session_state["data_override"]["train"], "random", 100, seed=0))
