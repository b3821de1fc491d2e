"""The command line, run as a user would (subprocess): exit codes, outputs, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist import load_model
from mnist.data.bundled import load_mnist

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, timeout=120):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "mnist", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def main_in_process(capsys, *args):
    """The same entry point without a new interpreter (fast): (exit code, stdout, stderr)."""
    from mnist.cli.main import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse: --help and usage errors
        code = e.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def one_line_error(res, code=1):
    assert res.returncode == code, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "small.npz"
    res = cli("train", "--hidden", "16", "--epochs", "2", "--subset", "600", "--lr", "0.01",
              "--json", "--quiet", "--out", out)
    assert res.returncode == 0, res.stderr
    return out, [json.loads(line) for line in res.stdout.splitlines()]


def test_help_on_each_command(capsys):
    res = cli("train", "--help")  # once for real
    assert res.returncode == 0 and "usage: python -m mnist train" in res.stdout
    for command in ["train", "evaluate", "predict", "info"]:
        res = main_in_process(capsys, command, "--help")
        assert res.returncode == 0 and "usage: python -m mnist " + command in res.stdout


def test_train_json_lines_and_saved_model(trained):
    out, lines = trained
    assert [r["epoch"] for r in lines[:-1]] == [1.0, 2.0]
    final = lines[-1]
    assert final["final"] is True and final["status"] == "done"
    assert 0.5 < final["test_acc"] <= 1 and final["saved"] == str(out)
    model = load_model(out)
    assert model.sizes == (784, 16, 10)
    assert model.meta["metrics"]["test_acc"] == final["test_acc"]
    assert len(model.meta["history"]) == 2 and model.meta["config"]["subset"] == 600


def test_evaluate_and_info(trained, capsys):
    out, lines = trained
    res = cli("evaluate", out, "--json")
    assert res.returncode == 0, res.stderr
    ev = json.loads(res.stdout.splitlines()[-1])
    assert ev["accuracy"] == pytest.approx(lines[-1]["test_acc"])
    assert np.array(ev["confusion"]).sum() == 10000 and len(ev["per_class_accuracy"]) == 10
    text = main_in_process(capsys, "evaluate", out).stdout
    assert "confusion matrix" in text and "per-class accuracy" in text
    info = json.loads(main_in_process(capsys, "info", out, "--json").stdout)
    assert info["n_params"] == 784 * 16 + 16 + 16 * 10 + 10 and info["format_version"] == 2
    assert "784-16-10" in main_in_process(capsys, "info", out).stdout


def test_bundled_model_meets_its_promise():
    res = cli("evaluate", "--json")  # default: models/default.npz on the MNIST test set
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["accuracy"] >= 0.985  # the promise: README, presets


def test_predict_raw_and_through_preprocessing(tmp_path, capsys):
    _, test = load_mnist()
    img = test.images[0]  # a 7
    raw = tmp_path / "seven28.png"
    Image.fromarray(img).save(raw)
    res = cli("predict", raw, "--raw", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["digit"] == 7 and len(out["probabilities"]) == 10
    assert "digit: 7" in main_in_process(capsys, "predict", raw, "--raw").stdout
    # a big photo-like version: black ink on white paper, 10x larger
    big = Image.fromarray(255 - img).resize((280, 280), Image.NEAREST).convert("RGB")
    photo = tmp_path / "seven.jpg"
    big.save(photo)
    res = cli("predict", photo, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["digit"] == 7


def test_errors_are_one_line(tmp_path, capsys):
    # two for real (exit status and stderr of the actual process) ...
    assert "nope.npz" in one_line_error(cli("info", tmp_path / "nope.npz"))
    assert "unrecognized arguments" in one_line_error(cli("train", "--bogus"), code=2)
    # ... the rest through the same main() in-process
    run = lambda *a: main_in_process(capsys, *a)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model at all")
    assert "not a model file" in one_line_error(run("evaluate", bad))
    assert "lr must be" in one_line_error(run("train", "--lr", "-1"))
    assert "unknown preset" in one_line_error(run("train", "--preset", "nope"))
    assert "--epochs" in one_line_error(run("train", "--epochs", "ten"))
    txt = tmp_path / "x.png"
    txt.write_text("hello")
    assert "not an image" in one_line_error(run("predict", txt))
    big = tmp_path / "big.png"
    Image.new("L", (40, 40)).save(big)
    assert "28x28" in one_line_error(run("predict", big, "--raw"))
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"lr": 0.1, "colour": 3}')
    assert "unknown config field" in one_line_error(run("train", "--config", cfg))
    assert "does not exist" in one_line_error(run("train", "--out", tmp_path / "no" / "m.npz"))


def test_diverged_run_exits_non_zero_with_a_message():
    res = cli("train", "--hidden", "16", "--optimizer", "sgd", "--lr", "50", "--subset", "300",
              "--epochs", "3", "--json", "--quiet")
    assert res.returncode == 1
    final = json.loads(res.stdout.splitlines()[-1])
    assert final["status"] == "diverged" and "learning rate 50" in final["message"]


def test_progress_bar_goes_to_stderr_and_leaves_stdout_json(capsys):
    res = main_in_process(capsys, "train", "--hidden", "8", "--epochs", "2", "--subset", "600",
                          "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]  # every line is JSON
    assert [r["epoch"] for r in lines[:-1]] == [1.0, 2.0] and lines[-1]["final"]
    assert "epoch 2.00/2" in res.stderr and "100.0%" in res.stderr and "val " in res.stderr
    quiet = main_in_process(capsys, "train", "--hidden", "8", "--epochs", "1", "--subset",
                            "600", "--json", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_list_presets(capsys):
    res = main_in_process(capsys, "train", "--list-presets", "--json")
    names = [json.loads(line)["preset"] for line in res.stdout.splitlines()]
    assert "default" in names and "tutorial-32-gd" in names and "quick" in names


def test_the_apps_quick_preset_trains_from_the_command_line(capsys):
    res = main_in_process(capsys, "train", "--preset", "quick", "--epochs", "1", "--json",
                          "--quiet")
    assert res.returncode == 0, res.stderr
    final = json.loads(res.stdout.splitlines()[-1])
    assert final["status"] == "done" and final["preset"] == "quick"
    assert final["config"]["hidden"] == [32] and final["config"]["subset"] == 5000
    assert final["n_train"] == 4500 and final["n_test"] == 10_000  # 10% held out to validate
    assert 0.5 < final["test_acc"] <= 1 and final["expected"] is None
    text = main_in_process(capsys, "train", "--preset", "quick", "--epochs", "1", "--quiet")
    assert text.returncode == 0 and "preset quick: test_acc = " in text.stdout


def test_train_on_an_npz_uses_its_test_part_if_it_has_one(tmp_path, capsys):
    """--data x.npz: a Keras-layout archive gives the training and the test set (the final
    line scores the test part); a single-part archive gives no test set."""
    train, test = load_mnist()
    keras = tmp_path / "keras.npz"
    np.savez(keras, x_train=train.images[:300], y_train=train.labels[:300],
             x_test=test.images[:100], y_test=test.labels[:100])
    single = tmp_path / "single.npz"
    np.savez(single, x=train.images[:300], y=train.labels[:300])
    args = ("train", "--hidden", "8", "--epochs", "1", "--json", "--quiet")
    final = json.loads(main_in_process(capsys, *args, "--data", str(keras)).stdout
                       .strip().splitlines()[-1])
    assert final["status"] == "done" and "test_acc" in final
    final = json.loads(main_in_process(capsys, *args, "--data", str(single)).stdout
                       .strip().splitlines()[-1])
    assert final["status"] == "done" and "test_acc" not in final
    three = tmp_path / "three.npz"  # two parts, none called train
    np.savez(three, x_test=test.images[:10], y_test=test.labels[:10], x=train.images[:10],
             y=train.labels[:10])
    res = main_in_process(capsys, *args, "--data", str(three))
    assert "no 'train' part" in one_line_error(res)
