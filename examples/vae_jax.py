"""Train a categorical VAE on scikit-learn's 8x8 digits with JAX and hard Gumbel samples.

The same model, data split, schedules and hyperparameters as examples/vae_torch.py: N = 8
latent variables of K = 8 classes, MLP encoder 64 -> 256 -> N*K logits and decoder
N*K -> 256 -> 64 Bernoulli logits (PyTorch's default initialisation of linear layers), a
uniform prior with the KL computed exactly from the encoder's softmax, exactly one-hot latents
from ``gk.gumbel_softmax(hard=True)`` and Adam (written out here: optax is not a dependency).
``--estimator st`` anneals the temperature from 1 to 0.5; ``--estimator reinmax`` from 2 to 1,
since ReinMax prefers tau >= 1 (docs/estimators.md). The training step is one ``jax.jit``
function; the temperature is a traced argument, so a new temperature does not recompile it.

    python examples/vae_jax.py --estimator st
    python examples/vae_jax.py --estimator reinmax --steps 500 --seed 1
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gumbelkit as gk
from gumbelkit.schedules import ExponentialAnnealing

LATENTS = 8  # N latent variables ...
CLASSES = 8  # ... of K classes each
HIDDEN = 256
PIXELS = 64
BATCH = 100
LEARNING_RATE = 2e-3
BETAS = (0.9, 0.999)  # Adam's, as torch.optim.Adam's defaults
EPSILON = 1e-8
TEST_IMAGES = 297  # 1797 digits: 1500 to train, 297 held out
EVAL_SAMPLES = 10  # latent samples per test image in the reported -ELBO
DEFAULT_STEPS = 3000
# The temperature falls by a factor 2 over the first 2000 steps, refreshed every 100 steps.
RATE = math.log(2.0) / 2000
INTERVAL = 100
TAU_RANGE = {"st": (1.0, 0.5), "reinmax": (2.0, 1.0)}  # (tau0, tau_min)

Params = dict[str, Any]


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


def init_params(key: jax.Array) -> Params:
    """Return the weights, uniform in +-1/sqrt(fan_in) as torch.nn.Linear initialises them."""
    shapes = {"enc1": (PIXELS, HIDDEN), "enc2": (HIDDEN, LATENTS * CLASSES),
              "dec1": (LATENTS * CLASSES, HIDDEN), "dec2": (HIDDEN, PIXELS)}
    params: Params = {}
    for key_of_layer, (name, (fan_in, fan_out)) in zip(
            jax.random.split(key, len(shapes)), shapes.items(), strict=True):
        bound = 1.0 / math.sqrt(fan_in)
        w_key, b_key = jax.random.split(key_of_layer)
        params[name] = {"w": jax.random.uniform(w_key, (fan_in, fan_out), minval=-bound,
                                                maxval=bound),
                        "b": jax.random.uniform(b_key, (fan_out,), minval=-bound, maxval=bound)}
    return params


def mlp(layer1: Params, layer2: Params, x: jax.Array) -> jax.Array:
    """Return ``layer2(relu(layer1(x)))``."""
    return jax.nn.relu(x @ layer1["w"] + layer1["b"]) @ layer2["w"] + layer2["b"]


def negative_elbo(params: Params, x: jax.Array, tau: jax.Array | float, key: jax.Array,
                  estimator: str, samples: int = 1) -> jax.Array:
    """Return the mean over ``x`` of the one-sample (or ``samples``-sample) -ELBO."""
    logits = mlp(params["enc1"], params["enc2"], x).reshape(-1, LATENTS, CLASSES)
    z = gk.gumbel_softmax(logits, tau=tau, hard=True, estimator=estimator, rng=key,
                          sample_shape=samples)  # (samples, batch, N, K), exactly one-hot
    pixel_logits = mlp(params["dec1"], params["dec2"],
                       z.reshape(samples, -1, LATENTS * CLASSES))
    # Bernoulli log-likelihood with the grey levels as targets, as binary_cross_entropy_with_logits.
    log_p = x * jax.nn.log_sigmoid(pixel_logits) + (1 - x) * jax.nn.log_sigmoid(-pixel_logits)
    reconstruction = -log_p.sum(-1).mean(0)
    log_q = jax.nn.log_softmax(logits, axis=-1)
    kl = (jnp.exp(log_q) * (log_q + math.log(CLASSES))).sum((-2, -1))  # KL(q || uniform)
    return (reconstruction + kl).mean()


@partial(jax.jit, static_argnames="estimator")
def train_step(params: Params, adam: Params, x: jax.Array, tau: jax.Array, key: jax.Array,
               estimator: str) -> tuple[Params, Params, jax.Array]:
    """Return the parameters and Adam state after one step, and the batch's -ELBO."""
    loss, grads = jax.value_and_grad(negative_elbo)(params, x, tau, key, estimator)
    count = adam["count"] + 1
    m = jax.tree.map(lambda m, g: BETAS[0] * m + (1 - BETAS[0]) * g, adam["m"], grads)
    v = jax.tree.map(lambda v, g: BETAS[1] * v + (1 - BETAS[1]) * g * g, adam["v"], grads)
    m_scale = 1 / (1 - BETAS[0] ** count)  # bias corrections
    v_scale = 1 / (1 - BETAS[1] ** count)
    params = jax.tree.map(
        lambda p, m, v: p - LEARNING_RATE * m * m_scale / (jnp.sqrt(v * v_scale) + EPSILON),
        params, m, v)
    return params, {"m": m, "v": v, "count": count}, loss


@jax.jit
def evaluate_jit(params: Params, images: jax.Array, key: jax.Array) -> jax.Array:
    """Return the test -ELBO; the forward value is the exact one-hot for every estimator."""
    return negative_elbo(params, images, 1.0, key, "st", EVAL_SAMPLES)


def evaluate(params: Params, images: jax.Array, seed: int) -> float:
    """Return the test -ELBO in nats per image, averaged over ``EVAL_SAMPLES`` samples."""
    return float(evaluate_jit(params, images, jax.random.key(seed + 1)))


def main(argv: Sequence[str] | None = None) -> float:
    """Train, print the test -ELBO and the wall time, and return the final test -ELBO."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimator", choices=sorted(TAU_RANGE), default="st")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    train_np, test_np = load_data()
    test = jnp.asarray(test_np)
    init_key, sample_key = jax.random.split(jax.random.key(args.seed))
    params = init_params(init_key)
    adam = {"m": jax.tree.map(jnp.zeros_like, params),
            "v": jax.tree.map(jnp.zeros_like, params), "count": jnp.zeros((), jnp.int32)}
    schedule = schedule_for(args.estimator)
    batches = np.random.default_rng(args.seed)

    start = time.perf_counter()  # the timing includes jax.jit's compilation
    initial = evaluate(params, test, args.seed)
    for step in range(args.steps):
        batch = jnp.asarray(train_np[batches.integers(0, len(train_np), BATCH)])
        params, adam, loss = train_step(params, adam, batch, jnp.float32(schedule(step)),
                                        jax.random.fold_in(sample_key, step), args.estimator)
        if args.steps >= 10 and (step + 1) % (args.steps // 5) == 0:
            print(f"step {step + 1:5d}  tau {schedule(step):.3f}  train -ELBO {float(loss):.2f}")
    final = evaluate(params, test, args.seed)
    seconds = time.perf_counter() - start
    print(f"jax {args.estimator}: test -ELBO {final:.2f} nats/image "
          f"(at initialisation {initial:.2f}) after {args.steps} steps in {seconds:.1f} s")
    return final


if __name__ == "__main__":
    main()
