"""Gradient descent on 2-D functions sampled on a pixel grid (report section 1.1).

Part 1 of the report runs plain gradient descent, momentum and Nesterov momentum
on test functions that the assignment hands out as *images*: positions live in
pixel coordinates, values between pixels come from bilinear interpolation and
the gradient is a numerical central difference with a step ``eps`` given in
pixels. This module rebuilds that setting with NumPy so the chapter can test
the report's claims (learning rate 10 works best, beta = 0.9 is a good
trade-off, Nesterov is best, Schaffer traps descent in local minima).

Scale convention (it decides which learning rate "works"): every function is
sampled in its own units on its usual domain, ``size x size`` samples, so one
pixel is ``(domain width) / (size - 1)`` function units. A step is
``lr * gradient-per-pixel`` pixels, hence the good learning rates depend on the
value range times the pixel size, not on the algorithm. The originals were
16-bit PNGs of unknown resolution normalised to [0, 1]; absolute learning rates
are therefore comparable to the report only in order of magnitude.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "FUNCTIONS", "Surface", "Trajectory", "sample_function", "random_starts", "bilinear",
    "numerical_gradient", "descend", "sweep", "plot_trajectories", "draw_descent",
]

DEFAULT_SIZE = 256


# --------------------------------------------------------------------------- functions
def _schaffer_n4(u, v):
    """Schaffer N.4: rings of narrow valleys along |u^2 - v^2| = pi/2 + k*pi; only a
    0.001 r^2 damping term pulls towards the centre, so descent gets stuck."""
    r2 = u * u + v * v
    return 0.5 + (np.cos(np.sin(np.abs(u * u - v * v))) ** 2 - 0.5) / (1.0 + 0.001 * r2) ** 2


def _matyas(u, v):
    """Matyas: a convex quadratic bowl, elongated along u = v (condition number 25)."""
    return 0.26 * (u * u + v * v) - 0.48 * u * v


def _log_beale(u, v):
    """log(1 + Beale): Beale spans 0..2e5 on its domain; the log keeps values sane
    while keeping the curved, flat-bottomed valleys that make it non-convex."""
    beale = (1.5 - u + u * v) ** 2 + (2.25 - u + u * v ** 2) ** 2 + (2.625 - u + u * v ** 3) ** 2
    return np.log1p(beale)


@dataclass(frozen=True)
class FunctionSpec:
    """How to sample one test function: formula, domain, known minima, suggested starts."""
    formula: Callable[[np.ndarray, np.ndarray], np.ndarray]
    domain: tuple[float, float, float, float]          # u_min, u_max, v_min, v_max
    minima: tuple[tuple[float, float], ...]            # global minima in (u, v)
    starts: tuple[tuple[float, float], ...]            # suggested non-central starts (u, v)
    description: str


_R4 = math.sqrt(math.pi / 2)  # Schaffer N.4 minima sit on the axes where u^2 - v^2 = +-pi/2

FUNCTIONS: dict[str, FunctionSpec] = {
    "schaffer": FunctionSpec(
        _schaffer_n4, (-5.0, 5.0, -5.0, 5.0),
        ((_R4, 0.0), (-_R4, 0.0), (0.0, _R4), (0.0, -_R4)),
        ((3.0, 2.0), (-1.0, 3.5), (-2.5, -0.5)),
        "Schaffer N.4 on [-5, 5]^2: many sharp local minima, four global minima"),
    "matyas": FunctionSpec(
        _matyas, (-10.0, 10.0, -10.0, 10.0), ((0.0, 0.0),),
        ((7.0, 8.0), (-8.0, 5.0), (4.0, -9.0)),
        "Matyas on [-10, 10]^2: smooth, convex, ill-conditioned bowl"),
    "beale": FunctionSpec(
        _log_beale, (-4.5, 4.5, -4.5, 4.5), ((3.0, 0.5),),
        ((-3.0, 3.0), (1.0, -3.0), (-1.0, -1.0)),
        "log(1 + Beale) on [-4.5, 4.5]^2: smooth, non-convex, flat valleys"),
}


@dataclass(frozen=True, eq=False)
class Surface:
    """A function sampled as an image: ``grid[row = y, col = x]``, rows ascending in v.

    ``global_minima`` and ``starts`` are (M, 2) arrays of (x, y) grid coordinates.
    """
    name: str
    grid: np.ndarray
    domain: tuple[float, float, float, float]
    global_minima: np.ndarray
    starts: np.ndarray = field(repr=False)

    def to_grid(self, u, v) -> tuple[float, float]:
        """Domain (u, v) -> pixel (x, y)."""
        u0, u1, v0, v1 = self.domain
        h, w = self.grid.shape
        return (u - u0) / (u1 - u0) * (w - 1), (v - v0) / (v1 - v0) * (h - 1)

    def distance_to_global(self, point) -> float:
        """Pixel distance from ``point`` to the nearest global minimum."""
        return float(np.min(np.hypot(*(self.global_minima - np.asarray(point, float)).T)))


def sample_function(name: str, size: int = DEFAULT_SIZE) -> Surface:
    """Sample a registered function on a ``size x size`` grid, like the assignment's PNGs.

    Cached and read-only, because sweeps and the explorer resample the same functions."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown function {name!r}; known functions: {', '.join(FUNCTIONS)}")
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an integer >= 2, got {size!r}")
    return _sample(name, int(size))


@lru_cache(maxsize=32)
def _sample(name: str, size: int) -> Surface:
    spec = FUNCTIONS[name]
    u0, u1, v0, v1 = spec.domain
    uu, vv = np.meshgrid(np.linspace(u0, u1, size), np.linspace(v0, v1, size))
    grid = spec.formula(uu, vv).astype(float)
    grid.flags.writeable = False
    bare = Surface(name, grid, spec.domain, np.empty((0, 2)), np.empty((0, 2)))
    to_xy = lambda pts: np.array([bare.to_grid(u, v) for u, v in pts], dtype=float)
    return replace(bare, global_minima=to_xy(spec.minima), starts=to_xy(spec.starts))


def random_starts(name: str, n: int, seed: int = 0, size: int = DEFAULT_SIZE, radius: float = 5.0) -> np.ndarray:
    """``n`` start points (x, y pixels) drawn uniformly on the grid, none within ``2 * radius`` of a global minimum.

    The report tried a handful of hand-picked starts; random starts make each ranking of
    methods a comparison of two samples of the same start distribution, which a test can decide.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    surface = sample_function(name, size)
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while len(out) < n:
        p = rng.uniform(1.0, size - 2.0, size=2)
        if surface.distance_to_global(p) > 2 * radius:
            out.append(p)
    return np.array(out)


# --------------------------------------------------------------------------- interpolation
def _check_grid(grid) -> np.ndarray:
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 2 or min(grid.shape) < 2:
        raise ValueError(f"grid must be a 2-D array of at least 2x2 samples, "
                         f"got shape {grid.shape}")
    return grid


def _inside(shape, x, y) -> bool:
    h, w = shape
    return bool(np.all((0 <= x) & (x <= w - 1) & (0 <= y) & (y <= h - 1)))


def _check_inside(shape, x, y, what="point"):
    if not _inside(shape, x, y):
        h, w = shape
        raise ValueError(f"{what} (x={x}, y={y}) lies outside the grid; valid range is "
                         f"0 <= x <= {w - 1}, 0 <= y <= {h - 1}")


def _blend(g, x0, y0, tx, ty):
    """Bilinear blend of the cell whose lower corner is (x0, y0); works on scalars and arrays."""
    top = g[y0, x0] * (1 - tx) + g[y0, x0 + 1] * tx
    bottom = g[y0 + 1, x0] * (1 - tx) + g[y0 + 1, x0 + 1] * tx
    return top * (1 - ty) + bottom * ty


def _bilinear_unchecked(g: np.ndarray, x: float, y: float) -> float:
    """Scalar fast path (pure Python indexing): descent calls this ~5 times per step."""
    h, w = g.shape
    x0, y0 = min(int(x), w - 2), min(int(y), h - 2)  # int() == floor for x >= 0
    return float(_blend(g, x0, y0, x - x0, y - y0))


def bilinear(grid, x, y):
    """Value of the image ``grid`` at pixel position (x, y) by bilinear interpolation.

    Exact at grid points and linear along each axis in between, as in the assignment's
    ``Fn.__call__``. Points outside ``[0, W-1] x [0, H-1]`` raise ``ValueError``
    instead of being clamped: the function is unknown there and silently clamping
    would hide a descent that walked off the image. Scalars give a float, arrays an array.
    """
    g = _check_grid(grid)
    if np.ndim(x) == 0 and np.ndim(y) == 0:
        _check_inside(g.shape, x, y)
        return _bilinear_unchecked(g, float(x), float(y))
    xa, ya = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    _check_inside(g.shape, xa, ya, what="points")
    h, w = g.shape
    x0 = np.minimum(np.floor(xa).astype(int), w - 2)
    y0 = np.minimum(np.floor(ya).astype(int), h - 2)
    return _blend(g, x0, y0, xa - x0, ya - y0)


# --------------------------------------------------------------------------- gradient
def _gradient_unchecked(g: np.ndarray, x: float, y: float, eps: float) -> tuple[float, float]:
    h, w = g.shape
    xp, xm = min(x + eps, w - 1.0), max(x - eps, 0.0)
    yp, ym = min(y + eps, h - 1.0), max(y - eps, 0.0)
    gx = (_bilinear_unchecked(g, xp, y) - _bilinear_unchecked(g, xm, y)) / (xp - xm)
    gy = (_bilinear_unchecked(g, x, yp) - _bilinear_unchecked(g, x, ym)) / (yp - ym)
    return gx, gy


def numerical_gradient(grid, x: float, y: float, eps: float = 1.0) -> np.ndarray:
    """Central-difference gradient ``(f(x+eps) - f(x-eps)) / (2 eps)`` of the bilinear surface.

    The report (1.1) notes that eps, like the learning rate, trades accuracy for
    smoothing. Near the border a probe would leave the image, so probes are clamped
    into the grid and divided by their true distance (one-sided difference there).
    Returns ``array([df/dx, df/dy])`` per pixel.
    """
    g = _check_grid(grid)
    _check_positive("eps", eps)
    _check_inside(g.shape, x, y)
    return np.array(_gradient_unchecked(g, float(x), float(y), float(eps)))


# --------------------------------------------------------------------------- descent
@dataclass(eq=False)
class Trajectory:
    """Visited points (K, 2) in pixels, their values and gradient norms; ``steps = K - 1``.

    ``reason`` is "converged" (gradient norm < tol), "max_steps" or "left the grid".
    """
    points: np.ndarray
    values: np.ndarray
    grad_norms: np.ndarray
    converged: bool
    reason: str

    @property
    def steps(self) -> int:
        return len(self.points) - 1

    @property
    def final(self) -> np.ndarray:
        return self.points[-1]


def _check_positive(name, value):
    if not (np.isscalar(value) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _validate(lr, beta, eps, tol, max_steps):
    for name, value in (("lr", lr), ("eps", eps), ("tol", tol)):
        _check_positive(name, value)
    if not (np.isscalar(beta) and 0 <= beta < 1):
        raise ValueError(f"beta must satisfy 0 <= beta < 1, got {beta!r}")
    if not (isinstance(max_steps, (int, np.integer)) and max_steps >= 1):
        raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")


def descend(surface_or_grid, start, lr: float, beta: float = 0.0, nesterov: bool = False,
            eps: float = 1.0, tol: float = 1e-3, max_steps: int = 1000) -> Trajectory:
    """Gradient descent from ``start`` (x, y pixels), as compared in report section 1.1.

    ``beta = 0``: plain GD ``x -= lr g(x)``. Heavy-ball momentum:
    ``v = beta v - lr g(x); x += v``. Nesterov: the gradient is taken at the
    look-ahead ``x + beta v`` (clamped into the grid, it is only a probe). Stops when
    the gradient norm at the current point is < ``tol``, after ``max_steps`` steps, or
    when a step would leave the image ("left the grid"; the points so far are kept,
    because overshooting off the image is a result to show, not an error).
    """
    grid = surface_or_grid.grid if isinstance(surface_or_grid, Surface) else surface_or_grid
    g = _check_grid(grid)
    _validate(lr, beta, eps, tol, max_steps)
    if np.shape(start) != (2,):
        raise ValueError(f"start must be an (x, y) pair, got {start!r}")
    x, y = (float(c) for c in start)
    _check_inside(g.shape, x, y, what="start")
    h, w = g.shape
    clamp = lambda a, b: (min(max(a, 0.0), w - 1.0), min(max(b, 0.0), h - 1.0))

    points, values, norms = [(x, y)], [_bilinear_unchecked(g, x, y)], []
    vx = vy = 0.0
    reason = "max_steps"
    while True:
        gx, gy = _gradient_unchecked(g, x, y, eps)
        norms.append(math.hypot(gx, gy))
        if norms[-1] < tol:
            reason = "converged"
            break
        if len(points) > max_steps:
            break
        if nesterov and beta > 0:
            gx, gy = _gradient_unchecked(g, *clamp(x + beta * vx, y + beta * vy), eps)
        vx, vy = beta * vx - lr * gx, beta * vy - lr * gy
        if not _inside(g.shape, x + vx, y + vy):
            reason = "left the grid"
            break
        x, y = x + vx, y + vy
        points.append((x, y))
        values.append(_bilinear_unchecked(g, x, y))
    return Trajectory(np.array(points), np.array(values), np.array(norms),
                      reason == "converged", reason)


# --------------------------------------------------------------------------- sweep
def sweep(functions: Iterable[str] = tuple(FUNCTIONS),
          starts: Sequence | Mapping[str, Sequence] | None = None,
          lrs: Sequence[float] = (1.0, 10.0, 100.0),
          betas: Sequence[float] = (0.0, 0.5, 0.9),
          nesterov: Sequence[bool] = (False, True),
          epss: Sequence[float] = (1.0,),
          tol: float = 1e-3, max_steps: int = 1000, size: int = DEFAULT_SIZE,
          radius: float = 5.0):
    """Grid of descents, one row each: the table behind the report's 1.1 findings.

    ``starts``: (x, y) pixel starts for every function, a mapping name -> starts, or
    None for each function's suggested non-central starts. ``beta = 0`` rows are run
    once (Nesterov is identical to plain GD then). ``reached_global``: the final point
    lies within ``radius`` pixels of a global minimum, whatever the stop reason (a few
    pixels, because at the default size ``tol = 1e-3`` stops Matyas ~4 px out along its
    flat direction, where the gradient grows by only 2.5e-4 per pixel of distance).
    Extra columns: ``reason`` (stop reason), ``distance`` (pixels to a global minimum) and
    ``steps_to_global``: the first step within ``radius`` of a global minimum, or
    ``max_steps + 1`` when the descent never gets there (lower is better: it measures
    success and speed at once, the report's "best results").
    """
    import pandas as pd

    rows = []
    for name in functions:
        surface = sample_function(name, size)
        if starts is None:
            fn_starts = surface.starts
        else:
            fn_starts = starts[name] if isinstance(starts, Mapping) else starts
        for start in fn_starts:
            for lr in lrs:
                for beta in betas:
                    for nest in (nesterov if beta > 0 else (False,)):
                        for eps in epss:
                            t = descend(surface, start, lr, beta, nest, eps, tol, max_steps)
                            dist = surface.distance_to_global(t.final)
                            near = np.flatnonzero(np.min(np.hypot(*(t.points[:, None, :] - surface.global_minima[None]).transpose(2, 0, 1)), 1) <= radius)
                            rows.append(dict(
                                function=name, start=tuple(round(float(c), 1) for c in start),
                                lr=lr, beta=beta, nesterov=nest, eps=eps, steps=t.steps,
                                converged=t.converged, reason=t.reason,
                                final_value=float(t.values[-1]),
                                distance=dist, reached_global=dist <= radius,
                                steps_to_global=int(near[0]) if len(near) else max_steps + 1))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- plotting
def plot_trajectories(ax, surface: Surface, trajectories: Sequence[Trajectory],
                      labels: Sequence[str] | None = None, log_colour: bool | None = None):
    """Filled contours of ``surface`` (pixel axes, y up) with trajectories on top.

    Colours are log-scaled (values shifted to start at a small positive number) when
    ``log_colour`` is True, or by default when most of the surface sits near its
    floor (Matyas, Beale), so the flat valleys where descent spends its time stay
    visible; Schaffer's oscillations read better on a linear scale.
    Starts are circles, ends crosses; global minima are white stars.
    """
    from matplotlib.colors import LogNorm

    grid = surface.grid
    h, w = grid.shape
    values, norm = grid, None
    floor = grid - grid.min()
    if log_colour is None:
        log_colour = bool(np.median(floor) < 0.1 * np.ptp(grid))
    if log_colour:
        values = floor + 1e-3 * max(float(np.ptp(grid)), 1e-12)
        norm = LogNorm(values.min(), values.max())
    levels = (np.geomspace(values.min(), values.max(), 30) if log_colour else 30)
    cs = ax.contourf(np.arange(w), np.arange(h), values, levels=levels, norm=norm,
                     cmap="viridis")
    if len(surface.global_minima):
        ax.plot(*surface.global_minima.T, "*", color="white", ms=10, mec="black",
                ls="none", label="global minimum")
    labels = list(labels) if labels is not None else [None] * len(trajectories)
    for traj, label in zip(trajectories, labels):
        (line,) = ax.plot(*traj.points.T, "-", lw=1.5, label=label)
        ax.plot(*traj.points[0], "o", color=line.get_color(), mec="black")
        ax.plot(*traj.points[-1], "X", color=line.get_color(), mec="black", ms=9)
    ax.set(xlim=(0, w - 1), ylim=(0, h - 1), xlabel="x [pixel]", ylabel="y [pixel]",
           aspect="equal")
    if any(label for label in labels):
        ax.legend(loc="best", fontsize="small", framealpha=0.8)
    return cs


def draw_descent(function: str = "schaffer", start=None, lr: float = 10.0, beta: float = 0.9,
                 nesterov: bool = True, eps: float = 1.0, tol: float = 1e-3,
                 max_steps: int = 1000, size: int = DEFAULT_SIZE):
    """One descent drawn on its function, for the chapter's explorer (static grid + interact).

    ``start`` defaults to the function's first suggested start. Returns a
    ``matplotlib.figure.Figure`` built without pyplot, so many calls leak no global
    state and the notebook displays exactly the returned figure.
    """
    from matplotlib.figure import Figure

    surface = sample_function(function, size)
    start = surface.starts[0] if start is None else start
    traj = descend(surface, start, lr, beta, nesterov, eps, tol, max_steps)
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    cs = plot_trajectories(ax, surface, [traj])
    fig.colorbar(cs, ax=ax, shrink=0.8, format="%.2g")
    method = "plain GD" if beta == 0 else ("Nesterov" if nesterov else "momentum")
    ax.set_title(f"{function}: {method}, lr={lr:g}, β={beta:g}, ε={eps:g}\n"
                 f"{traj.steps} steps, {traj.reason}, f={traj.values[-1]:.3g}, "
                 f"{surface.distance_to_global(traj.final):.1f} px from global min",
                 fontsize="medium")
    return fig
