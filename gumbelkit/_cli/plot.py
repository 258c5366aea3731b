"""``gumbelkit plot``: the documentation's pictures, drawn with matplotlib.

One PNG file per entry of ``DRAWINGS``, in its order: simplex.png, binary_concrete.png,
hard_frequencies.png, softmax_vs_gumbel_softmax.png, estimator_gradients.png,
top_k_inclusion.png, hard_concrete.png, annealing.png and tail_rates.png. The help of the
command lists the same files, built from ``DRAWINGS`` and ``CAPTIONS``.

The samples come from gumbelkit on NumPy with a fixed seed; every exact curve (the binary
Concrete and Hard Concrete laws, softmax and Plackett-Luce probabilities, exact gradients,
the smooth annealing curve) is computed here in float64 from its formula, not by gumbelkit.
The estimator picture differentiates gumbelkit's hard samples with PyTorch, or with JAX when
PyTorch is missing; with neither, that one picture is skipped. Figures are built with
matplotlib's object interface on the Agg canvas, so drawing them changes no global pyplot
state.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gumbelkit import gumbel, gumbel_max, gumbel_softmax, gumbel_top_k
from gumbelkit._cli._ui import ProgressBar, UsageError, check_seed, softmax
from gumbelkit._cli.demo import DEMO_LOGITS
from gumbelkit.backends._common import SEED_RANGE
from gumbelkit.distributions import HardConcrete
from gumbelkit.schedules import ExponentialAnnealing

HELP = "draw the documentation's pictures as PNG files (needs gumbelkit[plot])"

SIMPLEX = "simplex.png"
BINARY_CONCRETE = "binary_concrete.png"
HARD_FREQUENCIES = "hard_frequencies.png"
SOFTMAX_VS_GUMBEL_SOFTMAX = "softmax_vs_gumbel_softmax.png"
ESTIMATOR_GRADIENTS = "estimator_gradients.png"
TOP_K_INCLUSION = "top_k_inclusion.png"
HARD_CONCRETE = "hard_concrete.png"
ANNEALING = "annealing.png"
TAIL_RATES = "tail_rates.png"

PROBABILITIES = (0.5, 0.3, 0.2)  # three classes for the simplex and the softmax comparison
HARD_LOGITS = DEMO_LOGITS  # the hard-sample picture shows the logits of `gumbelkit demo`
DPI = 100


class PlotError(Exception):
    """A reason the pictures cannot be drawn (exit code 2)."""


class PictureUnavailableError(Exception):
    """A reason one picture cannot be drawn here; the others still are."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``gumbelkit plot`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.

    """
    parser.add_argument("--output-dir", type=Path, default=Path("."), metavar="DIR",
                        help="where to write the PNG files (default: the current folder)")
    parser.add_argument("--seed", type=int, default=0, help=f"an int in {SEED_RANGE} (default 0)")


def run(args: argparse.Namespace) -> int:
    """Run ``gumbelkit plot`` with parsed options: draw the pictures and print their paths.

    Parameters
    ----------
    args : argparse.Namespace
        The options of :func:`add_arguments`.

    Returns
    -------
    int
        0.

    Raises
    ------
    UsageError
        If the seed is out of range, matplotlib is missing or the folder cannot be written.

    """
    check_seed("--seed", args.seed)
    try:
        paths = render(args.output_dir, seed=args.seed)
    except PlotError as exc:
        raise UsageError(str(exc)) from None
    for path in paths:
        print(path)
    return 0


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


# The loss (z - 0.45)^2 of the polynomial benchmark (docs/mathematics.md#polynomial-benchmark,
# p = 2).
TARGET = 0.45
ENUMERATED_ESTIMATORS = ("st-probs", "gapped", "reinmax")


def autodiff_library() -> str | None:
    """Return ``"torch"``, or ``"jax"`` when PyTorch cannot be imported; ``None`` for neither."""
    for name in ("torch", "jax"):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        return name
    return None


def _differentiator(
    library: str,
) -> tuple[Callable[[np.ndarray], Any], Callable[[Callable[[Any], Any], np.ndarray], np.ndarray]]:
    """Return ``(asarray, grad)``: ``grad(loss, x)`` is the gradient of ``loss`` at NumPy ``x``."""
    if library == "torch":
        torch: Any = importlib.import_module("torch")

        def torch_array(x: np.ndarray) -> Any:
            return torch.from_numpy(np.array(x, dtype=np.float64))

        def torch_grad(loss: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
            leaf = torch_array(x).requires_grad_(True)
            loss(leaf).backward()
            return np.asarray(leaf.grad.numpy())

        return torch_array, torch_grad
    jax: Any = importlib.import_module("jax")

    def jax_array(x: np.ndarray) -> Any:
        # float32, JAX's default: float64 would need its process-wide x64 switch.
        return jax.numpy.asarray(np.asarray(x, dtype=np.float32))

    def jax_grad(loss: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
        # One compiled program is much faster than compiling each eager operation in turn.
        return np.asarray(jax.jit(jax.grad(loss))(jax_array(x)), dtype=np.float64)

    return jax_array, jax_grad


def estimator_gradients(pi0: np.ndarray, library: str, noise: np.ndarray) -> dict[str, np.ndarray]:
    """Return the expected gradient of ``(D[0] - 0.45)^2`` with respect to ``theta_0``.

    Two classes with probabilities ``(pi0, 1 - pi0)`` and ``tau = 1``. ``"exact"`` is
    ``J(pi) f_vec`` in float64 NumPy. ``"st-probs"``, ``"gapped"`` and ``"reinmax"`` sum over
    ``D = e_0, e_1`` the gradient of gumbelkit's hard sample, forced to ``D`` by injected noise,
    weighted by ``pi_D``. ``"st"`` averages over the standard Gumbel ``noise`` of shape
    ``(n, 1, 2)``, the same draws for every ``pi0``.

    Parameters
    ----------
    pi0 : numpy.ndarray
        Probabilities of class 0, in (0, 1).
    library : str
        ``"torch"`` (float64) or ``"jax"`` (float32): the autodiff of the estimators.
    noise : numpy.ndarray
        Standard Gumbel noise for the Monte Carlo mean of ``"st"``, shape ``(n, 1, 2)``.

    Returns
    -------
    dict of str to numpy.ndarray
        One float64 curve per key: ``"exact"``, the three enumerated estimators and ``"st"``.

    """
    pi0 = np.asarray(pi0, dtype=np.float64)
    pi = np.stack([pi0, 1.0 - pi0], axis=-1)
    theta = np.log(pi)
    f_vec = (np.array([1.0, 0.0]) - TARGET) ** 2  # f(e_0), f(e_1)
    curves = {"exact": (pi * f_vec - pi * (pi @ f_vec)[:, None])[:, 0]}
    asarray, grad = _differentiator(library)
    # Noise row d puts 50 on class d: far beyond any logit gap here, so D = e_d.
    forced = asarray(50.0 * np.eye(2)[:, None, :])
    weight = asarray(pi.T)  # weight[d, j] = P(D = e_d) at the j-th pi0
    both = np.broadcast_to(theta, (2, *theta.shape))
    for name in ENUMERATED_ESTIMATORS:
        def enumerated_loss(logits: Any, name: str = name) -> Any:
            out = gumbel_softmax(logits, tau=1.0, hard=True, estimator=name, noise=forced)
            return (weight * (out[..., 0] - TARGET) ** 2).sum()

        curves[name] = grad(enumerated_loss, both).sum(axis=0)[:, 0]
    draws = asarray(noise)
    n = noise.shape[0]

    def monte_carlo_loss(logits: Any) -> Any:
        out = gumbel_softmax(logits, tau=1.0, hard=True, estimator="st", noise=draws,
                             sample_shape=(n,))
        return ((out[..., 0] - TARGET) ** 2).sum() / n

    curves["st"] = grad(monte_carlo_loss, theta)[:, 0]
    return curves


def draw_estimator_gradients(path: Path, rng: np.random.Generator) -> None:
    """Draw each estimator's expected gradient against the exact one, for two classes."""
    library = autodiff_library()
    if library is None:
        raise PictureUnavailableError("its gradients need PyTorch or JAX, and neither is installed")
    pi0 = np.linspace(0.005, 0.995, 199)
    n = 4_000
    curves = estimator_gradients(pi0, library, gumbel((n, 1, 2), rng=rng))
    # The fixed point at p = 2: docs/mathematics.md#polynomial-benchmark.
    fixed_point = TARGET / ((1.0 - TARGET) + TARGET)
    figure = _figure(8.5, 4.2)
    ax = figure.subplots()
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.plot(pi0, curves["exact"], color="black", linewidth=3.0, alpha=0.35,
            label=r"exact: $J(\pi)\,\vec f$")
    ax.plot(pi0, curves["reinmax"], color="tab:green", linestyle="--",
            label='"reinmax" (enumerated over D): exact for a quadratic f')
    ax.plot(pi0, curves["st-probs"], color="tab:orange", label='"st-probs" (enumerated over D)')
    ax.plot(pi0, curves["gapped"], color="tab:purple", linestyle="-.",
            label='"gapped" (enumerated over D)')
    ax.plot(pi0, curves["st"], color="tab:blue", linestyle=":", linewidth=1.8,
            label=f'"st": ST-Gumbel-Softmax, mean of {n:,} draws')
    ax.axvline(fixed_point, color="tab:orange", linestyle=":", linewidth=0.8)
    ax.plot([fixed_point], [0.0], marker="o", color="tab:orange", markersize=6, zorder=3)
    ax.annotate(rf"straight-through fixed point $\pi_0^*$ = {fixed_point:g}",
                (fixed_point, 0.0), xytext=(8, -28), textcoords="offset points", fontsize=8,
                arrowprops={"arrowstyle": "-", "color": "0.4", "linewidth": 0.6})
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel(r"$\pi_0$ = softmax($\theta$)$_0$")
    ax.set_ylabel(r"expected gradient $\partial / \partial\theta_0$")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.set_title(
        r"K = 2, f(z) = (z - 0.45)$^2$ of z = D[0], $\tau$ = 1: the loss falls as "
        r"$\pi_0 \to 0$, but straight-through stops at $\pi_0^*$", fontsize=10,
    )
    _save(figure, path)


TOP_K_PROBABILITIES = (0.3, 0.25, 0.18, 0.12, 0.1, 0.05)


def inclusion_probabilities(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Return ``P(class i is among k draws without replacement)``, by Plackett-Luce enumeration.

    Sums ``prod_j p_(i_j) / (1 - sum_(l<j) p_(i_l))`` over every ordered ``k``-tuple in float64.

    Parameters
    ----------
    probabilities : numpy.ndarray
        Class probabilities, positive, summing to 1.
    k : int
        The number of draws, at most the number of classes.

    Returns
    -------
    numpy.ndarray
        The inclusion probability of each class; they sum to ``k``.

    Examples
    --------
    >>> inclusion_probabilities(np.array([0.5, 0.5]), 1).tolist()
    [0.5, 0.5]

    """
    p = np.asarray(probabilities, dtype=np.float64)
    inclusion = np.zeros_like(p)
    for ordering in itertools.permutations(range(p.size), k):
        chosen = np.array(ordering)
        left = 1.0 - np.concatenate([[0.0], np.cumsum(p[chosen])[:-1]])
        inclusion[chosen] += np.prod(p[chosen] / left)
    return inclusion


def draw_top_k_inclusion(path: Path, rng: np.random.Generator) -> None:
    """Draw the inclusion frequencies of Gumbel-top-k samples beside the exact probabilities."""
    probabilities = np.array(TOP_K_PROBABILITIES)
    logits = np.log(probabilities)
    n = 20_000
    classes = np.arange(probabilities.size)
    figure = _figure(8.5, 3.6)
    ax = figure.subplots()
    width = 0.26
    for k in (1, 2, 3):
        index = gumbel_top_k(logits, k, sample_shape=(n,), rng=rng)
        frequency = np.bincount(index.ravel(), minlength=probabilities.size) / n
        exact = inclusion_probabilities(probabilities, k)
        error = 2.0 * np.sqrt(exact * (1.0 - exact) / n)
        offset = (k - 2) * width
        ax.bar(classes + offset, frequency, width=width, yerr=error, capsize=2, color=f"C{k - 1}",
               label=f"k = {k}: gumbel_top_k frequency")
        ax.scatter(classes + offset, exact, marker="_", s=200, color="black", zorder=3,
                   label="exact (Plackett-Luce orderings enumerated)" if k == 1 else None)
    ax.set_xticks(classes, [f"{i}\n(p = {p:g})" for i, p in enumerate(TOP_K_PROBABILITIES)])
    ax.set_xlabel("class (probability)")
    ax.set_ylabel("P(class in the sample)")
    ax.set_ylim(0.0, 1.0)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.set_title(f"Inclusion in an ordered sample of k without replacement: {n:,} samples per k; "
                 "error bars: 2 standard errors", fontsize=10)
    _save(figure, path)


HARD_CONCRETE_LOG_ALPHAS = (-1.5, 0.0, 1.5)


def hard_concrete_law(
    x: np.ndarray, log_alpha: float, *, beta: float = 2.0 / 3.0, gamma: float = -0.1,
    zeta: float = 1.1,
) -> tuple[float, float, np.ndarray]:
    """Return ``(P(z = 0), P(z = 1), density at x)`` of the Hard Concrete gate.

    The gate: docs/mathematics.md#hard-concrete.

    ``Q(x) = sigmoid(beta logit((x - gamma) / (zeta - gamma)) - log_alpha)`` is the CDF of the
    stretched sample; the atoms are ``Q(0)`` and ``1 - Q(1)`` and the density on (0, 1) is
    ``Q'(x)``, all in float64.

    Parameters
    ----------
    x : numpy.ndarray
        Points in the open interval (0, 1).
    log_alpha : float
        The gate's location parameter.
    beta, gamma, zeta : float, optional
        Temperature and stretch interval; the defaults of the reference implementation.

    Returns
    -------
    tuple of float, float, numpy.ndarray
        The two atoms and the density.

    Examples
    --------
    >>> p0, p1, _ = hard_concrete_law(np.array([0.5]), 0.0)
    >>> bool(np.isclose(p0, p1))
    True

    """
    def sigmoid(t: np.ndarray | float) -> np.ndarray:
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * np.asarray(t, dtype=np.float64))))

    p0 = float(sigmoid(beta * math.log(-gamma / zeta) - log_alpha))
    p1 = float(sigmoid(log_alpha - beta * math.log((1.0 - gamma) / (zeta - 1.0))))
    u = (np.asarray(x, dtype=np.float64) - gamma) / (zeta - gamma)
    a = beta * (np.log(u) - np.log1p(-u)) - log_alpha
    density = sigmoid(a) * sigmoid(-a) * beta / (u * (1.0 - u) * (zeta - gamma))
    return p0, p1, density


def draw_hard_concrete(path: Path, rng: np.random.Generator) -> None:
    """Draw Hard Concrete gates: the atoms at 0 and 1 and a histogram of the rest."""
    n = 20_000
    log_alphas = np.array(HARD_CONCRETE_LOG_ALPHAS)
    z = HardConcrete(log_alphas).sample((n,), rng=rng)
    grid = np.linspace(0.0, 1.0, 401)[1:-1]
    bins = 40
    figure = _figure(11.0, 3.4)
    axes = figure.subplots(1, 3, sharey=True)
    for column, (ax, log_alpha) in enumerate(zip(axes, HARD_CONCRETE_LOG_ALPHAS, strict=True)):
        gates = z[:, column]
        p0, p1, density = hard_concrete_law(grid, log_alpha)
        inside = gates[(gates > 0.0) & (gates < 1.0)]
        # Weights 1 / (n * bin width): the histogram integrates to the observed interior mass.
        ax.hist(inside, bins=bins, range=(0.0, 1.0), weights=np.full(inside.size, bins / n),
                color="tab:blue", alpha=0.45, label="gumbelkit gates in (0, 1), histogram")
        ax.plot(grid, density, color="black", linewidth=1.2, label="exact density in (0, 1)")
        ax.bar([0.0, 1.0], [p0, p1], width=0.035, color="tab:red", alpha=0.8, zorder=3,
               label="exact atoms P(z = 0), P(z = 1)")
        observed = [float(np.mean(gates == 0.0)), float(np.mean(gates == 1.0))]
        ax.scatter([0.0, 1.0], observed, marker="o", s=22, facecolors="white",
                   edgecolors="black", zorder=4, label="observed atom frequencies")
        for x, mass in ((0.0, p0), (1.0, p1)):
            ax.annotate(f"{mass:.3f}", (x, mass), xytext=(0, 6), textcoords="offset points",
                        ha="center", fontsize=8, color="tab:red")
        ax.set_title(rf"log $\alpha$ = {log_alpha:g}", fontsize=10)
        ax.set_xlim(-0.06, 1.06)
        ax.set_xlabel("gate z")
    axes[0].set_ylabel("density; atoms: probability")
    top = max(max(p0, p1, float(np.max(density)))
              for p0, p1, density in (hard_concrete_law(grid, a) for a in HARD_CONCRETE_LOG_ALPHAS))
    axes[0].set_ylim(0.0, 1.25 * top)
    axes[1].legend(fontsize=7, frameon=False, loc="upper center")
    figure.suptitle(
        rf"Hard Concrete gates ($\beta$ = 2/3, stretch (-0.1, 1.1)), {n:,} samples each: "
        "atoms at 0 and 1, a density between", fontsize=11,
    )
    _save(figure, path)


def draw_annealing(path: Path, rng: np.random.Generator) -> None:
    """Draw the refreshed exponential annealing schedule against its smooth curve."""
    del rng  # the schedule is deterministic
    tau0, rate, tau_min, interval = 1.0, 3e-5, 0.5, 1000
    schedule = ExponentialAnnealing(tau0=tau0, rate=rate, tau_min=tau_min, interval=interval)
    steps = np.arange(40_001)
    staircase = np.array([schedule(int(t)) for t in steps])
    smooth = np.maximum(tau_min, tau0 * np.exp(-rate * steps))
    floor_step = math.log(tau0 / tau_min) / rate
    reached = interval * math.ceil(floor_step / interval)  # the first refresh at or after t*
    figure = _figure(8.5, 3.6)
    ax = figure.subplots()
    ax.plot(steps, smooth, color="black", linewidth=1.0, linestyle="--",
            label=r"max($\tau_{min}$, $\tau_0$ exp(-r t))")
    ax.plot(steps, staircase, color="tab:blue", linewidth=1.6,
            label=f"ExponentialAnnealing: refreshed every {interval:,} steps")
    ax.axvline(floor_step, color="tab:red", linestyle=":", linewidth=1.0)
    ax.annotate(rf"t* = ln($\tau_0$ / $\tau_{{min}}$) / r = {floor_step:,.0f}",
                (floor_step, 0.8), xytext=(-8, 0), textcoords="offset points", ha="right",
                fontsize=8, color="tab:red")
    ax.plot([reached], [tau_min], marker="o", markersize=5, color="tab:blue")
    ax.annotate(f"floor from step {reached:,}", (reached, tau_min), xytext=(6, 8),
                textcoords="offset points", fontsize=8, color="tab:blue")
    ax.set_xlim(0, steps[-1])
    ax.set_ylim(0.45, 1.02)
    ax.set_xlabel("training step t")
    ax.set_ylabel(r"temperature $\tau$")
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.set_title(rf"$\tau_0$ = {tau0:g}, r = 3e-5, $\tau_{{min}}$ = {tau_min:g}, "
                 f"N = {interval:,}: the settings of the paper's public notebook", fontsize=10)
    _save(figure, path)


def draw_tail_rates(path: Path, rng: np.random.Generator) -> None:
    """Draw the rate of a class d nats below the other, textbook noise beside gumbelkit's.

    Exact sums over the float32 noise's atoms on NumPy's grid (:mod:`gumbelkit.conformance.tails`),
    no sampling.
    """
    del rng  # exact, not sampled
    from gumbelkit import backends
    from gumbelkit.conformance import tails

    backend = backends.resolve(backends.get_backend("numpy"))
    textbook_d = np.arange(8.0, 22.01, 0.25)
    exact_d = np.arange(8.0, 46.01, 2.0)
    textbook = [np.mean(tails.fraction_of_true_rate(backend, np.float32, float(d), m=24, s=12,
                                                    depth=0, bin_width=1e-3))
                for d in textbook_d]
    exact = [np.mean(tails.fraction_of_true_rate(backend, np.float32, float(d), m=24, s=12,
                                                 depth=8, bin_width=1e-3))
             for d in exact_d]
    figure = _figure(8.5, 3.6)
    ax = figure.subplots()
    ax.plot(textbook_d, textbook, color="tab:red", linewidth=1.6,
            label="textbook float32 noise -log(-log U) (PyTorch, JAX)")
    ax.plot(exact_d, exact, color="tab:blue", linewidth=1.6, marker="o", markersize=3,
            label="gumbelkit's float32 noise (exact upper tail)")
    ax.axhline(1.0, color="0.6", linewidth=0.8)
    ax.set_xlim(8, 46)
    ax.set_ylim(-0.03, 1.08)
    ax.set_xlabel("d: nats below the row maximum")
    ax.set_ylabel("drawn rate / true rate")
    ax.legend(fontsize=8, frameon=False, loc="lower left")
    ax.set_title("Gumbel-max, two classes: the rarer class's rate, exactly computed", fontsize=10)
    _save(figure, path)


DRAWINGS: dict[str, Callable[[Path, np.random.Generator], None]] = {
    SIMPLEX: draw_simplex,
    BINARY_CONCRETE: draw_binary_concrete,
    HARD_FREQUENCIES: draw_hard_frequencies,
    SOFTMAX_VS_GUMBEL_SOFTMAX: draw_softmax_vs_gumbel_softmax,
    ESTIMATOR_GRADIENTS: draw_estimator_gradients,
    TOP_K_INCLUSION: draw_top_k_inclusion,
    HARD_CONCRETE: draw_hard_concrete,
    ANNEALING: draw_annealing,
    TAIL_RATES: draw_tail_rates,
}
"""The pictures: file name and the function that draws it, in the order they are written."""

FILES = tuple(DRAWINGS)
"""The names of the PNG files, in the order they are written."""

CAPTIONS: dict[str, str] = {
    SIMPLEX: "relaxed samples on the simplex",
    BINARY_CONCRETE: "the binary Concrete density",
    HARD_FREQUENCIES: "hard-sample frequencies",
    SOFTMAX_VS_GUMBEL_SOFTMAX: "tempered softmax beside Gumbel-Softmax",
    ESTIMATOR_GRADIENTS: "the gradient estimators' expected gradients; needs PyTorch or JAX, "
                         "skipped without both",
    TOP_K_INCLUSION: "Gumbel-top-k inclusion",
    HARD_CONCRETE: "Hard Concrete gates",
    ANNEALING: "temperature annealing",
    TAIL_RATES: "the rate of a rare class under float32 noise",
}
"""What each picture of ``DRAWINGS`` shows, for the command's help."""

_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
            "eleven", "twelve")


def describe(names: Sequence[str]) -> str:
    """Return the paragraph of ``gumbelkit plot --help`` for the pictures ``names``.

    Parameters
    ----------
    names : sequence of str
        File names, each a key of ``CAPTIONS``.

    Returns
    -------
    str
        One sentence that names every file with what it shows, in the given order.

    Examples
    --------
    >>> describe([ANNEALING])
    'Draw one PNG picture with matplotlib: annealing.png (temperature annealing).'

    """
    count = _NUMBERS[len(names)] if len(names) < len(_NUMBERS) else str(len(names))
    noun = "picture" if len(names) == 1 else "pictures"
    items = ", ".join(f"{name} ({CAPTIONS[name]})" for name in names)
    return f"Draw {count} PNG {noun} with matplotlib: {items}."


DESCRIPTION: str | None = describe(FILES)


def render(output_dir: Path, *, seed: int = 0) -> list[Path]:
    """Write the PNG files into ``output_dir`` and return their paths.

    A picture that cannot be drawn here (the estimator gradients without PyTorch or JAX) is
    skipped with a one-line note on stderr; the others are still written.

    Raises
    ------
    PlotError
        If matplotlib is not installed or ``output_dir`` cannot be written.

    """
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
        for number, (name, draw) in enumerate(DRAWINGS.items()):
            progress.describe(name)
            path = output_dir / name
            # One generator per picture, so each file depends only on the seed.
            try:
                draw(path, np.random.default_rng([seed, number]))
            except PictureUnavailableError as reason:
                progress.note(f"gumbelkit plot: skipped {name}: {reason}")
            except OSError as exc:
                raise PlotError(f"cannot write {path}: {exc}") from None
            else:
                paths.append(path)
            progress.advance()
    return paths
