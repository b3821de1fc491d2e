"""mnist.plots.conv: a grid of small images, one Heatmap per channel or filter, each on its
own axes, all on one colour scale."""

import numpy as np
import pytest

from mnist.plots import conv


def _heatmaps(fig):
    return [t for t in fig.data if t.type == "heatmap"]


def _domains(fig, trace):
    xa = "xaxis" + trace.xaxis[1:]
    ya = "yaxis" + trace.yaxis[1:]
    return tuple(fig.layout[xa].domain), tuple(fig.layout[ya].domain)


def test_feature_maps_figure_has_one_image_per_channel_on_one_scale():
    maps = np.random.default_rng(0).random((20, 7, 7))
    maps[3] = 0.0  # a dead channel still gets its image
    fig = conv.feature_maps_figure(maps, title="conv 1", cols=8)
    hm = _heatmaps(fig)
    assert len(hm) == 20
    for c, t in enumerate(hm):
        np.testing.assert_array_equal(np.asarray(t.z), maps[c])
        assert t.name == f"channel {c}" and t.coloraxis == "coloraxis"
        assert f"channel {c}," in t.hovertemplate
    # every image on its own axes; grid of 8 columns, 3 rows, no overlaps
    assert len({t.xaxis for t in hm}) == 20 and len({t.yaxis for t in hm}) == 20
    boxes = [_domains(fig, t) for t in hm]
    xs = sorted({b[0] for b in boxes})
    ys = sorted({b[1] for b in boxes})
    assert len(xs) == 8 and len(ys) == 3
    for a, b in zip(xs, xs[1:]):
        assert a[1] < b[0]
    for a, b in zip(ys, ys[1:]):
        assert a[1] < b[0]
    assert all(0 <= v <= 1 for b in boxes for d in b for v in d)
    assert boxes[0][1] == ys[-1] and boxes[8][1] == ys[-2]  # first row at the top
    # after ReLU: from 0 to the largest activation, one colour bar
    ca = fig.layout.coloraxis
    assert ca.cmin == 0 and ca.cmax == pytest.approx(maps.max())
    assert ca.colorbar.title.text == "activation"
    assert fig.layout.title.text == "conv 1"


def test_signed_maps_and_filters_are_centred_on_zero():
    maps = np.array([[[-2.0, 1.0]], [[0.5, 0.0]]])
    ca = conv.feature_maps_figure(maps).layout.coloraxis
    assert (ca.cmin, ca.cmax) == (-2.0, 2.0)
    W = np.random.default_rng(1).normal(size=(6, 1, 5, 5))
    fig = conv.filters_figure(W)
    hm = _heatmaps(fig)
    assert len(hm) == 6 and [t.name for t in hm] == [f"filter {o}" for o in range(6)]
    np.testing.assert_array_equal(np.asarray(hm[4].z), W[4, 0])
    lim = np.abs(W).max()
    assert fig.layout.coloraxis.cmin == pytest.approx(-lim)
    assert fig.layout.coloraxis.cmax == pytest.approx(lim)
    # built unvalidated: only what plotly.js knows by itself reaches the browser
    spec = fig.to_dict()["layout"]
    scale = [tuple(step) for step in spec["coloraxis"]["colorscale"]]
    assert scale[0] == (0.0, "rgb(5,48,97)") and scale[-1] == (1.0, "rgb(103,0,31)")  # blue..red
    assert isinstance(spec["template"], dict) and "layout" in spec["template"]
    # several input channels: one image per (filter, input channel), a row per filter
    W = np.random.default_rng(2).normal(size=(2, 3, 3, 3))
    hm = _heatmaps(conv.filters_figure(W))
    assert [t.name for t in hm][:4] == ["filter 0, input 0", "filter 0, input 1",
                                        "filter 0, input 2", "filter 1, input 0"]
    np.testing.assert_array_equal(np.asarray(hm[5].z), W[1, 2])


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="C, H, W"):
        conv.feature_maps_figure(np.zeros((28, 28)))
    with pytest.raises(ValueError, match="out, in, k, k"):
        conv.filters_figure(np.zeros((4, 5, 5)))
    with pytest.raises(ValueError, match="labels"):
        conv.image_grid(np.zeros((3, 2, 2)), ["a"])
