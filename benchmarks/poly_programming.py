"""The polynomial-programming benchmark of the ReinMax paper, on PyTorch and JAX.

Run ``python benchmarks/poly_programming.py [--frameworks torch,jax] [--estimators ...]
[--powers 1.5,2,3] [--seeds 10] [--epochs 40] [--steps 200] [--json PATH]``.

Protocol (docs/mathematics.md#polynomial-benchmark; LiyuanLucasLiu/ReinMax:
poly/poly_programming.py): parameters
theta in R^(L x 2), L = 128, start Uniform(-0.01, 0.01); each step draws a batch of B = 64 hard
samples D = gumbel_softmax(theta, hard=True, tau=1) and minimises
mean_{b, l} |D[b, l, 0] - 0.45|^p with Adam (lr 1e-3) for 40 epochs of 200 steps. The reported
loss is the mean of the final epoch's 200 sampled step losses, averaged over the seeds.

The seeds are independent parameter sets optimised side by side in one array: Adam is
elementwise and each seed's loss depends only on its own parameters, so this is the same as
separate runs, driven by one random stream.

The references come from closed forms, not from a run: the optimum 0.45^p (pi_0 -> 0) and the
straight-through fixed point pi_0* = 0.45^(p-1) / (0.55^(p-1) + 0.45^(p-1)) with its loss
pi_0* 0.55^p + (1 - pi_0*) 0.45^p, where plain ST and GST-1.0 settle (their expected gradient
vanishes there).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import gumbelkit as gk

LENGTH = 128
BATCH = 64
TARGET = 0.45
LEARNING_RATE = 1e-3
TAU = 1.0
ESTIMATORS = ("st-probs", "st", "gapped", "gumbel-rao", "reinmax")


def optimum_loss(p: float) -> float:
    """The infimum of the expected loss, reached as pi_0 -> 0."""
    return TARGET**p


def st_fixed_point(p: float) -> tuple[float, float]:
    """Return plain straight-through's stable pi_0 and its expected loss."""
    low, high = TARGET ** (p - 1), (1 - TARGET) ** (p - 1)
    pi0 = low / (high + low)
    return pi0, pi0 * (1 - TARGET) ** p + (1 - pi0) * TARGET**p


@dataclass
class Result:
    framework: str
    estimator: str
    p: float
    seeds: int
    final_loss_mean: float
    final_loss_std: float  # across seeds
    final_pi0_mean: float
    seconds: float


def run_torch(estimator: str, p: float, seeds: int, epochs: int, steps: int) -> np.ndarray:
    """Return each seed's final-epoch mean loss and final pi_0 (shape (2, seeds))."""
    import torch

    torch.manual_seed(0)
    theta = torch.nn.Parameter(torch.empty(seeds, LENGTH, 2).uniform_(-0.01, 0.01))
    optimizer = torch.optim.Adam([theta], lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(1)
    epoch_losses = torch.zeros(seeds)
    for _ in range(epochs):
        epoch_losses.zero_()
        for _ in range(steps):
            sample = gk.gumbel_softmax(
                theta, tau=TAU, hard=True, estimator=estimator, rng=generator,
                sample_shape=(BATCH,),
            )
            per_seed = (sample[..., 0] - TARGET).abs().pow(p).mean(dim=(0, 2))
            optimizer.zero_grad(set_to_none=True)
            per_seed.sum().backward()
            optimizer.step()
            epoch_losses += per_seed.detach()
    pi0 = torch.softmax(theta.detach(), dim=-1)[..., 0].mean(dim=-1)
    return np.stack([(epoch_losses / steps).numpy(), pi0.numpy()])


def run_jax(estimator: str, p: float, seeds: int, epochs: int, steps: int) -> np.ndarray:
    """Return each seed's final-epoch mean loss and final pi_0 (shape (2, seeds))."""
    import jax
    import jax.numpy as jnp

    init_key, loop_key = jax.random.split(jax.random.key(0))
    theta = jax.random.uniform(init_key, (seeds, LENGTH, 2), minval=-0.01, maxval=0.01)

    def per_seed_loss(theta: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        sample = gk.gumbel_softmax(
            theta, tau=TAU, hard=True, estimator=estimator, rng=key, sample_shape=(BATCH,)
        )
        per_seed = jnp.mean(jnp.abs(sample[..., 0] - TARGET) ** p, axis=(0, 2))
        return jnp.sum(per_seed), per_seed

    grad = jax.grad(per_seed_loss, has_aux=True)
    beta1, beta2, eps = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults

    def step(carry: tuple, key: jax.Array) -> tuple[tuple, jax.Array]:
        theta, m, v, t = carry
        g, per_seed = grad(theta, key)
        t = t + 1
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - LEARNING_RATE * m_hat / (jnp.sqrt(v_hat) + eps)
        return (theta, m, v, t), per_seed

    @jax.jit
    def epoch(carry: tuple, key: jax.Array) -> tuple[tuple, jax.Array]:
        carry, losses = jax.lax.scan(step, carry, jax.random.split(key, steps))
        return carry, jnp.mean(losses, axis=0)

    carry = (theta, jnp.zeros_like(theta), jnp.zeros_like(theta), jnp.float32(0))
    losses = jnp.zeros(seeds)
    for key in jax.random.split(loop_key, epochs):
        carry, losses = epoch(carry, key)
    pi0 = jnp.mean(jax.nn.softmax(carry[0], axis=-1)[..., 0], axis=-1)
    return np.stack([np.asarray(losses), np.asarray(pi0)])


RUNNERS: dict[str, Callable[[str, float, int, int, int], np.ndarray]] = {
    "torch": run_torch,
    "jax": run_jax,
}


def _parse_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print a markdown table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", default="torch,jax")
    parser.add_argument("--estimators", default=",".join(ESTIMATORS))
    parser.add_argument("--powers", default="1.5,2,3")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/poly_results.json"))
    args = parser.parse_args(argv)

    results: list[Result] = []
    for framework in _parse_list(args.frameworks):
        runner = RUNNERS[framework]
        for p in map(float, _parse_list(args.powers)):
            for estimator in _parse_list(args.estimators):
                start = time.perf_counter()
                losses, pi0 = runner(estimator, p, args.seeds, args.epochs, args.steps)
                seconds = time.perf_counter() - start
                results.append(Result(
                    framework, estimator, p, args.seeds, float(np.mean(losses)),
                    float(np.std(losses)), float(np.mean(pi0)), seconds,
                ))
                print(f"{framework} p={p:g} {estimator}: {results[-1].final_loss_mean:.5f} "
                      f"({seconds:.1f} s)", file=sys.stderr)

    print("| framework | p | estimator | final loss (mean ± sd over seeds) | final pi_0 "
          "| optimum 0.45^p | ST fixed point (pi_0*, loss) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        pi_star, loss_star = st_fixed_point(r.p)
        print(f"| {r.framework} | {r.p:g} | {r.estimator} | {r.final_loss_mean:.5f} ± "
              f"{r.final_loss_std:.5f} | {r.final_pi0_mean:.4f} | {optimum_loss(r.p):.5f} | "
              f"{pi_star:.4f}, {loss_star:.5f} |")
    payload = {
        "protocol": {"length": LENGTH, "batch": BATCH, "target": TARGET, "lr": LEARNING_RATE,
                     "tau": TAU, "epochs": args.epochs, "steps": args.steps},
        "references": {f"{p:g}": {"optimum": optimum_loss(p), "st_fixed_point": st_fixed_point(p)}
                       for p in {r.p for r in results}},
        "results": [asdict(r) for r in results],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2))
    return 0 if all(math.isfinite(r.final_loss_mean) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
