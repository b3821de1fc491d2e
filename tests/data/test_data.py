"""The data layer: readers round-trip, bad input gets DatasetError, batches are right."""

import gzip
import io
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mnist
from mnist.data.bundled import DEFAULT_ROOT
from mnist.data.dataset import Dataset, batches
from mnist.data.readers import read_npz
from mnist.errors import DatasetError

# -------------------------------------------------------------------------------- helpers


def tiny(n=12, seed=0, labeled=True):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8) if labeled else None
    return images, labels


def idx_bytes(arr: np.ndarray) -> bytes:
    magic = 0x0800 | arr.ndim
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def csv_bytes(images, labels, header: str | None) -> bytes:
    rows = images.reshape(len(images), -1)
    if labels is not None:
        rows = np.column_stack([labels, rows])
    buf = io.StringIO()
    if header == "mnist-in-csv":
        buf.write("label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)))
        buf.write("\n")
    elif header == "kaggle":
        cols = [f"pixel{i}" for i in range(784)]
        buf.write(",".join((["label"] if labels is not None else []) + cols) + "\n")
    np.savetxt(buf, rows, fmt="%d", delimiter=",")
    return buf.getvalue().encode()


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


# -------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("stem", ["train-images-idx3-ubyte", "train-images.idx3-ubyte"])
def test_idx_pair_round_trip(tmp_path, gz, stem):
    images, labels = tiny()
    img_b, lab_b = idx_bytes(images), idx_bytes(labels)
    if gz:
        img_b, lab_b = gzip.compress(img_b), gzip.compress(lab_b)
    suffix = ".gz" if gz else ""
    ip, lp = tmp_path / (stem + suffix), tmp_path / ("labels" + suffix)
    ip.write_bytes(img_b)
    lp.write_bytes(lab_b)
    ds = mnist.read_idx_pair(ip, lp)
    assert np.array_equal(ds.images, images) and np.array_equal(ds.labels, labels)
    assert ds.name == ip.name
    # bytes work as well as paths; a lone images file is an unlabeled set
    ds2 = mnist.read_idx_pair(img_b, lab_b, name="x")
    assert np.array_equal(ds2.images, images)
    lone = mnist.read_dataset(ip)
    assert not lone.has_labels and np.array_equal(lone.images, images)


@pytest.mark.parametrize("header", [None, "mnist-in-csv", "kaggle"])
def test_csv_round_trip_labeled(header):
    images, labels = tiny()
    ds = mnist.read_dataset(csv_bytes(images, labels, header), name="train.csv")
    assert np.array_equal(ds.images, images) and np.array_equal(ds.labels, labels)


@pytest.mark.parametrize("header", [None, "kaggle"])
def test_csv_unlabeled_kaggle_test(header):
    images, _ = tiny(5)
    ds = mnist.read_dataset(csv_bytes(images, None, header), name="test.csv")
    assert not ds.has_labels and np.array_equal(ds.images, images)
    with pytest.raises(DatasetError, match="no labels"):
        ds.y()


def test_csv_gzipped_and_file_like():
    images, labels = tiny()
    raw = csv_bytes(images, labels, "kaggle")
    ds = mnist.read_dataset(io.BytesIO(gzip.compress(raw)), name="train.csv.gz")
    assert np.array_equal(ds.images, images)


def test_npz_keras_layout(tmp_path):
    images, labels = tiny()
    timg, tlab = tiny(4, seed=1)
    p = tmp_path / "mnist.npz"
    p.write_bytes(npz_bytes(x_train=images, y_train=labels, x_test=timg, y_test=tlab))
    parts = read_npz(p)
    assert np.array_equal(parts["train"].images, images)
    assert np.array_equal(parts["test"].labels, tlab)
    assert np.array_equal(mnist.read_dataset(p).images, images)
    assert np.array_equal(mnist.read_dataset(p, part="test").images, timg)


def test_npz_float_and_flat_images():
    images, labels = tiny()
    data = npz_bytes(x=images.reshape(-1, 784) / 255.0, y=labels)
    ds = mnist.read_dataset(data)
    assert np.array_equal(ds.images, images)


# -------------------------------------------------------------------------------- bad input


def bad_cases():
    images, labels = tiny()
    good_img, good_lab = idx_bytes(images), idx_bytes(labels)
    csv = csv_bytes(images, labels, "kaggle").decode()
    lines = csv.splitlines()
    short_row = "\n".join(lines[:3] + [lines[3].rsplit(",", 1)[0]] + lines[4:]) + "\n"
    long_row = "\n".join(lines[:3] + [lines[3] + ",7"] + lines[4:]) + "\n"
    return {
        "wrong magic": (b"\x00\x00\x08\x05" + good_img[4:], "wrong magic number"),
        "truncated idx": (good_img[:-100], "truncated"),
        "not 28x28": (idx_bytes(np.zeros((3, 32, 32), np.uint8)), "not 28x28"),
        "lone labels": (good_lab, "labels file on its own"),
        "empty": (b"", "empty"),
        "gzip truncated": (gzip.compress(good_img)[:-20], "truncated"),
        "non-numeric csv": (csv.replace(",0,", ",x,", 1).encode(), "non-numeric"),
        "wrong column count": (b"1,2,3\n4,5,6\n", "wrong column count"),
        "short csv row": (short_row.encode(), "line 4"),
        "long csv row": (long_row.encode(), "column count"),
        "label out of range": (csv_bytes(images, labels + 5, None), "outside 0-9"),
        "pixel out of range": (
            ("5," + ",".join(["300"] * 784) + "\n").encode(), "outside 0-255"),
        "npz with objects": (npz_bytes(x=np.array([object()] * 3, dtype=object)), "objects"),
        "npz count mismatch": (npz_bytes(x_train=images, y_train=labels[:-1]), "labels"),
        "npz bad shape": (npz_bytes(x_train=np.zeros((2, 30, 30), np.uint8)), "28x28"),
        "npz no images": (npz_bytes(foo=np.zeros(3)), "no image arrays"),
        "binary junk": (b"\x01\x02\x00\x00junk" * 10, "not a recognised format"),
    }


@pytest.mark.parametrize("case", list(bad_cases()))
def test_bad_input_names_file_and_problem(case):
    data, needle = bad_cases()[case]
    with pytest.raises(DatasetError) as err:
        mnist.read_dataset(data, name="upload.bin")
    msg = str(err.value)
    assert "upload.bin" in msg
    assert needle.lower() in msg.lower(), msg


def test_idx_pair_mismatch_and_bad_labels():
    images, labels = tiny()
    with pytest.raises(DatasetError, match="12 images but .* 11 labels"):
        mnist.read_idx_pair(idx_bytes(images), idx_bytes(labels[:-1]))
    bad = labels.copy()
    bad[3] = 12
    with pytest.raises(DatasetError, match="label 12 at position 3"):
        mnist.read_idx_pair(idx_bytes(images), idx_bytes(bad))
    with pytest.raises(DatasetError, match="wrong magic"):
        mnist.read_idx_pair(idx_bytes(labels), idx_bytes(images))


def test_size_limits(tmp_path):
    images, labels = tiny()
    with pytest.raises(DatasetError, match="over the"):
        mnist.read_dataset(idx_bytes(images), max_bytes=1000)
    # a gzip bomb: tiny compressed, huge decompressed
    bomb = gzip.compress(b"\x00" * 5_000_000)
    with pytest.raises(DatasetError, match="decompresses to over"):
        mnist.read_dataset(bomb, name="bomb.gz", max_bytes=1_000_000)
    # an NPZ whose members declare more than the limit is refused before loading
    big = npz_bytes(x=np.zeros((2000, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match="would decompress"):
        mnist.read_dataset(big, max_bytes=len(big) + 1000)
    with pytest.raises(DatasetError, match="no such file"):
        mnist.read_dataset(tmp_path / "missing.csv")


def test_dataset_is_read_only_and_validates():
    images, labels = tiny()
    ds = Dataset(images, labels)
    with pytest.raises(ValueError):
        ds.images[0, 0, 0] = 1
    images[0, 0, 0] = 7  # the caller's own array stays writeable
    with pytest.raises(DatasetError, match="28x28"):
        Dataset(np.zeros((2, 27, 27), np.uint8), None)
    with pytest.raises(DatasetError, match="labels"):
        Dataset(images, labels[:3])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_fuzz_random_bytes(data):
    try:
        ds = mnist.read_dataset(data, name="fuzz")
    except DatasetError:
        return
    assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == (28, 28)


def _valid_files():
    images, labels = tiny(3)
    return [
        idx_bytes(images),
        gzip.compress(idx_bytes(images)),
        csv_bytes(images, labels, "kaggle"),
        csv_bytes(images, labels, None),
        npz_bytes(x_train=images, y_train=labels),
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(0, 4),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_fuzz_mutated_valid_files(which, edits, cut):
    data = bytearray(_valid_files()[which])
    for pos, value in edits:
        data[min(int(pos * len(data)), len(data) - 1)] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    try:
        ds = mnist.read_dataset(bytes(data), name="mutant")
    except DatasetError:
        return
    assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == (28, 28)
    if ds.has_labels:
        assert len(ds.labels) == len(ds.images) and ds.labels.max() <= 9


# -------------------------------------------------------------------------------- bundled set


def test_bundled_mnist_known_facts():
    train, test = mnist.load_mnist()
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10000, 28, 28) and test.labels.shape == (10000,)
    assert train.labels.dtype == np.uint8
    assert list(train.class_counts()) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                          5851, 5949]
    assert list(test.class_counts()) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974,
                                         1009]
    assert train.labels[0] == 5
    assert not train.images.flags.writeable and not train.labels.flags.writeable
    assert abs(train.images.mean() / 255 - 0.1306604762738429) < 1e-9


def test_checksum_mismatch_names_the_file(tmp_path):
    for f in DEFAULT_ROOT.iterdir():
        shutil.copy(f, tmp_path / f.name)
    target = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # still a valid label, but not the original file
    target.chmod(0o644)
    target.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte: SHA-256 mismatch"):
        mnist.load_mnist(tmp_path)
    (tmp_path / "SHA256SUMS").unlink()
    with pytest.raises(DatasetError, match="SHA256SUMS"):
        mnist.load_mnist(tmp_path)


# -------------------------------------------------------------------------------- serving


def test_split_is_stratified_and_disjoint():
    train, _ = mnist.load_mnist()
    part, val = train.split(0.2, seed=3)
    assert len(part) + len(val) == len(train) and len(val) == 12000
    frac = val.class_counts() / train.class_counts()
    assert np.all(np.abs(frac - 0.2) < 0.001)
    # disjoint: the two parts' images together are a permutation of the whole
    sums = np.concatenate([part.flat.sum(1, dtype=np.int64), val.flat.sum(1, dtype=np.int64)])
    assert np.array_equal(np.sort(sums), np.sort(train.flat.sum(1, dtype=np.int64)))
    again, _ = train.split(0.2, seed=3)
    assert np.array_equal(again.labels, part.labels)
    with pytest.raises(DatasetError):
        train.split(1.5)


def test_subset_sizes_and_strata():
    train, _ = mnist.load_mnist()
    sub = train.subset(1000, seed=1)
    assert len(sub) == 1000
    expected = train.class_counts() / len(train) * 1000
    assert np.all(np.abs(sub.class_counts() - expected) <= 1)
    assert len(train.subset(0.1, seed=1)) == 6000
    with pytest.raises(DatasetError):
        train.subset(0)
    with pytest.raises(DatasetError):
        train.subset(70000)


def test_batches_cover_everything_as_float():
    images, labels = tiny(10)
    ds = Dataset(images, labels)
    rng = np.random.default_rng(0)
    seen_x, seen_y = [], []
    for x, y in batches(ds, 4, rng):
        assert x.dtype == np.float32 and x.shape[1] == 784 and 0 <= x.min() <= x.max() <= 1
        seen_x.append(x.copy())
        seen_y.append(y)
    assert [len(b) for b in seen_y] == [4, 4, 2]
    x_all, y_all = np.concatenate(seen_x), np.concatenate(seen_y)
    order = np.argsort(y_all * 1000 + np.arange(10))  # match rows back by label
    ref = images.reshape(10, 784) / 255.0
    for row, lab in zip(x_all, y_all):
        match = np.flatnonzero(labels == lab)
        assert any(np.allclose(row, ref[m], atol=1e-6) for m in match)
    assert sorted(y_all) == sorted(labels)
    assert order is not None
    # in order without an rng; full batch with batch_size=None
    (x, y), = list(batches(ds, None))
    assert np.array_equal(y, labels) and np.allclose(x, ref, atol=1e-6)
    assert np.array_equal(x, ds.x())


def test_import_mnist_does_not_import_streamlit():
    code = "import sys, mnist; import mnist.data; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_the_package_re_exports_the_public_names():
    import mnist.constants
    import mnist.data
    from mnist.data import bundled, dataset, readers

    for module in (dataset, readers, bundled, mnist.constants):
        for name in dir(module):
            if not name.startswith("_") and name in mnist.data.__all__:
                assert getattr(mnist.data, name) is getattr(module, name), name
    assert set(mnist.data.__all__) >= {"Dataset", "DatasetError", "batches", "load_mnist",
                                       "read_dataset", "read_idx_pair", "read_npz", "SCALE"}
    assert mnist.data.DatasetError is mnist.errors.DatasetError
    assert mnist.load_mnist is bundled.load_mnist and mnist.Dataset is dataset.Dataset


def test_npz_needing_a_newer_zip_version_is_a_dataset_error():
    # a mutation the fuzz test found: zipfile raises NotImplementedError for "version 6.4"
    data = bytearray(npz_bytes(x_train=np.zeros((3, 28, 28), np.uint8)))
    data[data.find(b"PK\x01\x02") + 6] = 64  # central directory: version needed to extract
    with pytest.raises(DatasetError, match="v64.npz: an NPZ archive this reader cannot open"):
        mnist.read_dataset(bytes(data), name="v64.npz")


def test_zip_that_is_not_npz():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(DatasetError, match="zip.npz"):
        mnist.read_dataset(buf.getvalue(), name="zip.npz")
