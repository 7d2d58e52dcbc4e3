"""reprolib.widgets: structure of the precomputed explorer and the live one.

``jslink`` only acts in a browser (tests/test_book.py drives one); here we
check what Python can see: one image per grid point, the Stack nesting, which
traits are linked, and that replaying the links selects the right image.
"""
from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reprolib.core.widgets import explorer, figure_to_bytes, live_explorer  # noqa: E402

GRID = {"lr": [0.1, 0.01, 0.001], "model": ["mlp", "cnn"]}


class Recorder:
    """A ``draw`` callback that records its calls and titles each figure by its point."""

    def __init__(self, use_pyplot: bool = False):
        self.calls: list[dict] = []
        self.use_pyplot = use_pyplot

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        fig = plt.figure(figsize=(2, 1.5)) if self.use_pyplot else Figure(figsize=(2, 1.5))
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, len(self.calls)])
        ax.set_title(repr(sorted(kwargs.items())))
        return fig


def leaves(w):
    """Images of a nested Stack, depth first (= drawing order)."""
    if isinstance(w, widgets.Image):
        return [w]
    return [img for child in w.children for img in leaves(child)]


def visible_leaf(stack):
    w = stack
    while isinstance(w, widgets.Stack):
        w = w.children[w.selected_index]
    return w


def replay_links(box):
    """What the browser does for a jslink: copy source trait to target trait."""
    for link in box.links:
        (src, src_trait), (dst, dst_trait) = link.source, link.target
        setattr(dst, dst_trait, getattr(src, src_trait))


def test_one_image_per_grid_point_and_one_draw_per_point():
    draw = Recorder()
    box = explorer(GRID, draw)
    points = [dict(zip(GRID, v)) for v in itertools.product(*GRID.values())]
    assert draw.calls == points  # once each, right kwargs, grid order
    assert box.points == points
    images = leaves(box.stack)
    assert len(images) == 6
    assert all(img.format == "png" and bytes(img.value).startswith(b"\x89PNG") for img in images)
    assert len({bytes(img.value) for img in images}) == 6  # distinct figures


def test_nested_stacks_one_level_per_parameter():
    box = explorer(GRID, Recorder())
    assert isinstance(box.stack, widgets.Stack) and len(box.stack.children) == 3
    for inner in box.stack.children:
        assert isinstance(inner, widgets.Stack) and len(inner.children) == 2
        assert all(isinstance(c, widgets.Image) for c in inner.children)


def test_controls_are_labelled_and_linked_to_every_stack_of_their_level():
    box = explorer(GRID, Recorder(), title="Learning rate vs model")
    lr, model = box.controls
    assert (lr.description, model.description) == ("lr", "model")
    assert isinstance(lr, widgets.SelectionSlider)  # numeric values -> slider
    assert isinstance(model, widgets.Dropdown)  # strings -> dropdown
    assert lr.options == (("0.1", 0.1), ("0.01", 0.01), ("0.001", 0.001)) and lr.index == 0
    assert box.children[0].value == "<b>Learning rate vs model</b>"
    assert box.children[1].children == (lr, model)

    assert all(link._model_name == "LinkModel" for link in box.links)  # jslink, not dlink
    pairs = {(id(link.source[0]), link.source[1], id(link.target[0]), link.target[1])
             for link in box.links}
    expected = {(id(lr), "index", id(box.stack), "selected_index")}
    expected |= {(id(model), "index", id(s), "selected_index") for s in box.stack.children}
    assert pairs == expected


def test_replayed_links_show_the_image_of_the_selected_point():
    box = explorer(GRID, Recorder())
    by_point = dict(zip(map(lambda p: tuple(p.values()), box.points), leaves(box.stack)))
    lr, model = box.controls
    for i, j in itertools.product(range(3), range(2)):
        lr.index, model.index = i, j
        replay_links(box)
        assert visible_leaf(box.stack) is by_point[(GRID["lr"][i], GRID["model"][j])]


def test_control_kinds_format_and_figures_closed():
    draw = Recorder(use_pyplot=True)
    before = set(plt.get_fignums())
    box = explorer({"a": [1, 2], "b": [3, 4]}, draw, format="svg",
                   controls={"a": "dropdown"})
    assert set(plt.get_fignums()) == before  # pyplot figures were closed
    assert isinstance(box.controls[0], widgets.Dropdown)
    assert isinstance(box.controls[1], widgets.SelectionSlider)
    assert all(img.format == "svg+xml" and b"<svg" in bytes(img.value) for img in leaves(box.stack))


def test_single_value_and_single_parameter():
    box = explorer({"seed": [0]}, Recorder())
    assert isinstance(box.controls[0], widgets.Dropdown)  # nothing to slide
    assert len(leaves(box.stack)) == 1 and len(box.links) == 1


@pytest.mark.parametrize("grid, kwargs, match", [
    ({}, {}, "at least one parameter"),
    ({"a": []}, {}, "grid\\['a'\\] is empty"),
    ({"a": [1]}, {"format": "gif"}, "format must be one of"),
    ({"a": [1]}, {"controls": "knob"}, "control kind"),
])
def test_bad_arguments_raise_clear_errors(grid, kwargs, match):
    with pytest.raises(ValueError, match=match):
        explorer(grid, Recorder(), **kwargs)


def test_figure_to_bytes_closes_pyplot_figure():
    fig = plt.figure()
    data = figure_to_bytes(fig)
    assert data.startswith(b"\x89PNG") and fig.number not in plt.get_fignums()


def test_live_explorer_computes_on_request_and_says_it_needs_a_kernel():
    open_before = set(plt.get_fignums())
    draw = Recorder(use_pyplot=True)
    w = live_explorer(draw, lr=(0.001, 1.0, 0.001), model=["mlp", "cnn"])
    assert isinstance(w, widgets.interactive)
    assert "needs a running Python kernel" in w.children[0].value
    lr, model = w.kwargs_widgets
    assert draw.calls == []  # nothing is drawn while the cell executes (papermill/nbclient deadlock)
    lr.value = 0.123  # off any precomputed grid
    model.value = "cnn"
    assert draw.calls == []
    w.manual_button.click()
    assert draw.calls == [{"lr": 0.123, "model": "cnn"}]
    model.value = "mlp"
    w.manual_button.click()
    assert draw.calls[-1] == {"lr": 0.123, "model": "mlp"}
    assert set(plt.get_fignums()) == open_before  # each figure displayed once, then closed  # each figure displayed once, then closed


def test_a_cached_explorer_draws_once_and_reads_the_same_images_back():
    first, second = Recorder(), Recorder()
    a = explorer(GRID, first, cache_key="test figures from run X")
    b = explorer(GRID, second, cache_key="test figures from run X")
    assert len(first.calls) == 6 and second.calls == []  # the second execution only reads
    assert [bytes(i.value) for i in leaves(a.stack)] == [bytes(i.value) for i in leaves(b.stack)]
    assert b.points == a.points == [dict(zip(GRID, v)) for v in itertools.product(*GRID.values())]
    other = Recorder()
    explorer(GRID, other, cache_key="test figures from run Y")  # other inputs are drawn
    assert len(other.calls) == 6
