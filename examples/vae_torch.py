"""Train a categorical VAE on scikit-learn's 8x8 digits with PyTorch and hard Gumbel samples.

The model: N = 8 latent variables of K = 8 classes, an MLP encoder 64 -> 256 -> N*K logits, an
MLP decoder N*K -> 256 -> 64 Bernoulli logits, a uniform prior. The pixels are scaled to [0, 1]
and scored with the Bernoulli log-likelihood (cross-entropy with the grey levels as targets).
The KL to the prior is computed exactly from the encoder's softmax. Each step draws exactly
one-hot latents with ``gk.gumbel_softmax(hard=True)``; ``--estimator`` chooses the gradient:

- ``st``: straight-through Gumbel-Softmax, temperature annealed from 1 to 0.5;
- ``reinmax``: ReinMax, temperature annealed from 2 to 1. ReinMax is exact for quadratic losses
  at tau = 1 and prefers tau >= 1 (docs/estimators.md), so its schedule stays at or above 1.

Both schedules are ``ExponentialAnnealing`` with the same rate and interval, so they reach
their floors at the same step. The data come with scikit-learn: nothing is downloaded. The
script prints the -ELBO (nats per image) of a held-out split, estimated with exact one-hot
samples, and the wall time. examples/vae_jax.py is the same model in JAX.

    python examples/vae_torch.py --estimator st
    python examples/vae_torch.py --estimator reinmax --steps 500 --seed 1
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

import gumbelkit as gk
from gumbelkit.schedules import ExponentialAnnealing

LATENTS = 8  # N latent variables ...
CLASSES = 8  # ... of K classes each
HIDDEN = 256
PIXELS = 64
BATCH = 100
LEARNING_RATE = 2e-3
TEST_IMAGES = 297  # 1797 digits: 1500 to train, 297 held out
EVAL_SAMPLES = 10  # latent samples per test image in the reported -ELBO
DEFAULT_STEPS = 3000
# The temperature falls by a factor 2 over the first 2000 steps, refreshed every 100 steps.
RATE = math.log(2.0) / 2000
INTERVAL = 100
TAU_RANGE = {"st": (1.0, 0.5), "reinmax": (2.0, 1.0)}  # (tau0, tau_min)


def load_data(split_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return the train and test images, float32 in [0, 1], shape (n, 64)."""
    from sklearn.datasets import load_digits

    images = load_digits().data.astype(np.float32) / 16.0
    order = np.random.default_rng(split_seed).permutation(len(images))
    return images[order[TEST_IMAGES:]], images[order[:TEST_IMAGES]]


def schedule_for(estimator: str) -> ExponentialAnnealing:
    """Return the temperature schedule of ``estimator``."""
    tau0, tau_min = TAU_RANGE[estimator]
    return ExponentialAnnealing(tau0=tau0, rate=RATE, tau_min=tau_min, interval=INTERVAL)


class CategoricalVAE(nn.Module):
    """An MLP encoder to N x K logits and an MLP decoder of one-hot latents to pixel logits."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(PIXELS, HIDDEN), nn.ReLU(),
                                     nn.Linear(HIDDEN, LATENTS * CLASSES))
        self.decoder = nn.Sequential(nn.Linear(LATENTS * CLASSES, HIDDEN), nn.ReLU(),
                                     nn.Linear(HIDDEN, PIXELS))

    def negative_elbo(self, x: torch.Tensor, tau: float, estimator: str,
                      generator: torch.Generator, samples: int = 1) -> torch.Tensor:
        """Return the mean over ``x`` of the one-sample (or ``samples``-sample) -ELBO."""
        logits = self.encoder(x).reshape(-1, LATENTS, CLASSES)
        z = gk.gumbel_softmax(logits, tau=tau, hard=True, estimator=estimator, rng=generator,
                              sample_shape=samples)  # (samples, batch, N, K), exactly one-hot
        pixel_logits = self.decoder(z.reshape(samples, -1, LATENTS * CLASSES))
        reconstruction = nn.functional.binary_cross_entropy_with_logits(
            pixel_logits, x.expand_as(pixel_logits), reduction="none").sum(-1).mean(0)
        log_q = torch.log_softmax(logits, dim=-1)
        kl = (log_q.exp() * (log_q + math.log(CLASSES))).sum((-2, -1))  # KL(q || uniform)
        return (reconstruction + kl).mean()


def evaluate(model: CategoricalVAE, images: torch.Tensor, seed: int) -> float:
    """Return the test -ELBO in nats per image, averaged over ``EVAL_SAMPLES`` samples."""
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        # The forward value is the exact one-hot for every estimator and temperature.
        return float(model.negative_elbo(images, 1.0, "st", generator, EVAL_SAMPLES))


def main(argv: Sequence[str] | None = None) -> float:
    """Train, print the test -ELBO and the wall time, and return the final test -ELBO."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimator", choices=sorted(TAU_RANGE), default="st")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # One thread: the model is too small to gain from more, and they contend on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_and_evaluate(args.estimator, args.steps, args.seed)
    finally:
        torch.set_num_threads(threads)


def train_and_evaluate(estimator: str, steps: int, seed: int) -> float:
    """Train the model and return its final test -ELBO."""
    torch.manual_seed(seed)
    train, test = (torch.from_numpy(a) for a in load_data())
    model = CategoricalVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = schedule_for(estimator)
    generator = torch.Generator().manual_seed(seed)
    batches = np.random.default_rng(seed)

    start = time.perf_counter()
    initial = evaluate(model, test, seed)
    for step in range(steps):
        batch = train[batches.integers(0, len(train), BATCH)]
        loss = model.negative_elbo(batch, schedule(step), estimator, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if steps >= 10 and (step + 1) % (steps // 5) == 0:
            print(f"step {step + 1:5d}  tau {schedule(step):.3f}  train -ELBO {loss.item():.2f}")
    final = evaluate(model, test, seed)
    seconds = time.perf_counter() - start
    print(f"torch {estimator}: test -ELBO {final:.2f} nats/image "
          f"(at initialisation {initial:.2f}) after {steps} steps in {seconds:.1f} s")
    return final


if __name__ == "__main__":
    main()
