"""``gumbelkit plot``: the documentation's four pictures, drawn with matplotlib.

The samples come from gumbelkit on NumPy with a fixed seed; every exact curve (the binary
Concrete density, softmax probabilities) is computed here in float64 from its formula, not by
gumbelkit. Figures are built with matplotlib's object interface on the Agg canvas, so drawing
them changes no global pyplot state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gumbelkit._sampling import gumbel, gumbel_max, gumbel_softmax

SIMPLEX = "simplex.png"
BINARY_CONCRETE = "binary_concrete.png"
HARD_FREQUENCIES = "hard_frequencies.png"
SOFTMAX_VS_GUMBEL_SOFTMAX = "softmax_vs_gumbel_softmax.png"
FILES = (SIMPLEX, BINARY_CONCRETE, HARD_FREQUENCIES, SOFTMAX_VS_GUMBEL_SOFTMAX)

PROBABILITIES = (0.5, 0.3, 0.2)  # three classes for the simplex and the softmax comparison
HARD_LOGITS = (2.0, 1.0, 0.5, 0.0, -1.0, -3.0)  # the logits of `gumbelkit demo`
DPI = 100


class PlotError(Exception):
    """A reason the pictures cannot be drawn (exit code 2)."""


def softmax(logits: np.ndarray, tau: float | np.ndarray = 1.0) -> np.ndarray:
    """Return ``softmax(logits / tau)`` along the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64) / tau
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def binary_concrete_density(y: np.ndarray, log_alpha: float, tau: float) -> np.ndarray:
    """Return the density of the binary Concrete (relaxed Bernoulli) law at ``y`` in (0, 1).

    ``f(y) = tau alpha y^(-tau-1) (1-y)^(-tau-1) / (alpha y^(-tau) + (1-y)^(-tau))^2``, evaluated
    in float64 through the logit ``t = logit y``: ``T`` is logistic with location
    ``log alpha / tau`` and scale ``1 / tau``, so with ``d = log alpha - tau t``,
    ``log f_T(t) = log tau - |d| - 2 log1p(exp(-|d|))`` and
    ``log f(y) = log f_T(t) + softplus(t) + softplus(-t)``, which neither overflows nor loses
    the tails.

    Parameters
    ----------
    y : array
        Points in the open interval (0, 1).
    log_alpha : float
        ``log(p / (1 - p))`` for the Bernoulli probability ``p``.
    tau : float
        The temperature, positive.

    Returns
    -------
    numpy.ndarray
        The density, float64.

    Examples
    --------
    >>> float(binary_concrete_density(np.array([0.5]), 0.0, 1.0)[0])
    1.0

    """
    y = np.asarray(y, dtype=np.float64)
    t = np.log(y) - np.log1p(-y)
    d = log_alpha - tau * t
    log_f_t = math.log(tau) - np.abs(d) - 2.0 * np.log1p(np.exp(-np.abs(d)))
    return np.asarray(np.exp(log_f_t + np.logaddexp(0.0, t) + np.logaddexp(0.0, -t)))


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: Path) -> None:
    # No creation metadata, so that the same seed and matplotlib give the same file.
    figure.savefig(path, dpi=DPI, metadata={"Software": None}, pil_kwargs={"optimize": True})


def draw_simplex(path: Path, rng: np.random.Generator) -> None:
    """Draw 3-class Gumbel-Softmax samples on the simplex at four temperatures."""
    logits = np.log(np.array(PROBABILITIES))
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3.0) / 2.0]])
    figure = _figure(12.0, 3.4)
    axes = figure.subplots(1, 4)
    colors = ["tab:blue", "tab:orange", "tab:green"]
    for ax, tau in zip(axes, (0.1, 0.5, 1.0, 5.0), strict=True):
        y = gumbel_softmax(logits, tau=tau, sample_shape=(600,), rng=rng)
        points = y @ corners
        ax.fill(corners[:, 0], corners[:, 1], facecolor="0.96", edgecolor="0.3", linewidth=0.8)
        ax.scatter(points[:, 0], points[:, 1], s=5, alpha=0.5, linewidths=0,
                   c=[colors[k] for k in y.argmax(axis=-1)])
        mean = softmax(logits) @ corners
        ax.plot(mean[0], mean[1], marker="*", markersize=12, color="black",
                label="softmax(logits)")
        for k, (x, z) in enumerate(corners):
            ax.annotate(f"class {k}", (x, z), xytext=(0, -12 if z == 0 else 5),
                        textcoords="offset points", ha="center", fontsize=8)
        ax.set_title(rf"$\tau$ = {tau:g}", fontsize=10)
        ax.set_xlim(-0.08, 1.08)
        ax.set_ylim(-0.12, 0.98)
        ax.set_aspect("equal")
        ax.axis("off")
    axes[0].legend(loc="upper left", fontsize=7, frameon=False)
    figure.suptitle(
        f"Gumbel-Softmax samples on the 3-class simplex, p = {PROBABILITIES} "
        "(colour: the largest entry)", fontsize=11,
    )
    _save(figure, path)


def draw_binary_concrete(path: Path, rng: np.random.Generator) -> None:
    """Draw histograms of binary Concrete samples over their exact density."""
    p = 0.3
    log_alpha = math.log(p / (1.0 - p))
    logits = np.array([log_alpha, 0.0])  # coordinate 0 of a 2-class Concrete
    grid = np.linspace(0.0, 1.0, 401)[1:-1]
    figure = _figure(11.0, 3.2)
    axes = figure.subplots(1, 3)
    for ax, tau in zip(axes, (0.5, 1.0, 2.0), strict=True):
        y = gumbel_softmax(logits, tau=tau, sample_shape=(20_000,), rng=rng)[:, 0]
        heights, _, _ = ax.hist(y, bins=40, range=(0.0, 1.0), density=True, color="tab:blue",
                                alpha=0.45, label="gumbelkit, 20,000 samples")
        density = binary_concrete_density(grid, log_alpha, tau)
        ax.plot(grid, density, color="black", linewidth=1.2, label="exact density")
        ax.set_ylim(0.0, 1.15 * max(float(np.max(heights)), float(np.max(density[20:-20]))))
        ax.set_title(rf"$\tau$ = {tau:g}", fontsize=10)
        ax.set_xlabel("y")
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=7, frameon=False, loc="upper center")
    figure.suptitle(
        f"Binary Concrete (relaxed Bernoulli), p = {p}: samples against the exact density",
        fontsize=11,
    )
    _save(figure, path)


def draw_hard_frequencies(path: Path, rng: np.random.Generator) -> None:
    """Draw the class frequencies of hard samples beside the softmax probabilities."""
    logits = np.array(HARD_LOGITS)
    n = 20_000
    probabilities = softmax(logits)
    hard = gumbel_softmax(logits, tau=0.5, hard=True, sample_shape=(n,), rng=rng).mean(axis=0)
    index = np.bincount(gumbel_max(logits, sample_shape=(n,), rng=rng),
                        minlength=logits.size) / n
    error = 2.0 * np.sqrt(probabilities * (1.0 - probabilities) / n)
    classes = np.arange(logits.size)
    figure = _figure(7.5, 3.4)
    ax = figure.subplots()
    ax.bar(classes - 0.2, index, width=0.4, yerr=error, capsize=2, color="tab:blue",
           label="gumbel_max: index frequency")
    ax.bar(classes + 0.2, hard, width=0.4, yerr=error, capsize=2, color="tab:orange",
           label="gumbel_softmax(hard=True): mean one-hot")
    ax.scatter(classes, probabilities, marker="_", s=600, color="black", zorder=3,
               label="softmax(logits)")
    ax.set_xticks(classes, [f"{k}\n({v:g})" for k, v in zip(classes, logits, strict=True)])
    ax.set_xlabel("class (logit)")
    ax.set_ylabel("probability")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(f"{n:,} hard samples each; error bars: 2 standard errors", fontsize=10)
    _save(figure, path)


def draw_softmax_vs_gumbel_softmax(path: Path, rng: np.random.Generator) -> None:
    """Draw tempered softmax beside the mean Gumbel-Softmax sample as the temperature falls."""
    logits = np.log(np.array(PROBABILITIES))
    taus = np.geomspace(0.01, 10.0, 61)
    n = 4_000
    noise = gumbel((n, logits.size), rng=rng)  # one noise draw for every tau: smooth curves
    means = np.array([
        gumbel_softmax(logits, tau=float(tau), sample_shape=(n,), noise=noise).mean(axis=0)
        for tau in taus
    ])
    tempered = softmax(logits[None, :], taus[:, None])
    figure = _figure(10.0, 3.6)
    left, right = figure.subplots(1, 2, sharey=True)
    for k, p in enumerate(PROBABILITIES):
        color = f"C{k}"
        left.plot(taus, tempered[:, k], color=color, label=f"class {k} (p = {p})")
        right.plot(taus, means[:, k], color=color, label=f"class {k}")
        for ax in (left, right):
            ax.axhline(p, color=color, linestyle=":", linewidth=0.8)
    left.set_title(r"softmax(logits / $\tau$): no noise, collapses to the argmax", fontsize=10)
    right.set_title(rf"Gumbel-Softmax, mean of {n:,} samples: p as $\tau \to 0$", fontsize=10)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel(r"temperature $\tau$")
    left.set_ylabel("value of each entry")
    left.legend(fontsize=8, frameon=False)
    figure.suptitle(
        r"Why add noise: as $\tau \to 0$ softmax picks class 0 every time; Gumbel-Softmax "
        "gives one-hot samples that pick class k with probability p_k", fontsize=10,
    )
    _save(figure, path)


DRAWINGS: dict[str, Callable[[Path, np.random.Generator], None]] = {
    SIMPLEX: draw_simplex,
    BINARY_CONCRETE: draw_binary_concrete,
    HARD_FREQUENCIES: draw_hard_frequencies,
    SOFTMAX_VS_GUMBEL_SOFTMAX: draw_softmax_vs_gumbel_softmax,
}


def render(output_dir: Path, *, seed: int = 0) -> list[Path]:
    """Write the four PNG files into ``output_dir`` and return their paths.

    Raises
    ------
    PlotError
        If matplotlib is not installed or ``output_dir`` cannot be written.

    """
    from gumbelkit.cli import ProgressBar

    with ProgressBar(1 + len(DRAWINGS)) as progress:
        progress.describe("importing matplotlib")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise PlotError(
                "matplotlib is not installed; install the plot extra: pip install 'gumbelkit[plot]'"
            ) from None
        progress.advance()
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PlotError(f"--output-dir: cannot create {output_dir}: {exc}") from None
        paths: list[Path] = []
        for name, draw in DRAWINGS.items():
            progress.describe(name)
            path = output_dir / name
            # One generator per picture, so each file depends only on the seed.
            try:
                draw(path, np.random.default_rng([seed, len(paths)]))
            except OSError as exc:
                raise PlotError(f"cannot write {path}: {exc}") from None
            paths.append(path)
            progress.advance()
    return paths
