"""Hyperparameter explorers that still work in the static HTML book.

A static Jupyter Book page has no Python kernel: an ``ipywidgets.interact``
there only shows the state it was saved in, and moving its slider does nothing
(the saved widget state holds values, not the Python callback). :func:`explorer` therefore precomputes one figure per
point of a small grid at execution time and lets the *browser* switch between
them: the images sit in nested :class:`ipywidgets.Stack` widgets whose
``selected_index`` is ``jslink``-ed to the controls' ``index``. ``jslink`` runs
in the widget manager in the page (the vendored html-manager), so no server is
needed.

:func:`live_explorer` is the kernel-backed counterpart for readers who run the
notebook themselves (Jupyter, VS Code, Colab): it recomputes a figure for any
value, including values outside the grid, but it is inert in the static book.

Both take a ``draw(**params) -> matplotlib.figure.Figure`` callback, so one
plotting function serves both.
"""
from __future__ import annotations

import html
import io
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as widgets

__all__ = ["explorer", "live_explorer", "figure_to_bytes"]

#: Image formats accepted by :func:`explorer` → MIME subtype used by ``widgets.Image``.
_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "svg": "svg+xml"}

LIVE_NOTE = (
    "<div class='reprolib-live-note'><b>Live explorer: needs a running Python "
    "kernel.</b> In the static book it only shows the figure it was saved with; "
    "open the notebook in Jupyter (JupyterLab, VS Code, Colab) to recompute "
    "figures for any value.</div>"
)


def figure_to_bytes(fig, format: str = "png", dpi: int | None = 100) -> bytes:
    """Render ``fig`` to bytes and close it.

    Closing matters: figures made with ``pyplot`` would otherwise pile up and
    the inline backend would display every one of them below the cell.
    """
    fmt = "svg" if format in ("svg", "svg+xml") else format
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    finally:
        _close(fig)
    return buf.getvalue()


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)  # no-op for figures not managed by pyplot


def _control(name: str, values: Sequence[Any], kind: str) -> widgets.ValueWidget:
    """A Dropdown or SelectionSlider over ``values``, labelled ``name``."""
    options = [(_label(v), v) for v in values]
    if kind == "auto":
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        kind = "slider" if numeric and len(values) > 1 else "dropdown"
    common = dict(options=options, index=0, description=name,
                  style={"description_width": "initial"})
    if kind == "slider":
        return widgets.SelectionSlider(continuous_update=True, **common)
    if kind == "dropdown":
        return widgets.Dropdown(**common)
    raise ValueError(f"control kind must be 'auto', 'slider' or 'dropdown', got {kind!r}")


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def explorer(
    grid: Mapping[str, Sequence[Any]],
    draw: Callable[..., Any],
    title: str | None = None,
    format: str = "png",
    *,
    dpi: int | None = 100,
    controls: str | Mapping[str, str] = "auto",
    cache_key: str | None = None,
) -> widgets.VBox:
    """Precompute ``draw(**point)`` on a grid and switch between the images in the browser.

    Parameters
    ----------
    grid:
        ``{parameter: [values...]}``; every point of the Cartesian product is
        drawn once, so keep it small (the PNGs are embedded in the page).
    draw:
        Returns a matplotlib ``Figure`` for keyword arguments named like the
        grid keys. The figure is rendered and closed by the explorer.
    title:
        Optional heading shown above the controls.
    format:
        ``"png"`` (default), ``"jpeg"`` or ``"svg"``.
    controls:
        ``"auto"`` (slider for numeric values, dropdown otherwise),
        ``"slider"``, ``"dropdown"``, or a per-parameter dict of those.
    cache_key:
        What the figures are drawn from (run paths, settings). With it the
        rendered images are cached in the run cache (:func:`reprolib.core.runs.memo`,
        keyed with the grid, format, dpi and package version), so a warm
        re-execution does not draw them again.

    Returns
    -------
    A ``VBox`` ``[title?, HBox(controls), stack]``. The attributes
    ``controls`` (list, in grid order), ``stack`` (outermost Stack),
    ``links`` (the ``jslink`` objects) and ``points`` (drawn grid points, in
    drawing order) are attached for tests and for chapters that want to
    restyle it.

    Why nested Stacks: one level per parameter, with every Stack at level
    ``k`` linked to control ``k``, means each link is a plain
    ``index -> selected_index`` copy that the static html-manager does
    client-side; no Python is needed to pick the image.
    """
    if not grid:
        raise ValueError("explorer() needs at least one parameter in `grid`")
    names = list(grid)
    values = [list(grid[n]) for n in names]
    for name, vals in zip(names, values):
        if not vals:
            raise ValueError(f"grid[{name!r}] is empty")
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {sorted(_FORMATS)}, got {format!r}")
    mime = _FORMATS[format]
    kinds = {n: (controls if isinstance(controls, str) else controls.get(n, "auto")) for n in names}

    ctrls = [_control(n, v, kinds[n]) for n, v in zip(names, values)]
    image_layout = dict(max_width="100%", height="auto")
    points: list[dict[str, Any]] = []
    stacks_per_level: list[list[widgets.Stack]] = [[] for _ in names]
    images = _cached_images(cache_key, names, values, draw, format, dpi) if cache_key is not None else None

    def build(level: int, prefix: dict[str, Any]) -> widgets.Widget:
        if level == len(names):
            data = images[len(points)] if images is not None else figure_to_bytes(draw(**prefix), format=format, dpi=dpi)
            points.append(dict(prefix))
            return widgets.Image(value=data, format=mime, layout=image_layout)
        children = [build(level + 1, {**prefix, names[level]: v}) for v in values[level]]
        stack = widgets.Stack(children=children, selected_index=0)
        stacks_per_level[level].append(stack)
        return stack

    stack = build(0, {})
    links = [widgets.jslink((ctrls[k], "index"), (s, "selected_index"))
             for k, level in enumerate(stacks_per_level) for s in level]

    parts: list[widgets.Widget] = []
    if title:
        parts.append(widgets.HTML(f"<b>{html.escape(title)}</b>"))
    parts += [widgets.HBox(ctrls, layout=dict(flex_flow="row wrap")), stack]
    box = widgets.VBox(parts)
    box.add_class("reprolib-explorer")
    box.controls, box.stack, box.links, box.points = ctrls, stack, links, points
    return box


def _cached_images(cache_key: str, names: list, values: list, draw, format: str, dpi) -> list[bytes]:
    """Every grid point's image, in drawing order (the Cartesian product), drawn once per key and read back after."""
    import itertools

    import numpy as np

    from .runs import memo

    combos = list(itertools.product(*values))

    def render():
        return {f"p{i:05d}": np.frombuffer(figure_to_bytes(draw(**dict(zip(names, c))), format=format, dpi=dpi), dtype=np.uint8)
                for i, c in enumerate(combos)}

    stored = memo("explorer", f"{cache_key}|{names!r}|{values!r}|{format}|{dpi}", render)
    return [stored[f"p{i:05d}"].tobytes() for i in range(len(combos))]


def live_explorer(draw: Callable[..., Any], **controls: Any) -> widgets.interactive:
    """``ipywidgets.interactive`` around ``draw`` with a "needs a kernel" notice and a Compute button.

    ``controls`` are anything ``interact`` accepts: widgets, ``(min, max, step)``
    tuples, lists of options, or fixed values. Each click on *Compute* calls ``draw``
    in the kernel with the current control values, so it reaches values a
    precomputed :func:`explorer` grid does not (a new point may train a run); in
    static HTML there is no kernel, which the notice says.

    Why a button (``manual`` mode) rather than redrawing on every change: a new
    point can cost minutes, and an automatic first draw inside the Output widget
    while papermill executes the cell intermittently deadlocks nbclient
    (jupyter/nbclient#312) — seen in this book's builds.  Nothing is drawn until a
    reader asks.

    The figure is displayed and closed inside the callback, so it is shown
    exactly once (returning it would let ``interact`` and the inline backend
    both display it).
    """
    from IPython.display import display

    def _show(**kwargs):
        fig = draw(**kwargs)
        if fig is not None:
            display(fig)
            _close(fig)

    w = widgets.interactive(_show, {"manual": True, "manual_name": "Compute"}, **controls)
    w.children = (widgets.HTML(LIVE_NOTE),) + tuple(w.children)
    w.add_class("reprolib-live-explorer")
    return w
