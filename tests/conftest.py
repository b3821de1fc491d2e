"""Shared by every test: the run engine's data folder is a temporary one, never the repo's runs/.

Subprocesses (the app server, `python -m mnist worker`) inherit it through the environment.
"""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def runs_folder(tmp_path_factory):
    before = {k: os.environ.get(k) for k in ("MNIST_RUNS_DIR", "MNIST_STORAGE")}
    path = tmp_path_factory.mktemp("runs")
    os.environ["MNIST_RUNS_DIR"] = str(path)
    os.environ.pop("MNIST_STORAGE", None)
    try:
        yield path
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
