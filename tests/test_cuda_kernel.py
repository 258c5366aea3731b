"""The fused CUDA kernel for CuPy (``gumbelkit/backends/_cuda_gumbel_softmax.cu``), without a GPU.

Two checks need no GPU:

- The source is compiled as host C++ by tests/cuda_host_emulation.cpp, with one thread per CUDA
  thread and a barrier for ``__syncthreads``, and run on NumPy arrays through
  ``gumbelkit.backends._cuda_fused``, the same host code the CuPy adapter runs. This checks the
  Philox words bit for bit against the published known answers and a NumPy Philox; the noise
  against a NumPy reference of its construction, on a real stream with draws in the sliver and
  on scripted words that reach every level; its upper tail's exact law, summed over the
  construction's atoms through the kernel's own transform; and the kernel's softmax, masks,
  invalid rows, both kernels and the shared-memory merge against float64 references. Blocks of
  4 threads (not 256) keep the emulation fast; a second build with 1 thread per block checks
  that the result does not depend on the block size.
- nvcc compiles the same source for the H100 (sm_90) without warnings or register spills.

What neither shows is the kernel running on a GPU, and its speed.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    SLIVER_START,
    exact_gumbel_from_words,
    exact_tail_levels,
    np_softmax,
    philox4x32_10,
    philox_exact_gumbel,
    philox_gumbel,
    philox_words,
    scripted_levels,
    scripted_words,
    textbook_levels,
)
from scipy import stats

from gumbelkit.backends import _cuda_fused
from gumbelkit.conformance import tails

HERE = Path(__file__).parent
EMULATION = HERE / "cuda_host_emulation.cpp"
SOURCE = HERE.parent / "gumbelkit" / "backends" / _cuda_fused.SOURCE_FILE
ALPHA = 1e-6
THRESHOLDS = np.linspace(-3.0, 60.0, 631)

# The kernel computes the invalid rows' NaN on purpose; NumPy's float64 references warn there.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# Random123's kat_vectors: philox4x32 10, counter (4 words), key (2 words) -> output (4 words).
KNOWN_ANSWERS = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]


class Emulation:
    """The kernel source built as a host library with ``block`` threads per block."""

    def __init__(self, library: Path) -> None:
        self.lib = ctypes.CDLL(str(library))
        self.block = self.lib.gk_block_size()
        pointer = ctypes.c_void_p
        self.lib.gk_launch.argtypes = [ctypes.c_char_p, ctypes.c_longlong, pointer, pointer,
                                       pointer, pointer, ctypes.c_longlong, ctypes.c_longlong,
                                       ctypes.c_float]
        self.lib.gk_philox.argtypes = [pointer, pointer, pointer]
        self.lib.gk_noise_words.argtypes = [pointer, ctypes.c_longlong, pointer]
        self.lib.gk_gumbel_given_first_words.argtypes = [ctypes.c_ulonglong, pointer, pointer,
                                                         ctypes.c_longlong, pointer]

    def philox(self, counter: list[int], key: list[int]) -> list[int]:
        c = np.array(counter, dtype=np.uint32)
        k = np.array(key, dtype=np.uint32)
        out = np.zeros(4, dtype=np.uint32)
        self.lib.gk_philox(c.ctypes.data, k.ctypes.data, out.ctypes.data)
        return [int(w) for w in out]

    def noise_from_words(self, words: np.ndarray) -> np.ndarray:
        """The kernel's ``gk_noise_from_words`` on ``(n, 8)`` uint32 words."""
        words = np.ascontiguousarray(words, dtype=np.uint32)
        out = np.empty(len(words), dtype=np.float32)
        self.lib.gk_noise_words(words.ctypes.data, len(words), out.ctypes.data)
        return out

    def gumbel_given_first(self, seed: int, index: np.ndarray, first: np.ndarray) -> np.ndarray:
        """The kernel's ``gk_gumbel_given_first`` at ``index`` from ``(n, 4)`` first words."""
        index = np.ascontiguousarray(index, dtype=np.uint64)
        first = np.ascontiguousarray(first, dtype=np.uint32)
        out = np.empty(len(index), dtype=np.float32)
        self.lib.gk_gumbel_given_first_words(seed, index.ctypes.data, first.ctypes.data,
                                             len(index), out.ctypes.data)
        return out

    def launch(self, name: str, n_rows: int, rows: np.ndarray, out: np.ndarray,
               seed: np.ndarray, noise_out: np.ndarray | None, n_cols: int, n_logit_rows: int,
               tau: float) -> None:
        for array, dtype in ((rows, np.float32), (out, np.float32), (seed, np.int64)):
            assert array.dtype == dtype
            assert array.flags.c_contiguous
        if noise_out is not None:
            assert noise_out.dtype == np.float32
            assert noise_out.size == out.size
        status = self.lib.gk_launch(
            name.encode(), n_rows, rows.ctypes.data, out.ctypes.data, seed.ctypes.data,
            None if noise_out is None else noise_out.ctypes.data, n_cols, n_logit_rows, tau,
        )
        assert status == 0, f"unknown kernel {name}"

    def sample(self, logits: np.ndarray, tau: float, *, axis: int = -1,
               sample_shape: tuple[int, ...] = (), seed: int = 0,
               noise_out: np.ndarray | None = None) -> np.ndarray:
        result = _cuda_fused.gumbel_softmax(
            logits, tau, axis, sample_shape, np.array([seed], dtype=np.int64), self.launch, np,
            noise_out=noise_out, block=self.block,
        )
        assert result is not None
        return result


def _build(directory: Path, block: int) -> Path:
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++ to build the kernel's host emulation (C++20: std::barrier)")
    library = directory / f"gumbelkit_cuda_emulation_{block}.so"
    subprocess.run(
        [compiler, "-std=c++20", "-O2", "-shared", "-fPIC", "-pthread", "-Wall", "-Wextra",
         "-Werror", "-Wno-unknown-pragmas", f"-DGK_BLOCK={block}", f'-DGK_SOURCE="{SOURCE}"',
         str(EMULATION), "-o", str(library)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return library


@pytest.fixture(scope="module")
def emulation(tmp_path_factory: pytest.TempPathFactory) -> Emulation:
    return Emulation(_build(tmp_path_factory.mktemp("cuda"), 4))


@pytest.fixture(scope="module")
def single_thread_emulation(tmp_path_factory: pytest.TempPathFactory) -> Emulation:
    return Emulation(_build(tmp_path_factory.mktemp("cuda1"), 1))


def _logits(rows: int = 10, classes: int = 37, seed: int = 0) -> np.ndarray:
    x = (np.random.default_rng(seed).normal(size=(rows, classes)) * 2).astype(np.float32)
    x[1, :5] = -np.inf  # masked classes
    x[2] = -np.inf  # no finite logit: invalid
    x[3, 7] = np.nan  # invalid
    x[4, 9] = np.inf  # invalid
    return x


INVALID_ROWS = [2, 3, 4]


def _reference(x: np.ndarray, noise: np.ndarray, tau: float) -> np.ndarray:
    """softmax((x + G) / tau) in float64 from the kernel's own float32 noise."""
    z = x.astype(np.float64) + noise.astype(np.float64)
    return np_softmax((z - z.max(axis=-1, keepdims=True)) / tau)


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS)
def test_philox_known_answers(emulation, counter, key, expected):
    assert emulation.philox(counter, key) == expected
    assert philox4x32_10(counter, key).tolist() == expected  # the tests' own NumPy Philox


def test_noise_is_the_philox_stream(emulation):
    # Flat output index i gets the exact-tail noise of Philox counter (lo(i), hi(i), 0, 0) (and
    # (.., 1, 0) deep in the sliver): the stream of the Triton kernel, whose test draws from this
    # seed too (tests/triton_interpreted.py). 2**19 draws: about 128 in the sliver, one on level 2.
    x = np.zeros((256, 1024), dtype=np.float32)
    noise = np.empty((2, *x.shape), dtype=np.float32)
    seed = 0x2777_374B_723B_969B
    emulation.sample(x, 1.0, sample_shape=(2,), seed=seed, noise_out=noise)
    words = philox_words(seed, np.arange(noise.size))
    k = words >> np.uint32(9)
    sliver = k[:, 0] >= SLIVER_START
    assert sliver.sum() > 64
    assert np.any(sliver & (k[:, 1] < 2**11))  # a draw on level 2
    values = noise.ravel()
    # float32 logf against float64: a few ulp.
    np.testing.assert_allclose(values, philox_exact_gumbel(seed, np.arange(values.size)),
                               rtol=1e-6, atol=1e-6)
    # Outside the sliver, the textbook noise -log(-log u) of the same stream.
    textbook = philox_gumbel(seed, np.arange(values.size))
    np.testing.assert_allclose(values[~sliver], textbook[~sliver], rtol=1e-6, atol=1e-6)
    assert values[sliver].min() > values[~sliver].max()


def test_noise_from_scripted_words_reaches_every_level(emulation):
    # gk_noise_from_words on words that decide the draw on each level 0 (the body) .. 7, random
    # grid indices and the boundaries, against the NumPy reference.
    for level, words in scripted_levels(20000):
        np.testing.assert_allclose(emulation.noise_from_words(words),
                                   exact_gumbel_from_words(words), rtol=1e-6, atol=1e-6,
                                   err_msg=f"level {level}")


def test_the_second_philox_block_is_counter_one(emulation):
    # Scripted first words that reach level 4 make the kernel draw the second block itself, at
    # counter (lo(i), hi(i), 1, 0); hi(i) != 0 included.
    rng = np.random.default_rng(8)
    seed = 0x2777_374B_723B_969B
    first = np.concatenate([scripted_words(level, rng.integers(2**11, SLIVER_START, 64), rng)
                            for level in (0, 1, 2, 4)])[:, :4]
    index = np.concatenate([rng.integers(0, 2**40, 255), [2**64 - 1]]).astype(np.uint64)
    words = np.concatenate([first, philox_words(seed, index)[:, 4:]], axis=1)
    np.testing.assert_allclose(emulation.gumbel_given_first(seed, index, first),
                               exact_gumbel_from_words(words), rtol=1e-6, atol=1e-6)


def test_noise_upper_tail_is_exact_up_to_60(emulation):
    # P(G > t) exactly, from the construction's atoms through the kernel's own
    # gk_noise_from_words (monotone on every point evaluated), against the Gumbel law.
    law = tails.atoms_tail_probability(exact_tail_levels(emulation.noise_from_words),
                                       THRESHOLDS)
    error = np.abs(law / tails.true_tail(THRESHOLDS) - 1.0)
    assert error.max() <= 1e-3, (THRESHOLDS[np.argmax(error)], error.max())
    # The check sees the textbook noise: its tail ends near t = 16.6.
    textbook = tails.atoms_tail_probability(textbook_levels(), THRESHOLDS)
    assert np.max(np.abs(textbook / tails.true_tail(THRESHOLDS) - 1.0)) > 0.5
    # And the monotonicity check sees a transform that is not monotone.
    with pytest.raises(ValueError, match="monotone"):
        tails.atoms_tail_probability(
            [tails.AtomLevel(lambda k: np.sin(k / 1000.0), 0, 2**23 - 1, 2.0**-23, True)],
            THRESHOLDS)


def test_noise_is_standard_gumbel(emulation):
    # KS against the Gumbel CDF (scipy.stats.gumbel_r), n = 240,000 at alpha 1e-6: it detects a
    # sup-distance of about 0.0055 between the CDFs (a location shift of about 0.015).
    x = np.zeros((480, 500), dtype=np.float32)
    noise = np.empty(x.shape, dtype=np.float32)
    emulation.sample(x, 1.0, seed=11, noise_out=noise)
    values = noise.ravel()
    assert np.isfinite(values).all()
    assert stats.kstest(values, "gumbel_r").pvalue > ALPHA
    assert len(np.unique(noise[:, 0])) == 480  # every element has its own counter


@pytest.mark.parametrize("tau", [1.0, 0.5, 3.0, 1e-30])
@pytest.mark.parametrize("classes", [10, 30, 40])
def test_values_are_the_softmax_of_the_kernel_noise(emulation, tau, classes):
    # 10 and 30 classes take cached kernels (blocks of 4 threads hold up to 32 classes), 40 the
    # two-pass one.
    x = _logits(classes=classes)
    noise = np.empty((2, *x.shape), dtype=np.float32)
    y = emulation.sample(x, tau, sample_shape=(2,), seed=3, noise_out=noise)
    assert y.dtype == np.float32
    assert y.shape == (2, *x.shape)
    expected = _reference(x, noise, tau)
    valid = [r for r in range(x.shape[0]) if r not in INVALID_ROWS]
    assert np.isnan(y[:, INVALID_ROWS]).all()
    assert np.isfinite(y[:, valid]).all()
    assert (y[:, 1, :5] == 0).all()
    np.testing.assert_allclose(y[:, valid], expected[:, valid], rtol=4e-6, atol=1e-30)


@pytest.mark.parametrize("classes", [1, 4, 5, 8, 9, 16, 17, 32, 33, 200])
def test_every_kernel_and_block_size_gives_the_same_sample(
    emulation, single_thread_emulation, classes
):
    # Row lengths around each cache size: cached<1> to <8>, then two-pass. With one thread per
    # block there is no merge at all, and every row takes the two-pass kernel past 8 classes.
    x = np.random.default_rng(classes).normal(size=(5, classes)).astype(np.float32)
    x[0, ::2] = -np.inf  # a masked run, and (with one class) a row of nothing but -inf
    noise = np.empty((3, *x.shape), dtype=np.float32)
    threads4 = emulation.sample(x, 0.7, sample_shape=(3,), seed=21, noise_out=noise)
    threads1 = single_thread_emulation.sample(x, 0.7, sample_shape=(3,), seed=21)
    np.testing.assert_array_equal(np.isnan(threads4), np.isnan(threads1))
    np.testing.assert_allclose(threads4, threads1, rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(threads4, _reference(x, noise, 0.7), rtol=4e-6, atol=1e-30)


@pytest.mark.parametrize("classes", [10, 40])
def test_rows_far_from_zero_keep_their_values(emulation, classes):
    # x + G in float32 is rounded at the magnitude of x (a spacing of 0.0625 at 1e6), which
    # moved such rows' probabilities by up to 3%; as the composed path, both kernels subtract
    # the maximum of a row beyond 2**6 of 0 first. Reference: the float64 softmax of x + G on
    # the kernel's noise, where the sum is exact enough. The third row has masked classes.
    x = _logits(classes=classes)[[0, 6, 1, 5]] + np.array([[1e6], [-1e6], [-3e4], [60.0]],
                                                          dtype=np.float32)
    noise = np.empty(x.shape, dtype=np.float32)
    y = emulation.sample(x, 1.0, seed=4, noise_out=noise)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, _reference(x, noise, 1.0), rtol=4e-6, atol=1e-30)


def test_a_masked_start_does_not_poison_the_running_sum(emulation):
    # Threads whose values are all -inf merge a (-inf, 0) pair, in both kernels.
    for classes in (20, 200):
        x = np.random.default_rng(1).normal(size=(2, classes)).astype(np.float32)
        x[:, : classes - 3] = -np.inf
        y = emulation.sample(x, 0.5, seed=6)
        assert np.isfinite(y).all()
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-6)
        assert (y[:, : classes - 3] == 0).all()


def test_huge_logits_and_tiny_temperatures_stay_finite(emulation):
    # z / tau would overflow; every step divides a difference that is at most 0.
    x = np.array([[3e38, -3e38, 3e38, 0.0], [1.0, 1.0 + 2**-20, 0.5, -1.0]], dtype=np.float32)
    for tau in (1e-30, 1.17549435e-38, 0.5, 1e30):
        y = emulation.sample(x, tau, seed=2, sample_shape=(4,))
        assert np.isfinite(y).all(), tau
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-6)


def test_axis_samples_and_seeds(emulation):
    x = _logits()[[0, 1, 5, 6]]
    first = emulation.sample(x, 1.0, sample_shape=(2,), seed=9)
    np.testing.assert_array_equal(first, emulation.sample(x, 1.0, sample_shape=(2,), seed=9))
    assert not np.array_equal(first, emulation.sample(x, 1.0, sample_shape=(2,), seed=10))
    assert not np.array_equal(first[0], first[1])  # two samples of the same rows
    # Classes on axis 0: the same values as the transposed call (same flat indices per class).
    moved = emulation.sample(np.asfortranarray(x.T), 1.0, axis=0, seed=9)
    np.testing.assert_array_equal(moved, emulation.sample(x, 1.0, seed=9).T)
    # A batch dimension in the middle: samples first, classes where the logits have them.
    batched = np.stack([x, x + 1], axis=1)  # (4, 2, 37)
    y = emulation.sample(np.moveaxis(batched, -1, 0), 1.0, axis=0, sample_shape=(3,), seed=4)
    assert y.shape == (3, 37, 4, 2)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)


def test_where_the_kernel_does_not_apply(emulation):
    seed = np.array([0], dtype=np.int64)

    def launch(*args: object) -> None:
        raise AssertionError("launched")

    for x, sample_shape in ((np.zeros((3, 4), dtype=np.float64), ()),
                            (np.zeros((3, 0), dtype=np.float32), ()),
                            (np.zeros((0, 4), dtype=np.float32), ()),
                            (np.zeros((3, 4), dtype=np.float32), (0,)),
                            (np.zeros((2**16, 1), dtype=np.float32), (2**15,))):
        assert _cuda_fused.gumbel_softmax(x, 1.0, -1, sample_shape, seed, launch, np) is None


def test_kernel_choice():
    assert _cuda_fused.kernel_name(1) == "gumbel_softmax_cached<1>"
    assert _cuda_fused.kernel_name(256) == "gumbel_softmax_cached<1>"
    assert _cuda_fused.kernel_name(257) == "gumbel_softmax_cached<2>"
    assert _cuda_fused.kernel_name(1024) == "gumbel_softmax_cached<4>"
    assert _cuda_fused.kernel_name(2048) == "gumbel_softmax_cached<8>"
    assert _cuda_fused.kernel_name(2049) == "gumbel_softmax_two_pass"
    assert set(_cuda_fused.KERNEL_NAMES) == {_cuda_fused.kernel_name(n) for n in
                                             (1, 300, 600, 1500, 50257)}


def test_seed_from_uniforms():
    u = np.array([[0.0, 0.0], [0.5, 0.25], [1 - 2**-53, 1 - 2**-53]])
    seeds = [int(_cuda_fused.seed_from_uniforms(row, np)[0]) for row in u]
    assert seeds == [0, 2**30 * 2**31 + 2**29, 2**62 - 1]
    assert _cuda_fused.seed_from_uniforms(u[1], np).dtype == np.int64


def test_nvcc_compiles_the_kernel_for_hopper(tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc (the CUDA toolkit) is not installed")
    # Instantiate the templates as cupy.RawModule's name expressions do.
    unit = tmp_path / "kernels.cu"
    signature = "const float*, float*, const long long*, float*, long long, long long, float"
    unit.write_text(f'#include "{SOURCE}"\n' + "".join(
        f"template __global__ void {name}({signature});\n"
        for name in _cuda_fused.KERNEL_NAMES if "<" in name
    ))
    result = subprocess.run(
        [nvcc, "-std=c++17", "-arch=sm_90", "-cubin", "-Xptxas", "-v", "-Werror",
         "all-warnings", f"-DGK_BLOCK={_cuda_fused.BLOCK}", str(unit), "-o",
         str(tmp_path / "kernels.cubin")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = result.stdout + result.stderr
    assert report.count("Compiling entry function") == len(_cuda_fused.KERNEL_NAMES), report
    assert report.count(" 0 bytes spill stores, 0 bytes spill loads") == len(
        _cuda_fused.KERNEL_NAMES), report
