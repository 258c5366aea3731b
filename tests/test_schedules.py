"""gumbelkit.schedules: the exponential annealing schedule of Jang et al.
(docs/mathematics.md#temperature-annealing).

Expected values come from the closed form evaluated with NumPy, from the floor step
t* = log(tau0 / tau_min) / rate, and from a literal transcription of the public notebook's
training loop; never from the schedule itself.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import gumbelkit as gk
from gumbelkit.schedules import ExponentialAnnealing

PAPER = {"tau0": 1.0, "rate": 1e-4, "tau_min": 0.5, "interval": 500}


def closed_form(step, tau0, rate, tau_min, interval):
    """max(tau_min, tau0 exp(-rate N floor(t / N))), vectorised in float64."""
    step = np.asarray(step)
    return np.maximum(tau_min, tau0 * np.exp(-rate * interval * np.floor(step / interval)))


@pytest.mark.parametrize(
    "parameters",
    [PAPER,
     {"tau0": 1.0, "rate": 1e-5, "tau_min": 0.5, "interval": 1000},
     {"tau0": 2.5, "rate": 3e-3, "tau_min": 0.1, "interval": 7},
     {"tau0": 1.0, "rate": 0.01, "tau_min": 0.2, "interval": 1}],
    ids=["paper-1e-4", "paper-1e-5", "odd-interval", "every-step"],
)
def test_matches_the_closed_form(parameters):
    schedule = ExponentialAnnealing(**parameters)
    steps = np.unique(np.concatenate([np.arange(0, 3000), np.linspace(0, 10**6, 997).astype(int)]))
    expected = closed_form(steps, **parameters)
    actual = np.array([schedule(int(t)) for t in steps])
    np.testing.assert_allclose(actual, expected, rtol=1e-14)
    assert all(isinstance(schedule(int(t)), float) for t in steps[:5])


def test_constant_between_refreshes_and_decreasing_across_them():
    schedule = ExponentialAnnealing(**PAPER)
    for start in (0, 500, 4500):
        assert {schedule(t) for t in range(start, start + 500)} == {schedule(start)}
    values = [schedule(t) for t in range(0, 20_000, 500)]
    assert values == sorted(values, reverse=True)
    assert schedule(499) == 1.0
    assert schedule(500) == pytest.approx(math.exp(-0.05), rel=1e-15)


@pytest.mark.parametrize(("rate", "interval"), [(1e-4, 500), (1e-5, 1000), (3e-5, 1000),
                                               (0.013, 3)])
def test_the_floor_is_reached_at_the_first_refresh_after_t_star(rate, interval):
    tau0, tau_min = 1.0, 0.5
    schedule = ExponentialAnnealing(tau0=tau0, rate=rate, tau_min=tau_min, interval=interval)
    t_star = math.log(tau0 / tau_min) / rate
    assert schedule.floor_step == pytest.approx(t_star, rel=1e-15)
    first = interval * math.ceil(t_star / interval)  # the first refresh at or after t*
    assert schedule(first) == tau_min
    assert schedule(first - 1) > tau_min
    assert schedule(first - 1) == pytest.approx(tau0 * math.exp(-rate * (first - interval)),
                                                rel=1e-14)
    assert schedule(10 * first) == tau_min


def test_replicates_the_public_notebook_with_offset_one():
    # ericjang/gumbel-softmax, Categorical VAE.ipynb: the temperature starts at tau0 and is
    # reset after training steps i = 1 (mod 1000), i >= 1, to max(tau0 exp(-r i), MIN_TEMP).
    tau0, anneal_rate, min_temp = 1.0, 0.00003, 0.5
    schedule = ExponentialAnnealing(tau0=tau0, rate=anneal_rate, tau_min=min_temp,
                                    interval=1000, offset=1)
    np_temp = tau0
    used, after = [], []
    for i in range(1, 30_000):
        used.append(np_temp)  # the temperature of training step i
        if i % 1000 == 1:
            np_temp = np.maximum(tau0 * np.exp(-anneal_rate * i), min_temp)
        after.append(np_temp)
    assert np_temp == min_temp  # 30,000 steps pass t* = ln 2 / 3e-5 = 23,105
    steps = range(1, 30_000)
    np.testing.assert_allclose([schedule(i - 1) for i in steps], used, rtol=1e-15, atol=0)
    np.testing.assert_allclose([schedule(i) for i in steps], after, rtol=1e-15, atol=0)


def test_degenerate_schedules():
    constant = ExponentialAnnealing(tau0=0.7, rate=0.0, tau_min=0.5)
    assert {constant(t) for t in (0, 1000, 10**9)} == {0.7}
    assert constant.floor_step == math.inf
    floor_only = ExponentialAnnealing(tau0=0.5, rate=1e-3, tau_min=0.5)
    assert floor_only.floor_step == 0.0
    assert {floor_only(t) for t in (0, 1000, 10**9)} == {0.5}


def test_refresh_step():
    schedule = ExponentialAnnealing(interval=1000, offset=1)
    assert [schedule.refresh_step(t) for t in (0, 1, 2, 1000, 1001, 1002, 2000)] == [
        0, 1, 1, 1, 1001, 1001, 1001]
    plain = ExponentialAnnealing(interval=1000)
    assert [plain.refresh_step(t) for t in (0, 999, 1000, 2500)] == [0, 0, 1000, 2000]


def test_arguments_are_normalised_and_frozen():
    schedule = ExponentialAnnealing(tau0=2, rate=np.float32(0.5), tau_min=1, interval=np.int64(3))
    assert schedule == ExponentialAnnealing(tau0=2.0, rate=0.5, tau_min=1.0, interval=3)
    assert type(schedule.tau0) is float
    assert type(schedule.interval) is int
    assert schedule(np.int64(3)) == schedule(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.tau0 = 3.0  # type: ignore[misc]
    assert "ExponentialAnnealing(tau0=2.0" in repr(schedule)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [({"tau0": 0.0}, ValueError, "tau0 must be a positive finite number"),
     ({"tau0": math.inf}, ValueError, "tau0 must be a positive finite number"),
     ({"tau0": "1"}, TypeError, "tau0 must be a real number"),
     ({"tau_min": -0.5}, ValueError, "tau_min must be a positive finite number"),
     ({"tau_min": math.nan}, ValueError, "tau_min must be a positive finite number"),
     ({"tau0": 0.4, "tau_min": 0.5}, ValueError, "tau_min must be at most tau0"),
     ({"rate": -1e-4}, ValueError, "rate must be a non-negative finite number"),
     ({"rate": math.inf}, ValueError, "rate must be a non-negative finite number"),
     ({"rate": True}, TypeError, "rate must be a real number"),
     ({"interval": 0}, ValueError, "interval must be at least 1"),
     ({"interval": 10.0}, TypeError, "interval must be an int"),
     ({"offset": 1000}, ValueError, r"offset must lie in \[0, interval\)"),
     ({"offset": -1}, ValueError, r"offset must lie in \[0, interval\)"),
     ({"offset": 0.5}, TypeError, "offset must be an int")],
)
def test_bad_arguments(arguments, error, message):
    with pytest.raises(error, match=message):
        ExponentialAnnealing(**arguments)


@pytest.mark.parametrize(("step", "error"), [(-1, ValueError), (1.0, TypeError),
                                             (True, TypeError), ("3", TypeError)])
def test_bad_steps(step, error):
    with pytest.raises(error, match="step must be"):
        ExponentialAnnealing()(step)


def test_drives_a_training_loop():
    schedule = ExponentialAnnealing(tau0=1.0, rate=1e-3, tau_min=0.5, interval=100)
    logits = np.log(np.array([0.2, 0.3, 0.5]))
    taus = []
    for step in range(0, 1000, 100):
        tau = schedule(step)
        taus.append(tau)
        y = gk.gumbel_softmax(logits, tau=tau, rng=step)
        assert abs(y.sum() - 1.0) < 1e-12
    assert taus[0] == 1.0
    assert taus[-1] == 0.5
    assert gk.schedules.ExponentialAnnealing is ExponentialAnnealing


def _torch_temperatures(make_scheduler, tau0, steps):
    """The learning rates of a PyTorch scheduler over ``steps`` steps, from ``lr = tau0``."""
    torch = pytest.importorskip("torch", reason="PyTorch's schedulers are the reference")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=tau0)
    scheduler = make_scheduler(torch.optim.lr_scheduler, optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


def test_linear_annealing_is_pytorchs_linear_lr():
    schedule = gk.schedules.LinearAnnealing(tau0=2.0, tau_min=0.3, steps=300)
    reference = _torch_temperatures(
        lambda lr, opt: lr.LinearLR(opt, start_factor=1.0, end_factor=0.3 / 2.0, total_iters=300),
        2.0, 400)
    np.testing.assert_allclose([schedule(t) for t in range(400)], reference, rtol=1e-12)


def test_cosine_annealing_is_pytorchs_cosine_annealing_lr_held_at_the_floor():
    schedule = gk.schedules.CosineAnnealing(tau0=2.0, tau_min=0.3, steps=300)
    reference = _torch_temperatures(
        lambda lr, opt: lr.CosineAnnealingLR(opt, T_max=300, eta_min=0.3), 2.0, 301)
    ours = [schedule(t) for t in range(301)]
    np.testing.assert_allclose(ours, reference, rtol=1e-9)
    # PyTorch rises again after T_max; the temperature stays at the floor.
    assert schedule(10_000) == 0.3
    # The closed form at a few steps, from the formula.
    for t in (0, 75, 150, 299):
        assert schedule(t) == pytest.approx(0.3 + 1.7 * (1 + math.cos(math.pi * t / 300)) / 2)


@pytest.mark.parametrize("cls", ["LinearAnnealing", "CosineAnnealing"])
def test_falling_schedules_check_their_arguments(cls):
    make = getattr(gk.schedules, cls)
    with pytest.raises(ValueError, match="tau_min must be at most tau0"):
        make(tau0=0.5, tau_min=1.0)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        make(steps=0)
    with pytest.raises(TypeError, match="steps must be an int"):
        make(steps=1.5)
    with pytest.raises(ValueError, match="tau0 must be a positive finite number"):
        make(tau0=math.inf)
    with pytest.raises(ValueError, match="step must be non-negative"):
        make()(-1)


# --- endpoints, range and huge steps ---------------------------------------------------------

EXTREME_FALLS = [(1.0, 1e-17, 10), (1.0, 0.1, 10), (1e308, 1e-308, 7), (1.0, 1.0, 5),
                 (3.0, 2.9999999999999996, 3), (0.7, 0.3, 1)]


@pytest.mark.parametrize("cls", ["LinearAnnealing", "CosineAnnealing"])
@pytest.mark.parametrize(("tau0", "tau_min", "steps"), EXTREME_FALLS)
def test_falling_schedules_hit_their_endpoints_exactly_and_stay_between_them(
        cls, tau0, tau_min, steps):
    # tau0 + (tau_min - tau0) rounds to 0 for tau_min = 1e-17 and to 0.09999999999999998 for
    # 0.1; (tau0 - tau_min) * 2 overflows for tau0 = 1e308. The docstrings promise tau0 at
    # step 0 and tau_min from `steps` on; a temperature in between lies in [tau_min, tau0].
    schedule = getattr(gk.schedules, cls)(tau0=tau0, tau_min=tau_min, steps=steps)
    values = [schedule(t) for t in range(steps + 3)]
    assert values[0] == tau0
    assert values[steps:] == [tau_min] * 3
    assert all(tau_min <= v <= tau0 and math.isfinite(v) for v in values)
    assert values == sorted(values, reverse=True)


def test_cosine_annealing_of_a_huge_temperature_is_finite():
    schedule = gk.schedules.CosineAnnealing(tau0=1e308, tau_min=1e-308, steps=2)
    assert schedule(0) == 1e308
    # Half-way the cosine is 0: tau_min + (tau0 - tau_min) / 2 = 5e307 to rounding.
    assert schedule(1) == pytest.approx(5e307, rel=1e-15)


def test_exponential_annealing_of_extreme_temperatures():
    # tau0 / tau_min = 1e616 overflows float; its logarithm is 616 ln 10 = 1418.39.
    schedule = ExponentialAnnealing(tau0=1e308, tau_min=1e-308, rate=1.0, interval=1)
    assert schedule.floor_step == pytest.approx(616 * math.log(10), rel=1e-13)
    assert schedule(0) == 1e308
    # 1e308 exp(-1418) = exp(308 ln 10 - 1418) = 1.48e-308 > tau_min, though exp(-1418)
    # alone underflows to 0.
    assert schedule(1418) == pytest.approx(math.exp(308 * math.log(10) - 1418), rel=1e-9)
    assert schedule(1419) == 1e-308
    values = [schedule(t) for t in range(0, 1500, 7)]
    assert values == sorted(values, reverse=True)
    assert all(1e-308 <= v <= 1e308 for v in values)


@pytest.mark.parametrize(("schedule", "limit"), [
    (ExponentialAnnealing(), 0.5),
    (ExponentialAnnealing(rate=0.0, tau0=0.7), 0.7),
    (ExponentialAnnealing(rate=5e-324, interval=1), 0.5),  # floor_step overflows to inf
    (ExponentialAnnealing(offset=3, interval=7), 0.5),
    (gk.schedules.LinearAnnealing(tau0=2.0, tau_min=0.25), 0.25),
    (gk.schedules.CosineAnnealing(tau0=2.0, tau_min=0.25), 0.25),
], ids=["exponential", "constant", "tiny-rate", "offset", "linear", "cosine"])
def test_huge_steps_give_the_limit(schedule, limit):
    # 10**400 does not fit a float: int * float raises OverflowError.
    assert schedule(10**400) == limit


def test_exponential_annealing_of_a_step_beyond_the_float_range():
    # rate * 10**320 = 4.9406564584124654e-324 * 1e320 = 4.94e-4: far from the floor, with a
    # step no float holds.
    schedule = ExponentialAnnealing(tau0=1.0, rate=5e-324, tau_min=0.5, interval=1)
    assert schedule.floor_step == math.inf
    assert schedule(10**320) == pytest.approx(math.exp(-4.9406564584124654e-4), rel=1e-12)


@pytest.mark.parametrize(("cls", "arguments", "message"), [
    ("ExponentialAnnealing", {"tau0": 10**400}, "tau0 must be a positive finite number"),
    ("ExponentialAnnealing", {"rate": 10**400}, "rate must be a non-negative finite number"),
    ("ExponentialAnnealing", {"tau_min": -10**400}, "tau_min must be a positive finite number"),
    ("LinearAnnealing", {"tau0": 10**400}, "tau0 must be a positive finite number"),
    ("CosineAnnealing", {"tau_min": 10**400}, "tau_min must be a positive finite number"),
])
def test_huge_int_arguments_are_named(cls, arguments, message):
    with pytest.raises(ValueError, match=message):
        getattr(gk.schedules, cls)(**arguments)
