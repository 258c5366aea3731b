"""JAX logits sharded over two CPU devices keep their sharding through the samplers.

JAX fixes its device count when it starts, so the checks run in one subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` and report JSON; each test reads one
entry. Both kinds of mesh axis are covered: Explicit (sharding is part of the type) and Auto
(sharding propagates). The reference values are the same call on unsharded logits: sharding
must change where values are computed, never the values.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from gumbelkit.backends import unavailable_reason

pytestmark = pytest.mark.skipif(
    unavailable_reason("jax") is not None, reason=str(unavailable_reason("jax"))
)

MESHES = ("explicit", "auto")
SAMPLERS = ("soft", "hard", "max", "soft-samples", "max-samples")
MODES = ("eager", "jit")

SCRIPT = textwrap.dedent(
    r'''
    import json, re

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    import gumbelkit as gk
    from gumbelkit.backends import jax as adapter

    assert len(jax.devices()) == 2, jax.devices()
    rng = np.random.default_rng(0)
    values = rng.normal(size=(8, 6)).astype(np.float32)
    values[1, 2] = -np.inf  # a masked class stays masked on every shard
    SAMPLERS = {
        # name: (function of (logits, key), spec of the output's logits dimensions, samples)
        "soft": (lambda x, k: gk.gumbel_softmax(x, tau=0.5, rng=k), ("rows", None), 0),
        "hard": (lambda x, k: gk.gumbel_softmax(x, hard=True, rng=k), ("rows", None), 0),
        "max": (lambda x, k: gk.gumbel_max(x, rng=k), ("rows",), 0),
        "soft-samples": (
            lambda x, k: gk.gumbel_softmax(x, sample_shape=3, rng=k), ("rows", None), 1),
        "max-samples": (lambda x, k: gk.gumbel_max(x, sample_shape=3, rng=k), ("rows",), 1),
    }

    def shard_rows(x):
        return sorted(tuple(s.data.shape) for s in x.addressable_shards)

    def random_bit_shapes(text):
        # Shapes of the uint32 random bits in compiled HLO: local (per shard) or global.
        return sorted(set(re.findall(r"u32\[(\d+(?:,\d+)*)\]", text)))

    def eager(x, k):
        return {name: sample(x, k) for name, (sample, _, _) in SAMPLERS.items()}

    # One program for every sampler: a compilation costs about 2 s of CPU here.
    jitted = jax.jit(eager)
    report = {}
    key = jax.random.key(7)
    references = {name: np.asarray(out) for name, out in eager(jnp.asarray(values), key).items()}
    # Explicit mesh axes came with JAX 0.5; a Mesh built from devices has Auto axes.
    AxisType = getattr(jax.sharding, "AxisType", None)
    meshes = {"auto": Mesh(np.array(jax.devices()), ("rows",))}
    if AxisType is not None:
        meshes["explicit"] = jax.make_mesh((2,), ("rows",), axis_types=(AxisType.Explicit,))
    for kind, mesh in meshes.items():
        logits = jax.device_put(values, NamedSharding(mesh, P("rows", None)))
        for mode, run in (("eager", eager), ("jit", jitted)):
            outputs = run(logits, key)
            for name, (_, spec, lead) in SAMPLERS.items():
                expected = NamedSharding(mesh, P(*([None] * lead), *spec))
                out, reference = outputs[name], references[name]
                report[f"{kind}/{name}/{mode}"] = {
                    "sharding": str(out.sharding),
                    "keeps_sharding": bool(out.sharding.is_equivalent_to(expected, out.ndim)),
                    "shards": shard_rows(out),
                    "equal": bool(np.array_equal(np.asarray(out), reference)),
                    "max_abs_difference": float(np.max(np.abs(
                        np.asarray(out, np.float64) - reference.astype(np.float64),
                        where=np.isfinite(reference), out=np.zeros(reference.shape)))),
                }
        # The adapter's noise itself: drawn sharded like the output, each device its shard.
        placed = adapter.device(logits)
        u, _ = adapter.uniform(key, (3, 8, 6), jnp.float32, placed)
        draw_key = jax.random.split(key)[1]
        sharding = placed.output_sharding((3, 8, 6))
        compiled = adapter._sharded_uniform(sharding).lower(
            jax.device_put(draw_key, placed), shape=(3, 8, 6), dtype=jnp.float32
        ).compile()
        report[f"{kind}/noise"] = {
            "sharding": str(u.sharding),
            "keeps_sharding": bool(u.sharding.is_equivalent_to(
                NamedSharding(mesh, P(None, "rows", None)), 3)),
            "shards": shard_rows(u),
            "equal": bool(np.array_equal(
                np.asarray(u), np.asarray(adapter._bounded_uniform(draw_key, (3, 8, 6),
                                                                     jnp.float32)))),
            "random_bits": random_bit_shapes(compiled.as_text()),
        }
        if kind != "auto":  # eager calls on Explicit axes: see docs/backends.md
            continue
        # The exact tail's eager refinement draws (count, depth) uniforms on the same device:
        # a count the mesh does not divide is drawn whole, not sharded like the output. Wide
        # logits hold a few sliver entries per key; the keys give odd and even counts.
        wide = rng.normal(size=(8, 4096)).astype(np.float32)
        placed_wide = jax.device_put(wide, NamedSharding(mesh, P("rows", None)))
        counts, equal = [], True
        for seed in range(6):
            wide_key = jax.random.key(seed)
            u, _ = adapter.uniform(wide_key, wide.shape, jnp.float32, None)
            counts.append(int(jnp.sum(u >= 1.0 - 2.0**-12)))
            equal &= bool(np.array_equal(np.asarray(gk.gumbel_max(placed_wide, rng=wide_key)),
                                         np.asarray(gk.gumbel_max(jnp.asarray(wide),
                                                                  rng=wide_key))))
        odd, _ = adapter.uniform(key, (3, 8), jnp.float32, placed)
        report[f"{kind}/refinement"] = {
            "sliver_counts": counts,
            "equal": equal,
            "odd_rows_equal": bool(np.array_equal(np.asarray(odd), np.asarray(
                adapter._bounded_uniform(jax.random.split(key)[1], (3, 8), jnp.float32)))),
        }
    # Arrays beside the logits: JAX moves an uncommitted one, and refuses two committed to
    # different devices, where gumbelkit names the argument.
    first, second = jax.devices()
    on_first = jax.device_put(jnp.asarray(values), first)
    tau_second = jax.device_put(jnp.ones((8,), jnp.float32), second)
    try:
        gk.gumbel_softmax(on_first, tau=tau_second, rng=key)
        refused = ""
    except ValueError as error:
        refused = str(error)
    moved = gk.gumbel_softmax(on_first, tau=jnp.ones((8,), jnp.float32), rng=key)
    report["placement"] = {
        "refused": refused,
        "sharded_repr": repr(adapter.device(jax.device_put(values, NamedSharding(
            meshes["auto"], P("rows", None))))),
        "moved_equal": bool(np.array_equal(np.asarray(moved), np.asarray(
            gk.gumbel_softmax(jnp.asarray(values), tau=1.0, rng=key)))),
        "sharded_with_uncommitted": bool(np.array_equal(
            np.asarray(gk.gumbel_softmax(jax.device_put(values, NamedSharding(
                meshes["auto"], P("rows", None))), tau=jnp.full((8,), 0.5), rng=key)),
            np.asarray(gk.gumbel_softmax(jnp.asarray(values), tau=0.5, rng=key)))),
    }
    print(json.dumps(report))
    '''
)


@pytest.fixture(scope="module")
def report() -> dict[str, dict[str, object]]:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    # Compiling with XLA's optimizations costs three times the CPU; sharding propagation and
    # the SPMD partitioner, which this file tests, run either way.
    env["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _entry(report, key):
    if key not in report:
        pytest.skip(f"{key.split('/')[0]} mesh axes need JAX >= 0.5")
    return report[key]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("mesh", MESHES)
def test_output_keeps_row_sharding(report, mesh, sampler, mode):
    entry = _entry(report, f"{mesh}/{sampler}/{mode}")
    assert entry["keeps_sharding"], f"lost the row sharding: {entry['sharding']}"
    # Two shards of half the rows each (the rows are axis 0, or axis 1 after a sample axis).
    rows_axis = 1 if sampler.endswith("samples") else 0
    shards = entry["shards"]
    assert len(shards) == 2
    assert all(shape[rows_axis] == 4 for shape in shards), shards


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("mesh", MESHES)
def test_sharding_does_not_change_values(report, mesh, sampler, mode):
    entry = _entry(report, f"{mesh}/{sampler}/{mode}")
    if sampler.startswith("soft"):
        # exp and division may be fused differently in a sharded program.
        assert entry["max_abs_difference"] <= 1e-6, entry
    else:
        assert entry["equal"], entry


@pytest.mark.parametrize("mesh", MESHES)
def test_noise_is_drawn_per_shard(report, mesh):
    entry = _entry(report, f"{mesh}/noise")
    assert entry["keeps_sharding"], entry["sharding"]
    assert entry["shards"] == [[3, 4, 6], [3, 4, 6]]
    assert entry["equal"], "sharded noise differs from the unsharded draw of the same key"
    # Each device generates the random bits of its own shard only, never the whole draw.
    assert "3,4,6" in entry["random_bits"], entry["random_bits"]
    assert "3,8,6" not in entry["random_bits"], entry["random_bits"]


def test_a_refinement_the_mesh_does_not_divide_is_drawn_whole(report):
    # An eager sharded call whose sliver holds an odd count used to fail: the refinement's
    # (count, depth) draw was sharded like the output, and JAX cannot split 3 rows in 2.
    entry = report["auto/refinement"]
    assert any(count % 2 for count in entry["sliver_counts"]), entry  # the case is exercised
    assert entry["equal"], entry
    assert entry["odd_rows_equal"], entry


def test_an_array_committed_to_another_device_is_named(report):
    entry = report["placement"]
    assert re.fullmatch(r"tau must be on the device of logits \(.*0\); got an array on .*1",
                        entry["refused"]), entry
    assert entry["moved_equal"], entry  # an uncommitted tau is taken where the logits are
    # A message names a sharded array's place by its mesh and spec, not the replicated P().
    assert entry["sharded_repr"] == "ShardedDevice(mesh={'rows': 2}, array_spec=P('rows', None))"
    assert entry["sharded_with_uncommitted"], entry
