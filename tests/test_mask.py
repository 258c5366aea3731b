"""``mask=`` on every sampler and ``return_index=`` on hard samples.

A False mask entry is the same as a ``-inf`` logit: the expected values are the samplers' own
outputs on logits with ``-inf`` written in by NumPy, under the same seed (an agreement, the
property under test), and the index of a one-hot is checked against ``gumbel_max`` of the same
noise and against NumPy's argmax of the sample.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make, to_numpy

import gumbelkit as gk

LOGITS = np.log(np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.4, 0.3, 0.2, 0.1]]))
MASK = np.array([[True, False, True, True], [False, True, True, False], [True, True, True, False]])

SAMPLERS = {
    "soft": lambda x, **kw: gk.gumbel_softmax(x, tau=0.5, sample_shape=20, rng=3, **kw),
    "hard": lambda x, **kw: gk.gumbel_softmax(x, tau=0.5, hard=True, sample_shape=20, rng=3,
                                              **kw),
    "max": lambda x, **kw: gk.gumbel_max(x, sample_shape=20, rng=3, **kw),
    "categorical": lambda x, **kw: gk.categorical(x, sample_shape=20, rng=3, **kw),
    "top_k": lambda x, **kw: gk.gumbel_top_k(x, 2, sample_shape=20, rng=3, **kw),
    "relaxed_top_k": lambda x, **kw: gk.relaxed_top_k(x, 2, tau=0.5, sample_shape=20, rng=3,
                                                      **kw),
    "tokens": lambda x, **kw: gk.sample_tokens(x, top_p=0.9, rng=3, **kw),
}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_false_mask_entry_is_a_minus_inf_logit(xp, sampler):
    draw = SAMPLERS[sampler]
    masked = to_numpy(draw(make(xp, LOGITS), mask=make(xp, MASK, "bool")))
    expected = to_numpy(draw(make(xp, np.where(MASK, LOGITS, -np.inf))))
    np.testing.assert_array_equal(masked, expected)


def test_the_mask_broadcasts(xp):
    row_mask = make(xp, np.array([True, False, True, False]), "bool")
    draws = to_numpy(gk.gumbel_max(make(xp, LOGITS), mask=row_mask, sample_shape=200, rng=0))
    assert set(np.unique(draws)) <= {0, 2}
    draws = to_numpy(gk.categorical(make(xp, LOGITS), mask=row_mask, sample_shape=200, rng=0,
                                    method="auto"))
    assert set(np.unique(draws)) <= {0, 2}


def test_bad_masks_are_refused(xp):
    logits = make(xp, LOGITS)
    with pytest.raises(TypeError, match="mask must have a boolean dtype"):
        gk.gumbel_max(logits, mask=make(xp, MASK.astype(np.float64)), rng=0)
    with pytest.raises(ValueError, match="mask of shape"):
        gk.gumbel_max(logits, mask=make(xp, np.ones(5, dtype=bool), "bool"), rng=0)
    with pytest.raises(TypeError, match="mask must be a boolean array of the same library"):
        gk.gumbel_max(logits, mask=[True, False, True, True], rng=0)


def test_masked_classes_get_zero_gradient():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    logits = torch.tensor(LOGITS, requires_grad=True)
    sample = gk.gumbel_softmax(logits, tau=0.5, hard=True, rng=1, mask=torch.tensor(MASK))
    (sample * torch.arange(4.0)).sum().backward()
    assert torch.all(logits.grad[~torch.tensor(MASK)] == 0)
    assert torch.all(torch.isfinite(logits.grad))


def test_return_index_is_the_one_hots_index(xp):
    logits = make(xp, LOGITS)
    noise = make(xp, np.random.default_rng(4).gumbel(size=(20, 3, 4)))
    sample, index = gk.gumbel_softmax(logits, tau=0.5, hard=True, noise=noise,
                                      sample_shape=20, return_index=True)
    np.testing.assert_array_equal(to_numpy(index), np.argmax(to_numpy(sample), axis=-1))
    np.testing.assert_array_equal(to_numpy(index),
                                  to_numpy(gk.gumbel_max(logits, noise=noise, sample_shape=20)))
    assert tuple(index.shape) == (20, 3)
    # Class axis first; an invalid row gives the number of classes.
    rows = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]]).T
    sample, index = gk.gumbel_softmax(make(xp, rows), hard=True, axis=0, rng=2,
                                      return_index=True)
    got = to_numpy(index)
    assert got[0] == 3
    assert got[1] == np.argmax(to_numpy(sample)[:, 1])
    with pytest.raises(ValueError, match="return_index=True needs hard=True"):
        gk.gumbel_softmax(logits, rng=0, return_index=True)
