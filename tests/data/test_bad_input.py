"""Hostile input that crosses module lines (see docs/BAD_INPUT.md for the whole table).

Each test shows the clear message and that nothing is lost; the per-module cases live next to
their module's tests (test_data, test_persist, test_config, test_preprocess, test_cli...).
"""

import io
import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image, ImageDraw

import mnist
from mnist import DatasetError, ModelFileError, load_model


def run_cli_measured(*args):
    """Run `python -m mnist ARGS` in a child; return (exit code, stdout, stderr, peak RSS MB)."""
    code = textwrap.dedent(f"""
        import json, sys
        from mnist.cli.main import main
        try:
            rc = main({[str(a) for a in args]!r})
        except SystemExit as e:
            rc = e.code
        # VmHWM, not ru_maxrss: ru_maxrss survives exec and counts the forking parent's pages
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
        peak = int(hwm.split()[1]) / 1024
        print(json.dumps({{"rc": rc, "peak_mb": peak}}), file=sys.stderr)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=180)
    *err, last = res.stderr.strip().splitlines()
    info = json.loads(last)
    return info["rc"], res.stdout, "\n".join(err), info["peak_mb"]


def test_a_10000x10000_photo_of_a_one_is_read_in_bounded_memory(tmp_path):
    im = Image.new("L", (10_000, 10_000), 255)  # white paper, 100 MB while we draw
    ImageDraw.Draw(im).line([(5000, 2000), (5000, 8000)], fill=0, width=600)  # a dark "1"
    path = tmp_path / "scan.png"
    im.save(path)
    del im
    rc, out, err, peak = run_cli_measured("predict", path, "--json")
    assert rc == 0, err
    assert json.loads(out.strip().splitlines()[-1])["digit"] == 1
    assert peak < 450, f"peak RSS {peak:.0f} MB"  # 100 MB decoded + the interpreter


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path):
    path = tmp_path / "wall.png"
    Image.new("1", (13_000, 13_000)).save(path)  # 169 megapixels, 1 bit each here
    rc, out, err, peak = run_cli_measured("predict", path)
    assert rc == 1 and out == ""
    assert "megapixels" in err and "Traceback" not in err
    assert peak < 200


def test_a_pickle_disguised_as_npz_is_refused_as_data_and_as_a_model():
    evil = pickle.dumps({"x_train": np.zeros((2, 28, 28), np.uint8)})
    with pytest.raises(DatasetError, match="mnist.npz"):
        mnist.read_dataset(evil, name="mnist.npz")
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(evil)


def test_an_npz_holding_an_object_array_never_unpickles(tmp_path):
    class Boom:  # unpickling this would run code
        def __reduce__(self):
            return (print, ("pwned",))

    buf = io.BytesIO()
    np.savez(buf, x_train=np.array([Boom()], dtype=object), y_train=np.zeros(1, np.uint8))
    with pytest.raises(DatasetError, match="objects"):
        mnist.read_dataset(buf.getvalue(), name="evil.npz")
    with pytest.raises(ModelFileError):
        load_model(buf.getvalue())


def test_a_data_file_given_as_a_model_and_a_model_given_as_data(tmp_path):
    data = io.BytesIO()
    np.savez(data, x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.zeros(3, np.uint8))
    with pytest.raises(ModelFileError):
        load_model(data.getvalue())
    model = io.BytesIO()
    mnist.save_model(mnist.MLP((784, 8, 10)), model)
    with pytest.raises(DatasetError, match="no image arrays"):
        mnist.read_dataset(model.getvalue(), name="model.npz")
