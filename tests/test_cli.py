"""The ``gumbelkit`` command."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import warnings
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from conftest import Backend, backend_params

import gumbelkit as gk
from gumbelkit._cli import bench as _bench
from gumbelkit._cli import plot as _plot
from gumbelkit._cli._ui import ProgressBar
from gumbelkit._cli.demo import DEMO_LOGITS
from gumbelkit.backends import BuiltinBackend, unavailable_reason
from gumbelkit.cli import main


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal, so that progress bars draw on it."""

    def isatty(self) -> bool:
        return True


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gumbelkit", *args], capture_output=True,
                          text=True, check=False)


def test_demo_prints_frequencies_beside_softmax():
    result = run("demo", "--samples", "50000", "--seed", "3")
    assert result.returncode == 0, result.stderr
    logits = np.array(DEMO_LOGITS)
    softmax = np.exp(logits) / np.exp(logits).sum()
    rows = [line.split() for line in result.stdout.splitlines()]
    table = [r for r in rows if len(r) == 4 and r[0].isdigit()]
    assert [int(r[0]) for r in table] == list(range(len(logits)))
    np.testing.assert_allclose([float(r[1]) for r in table], softmax, atol=1e-5)
    # |z| < 5 for every class: frequencies within five standard errors of softmax.
    assert all(abs(float(r[3])) < 5 for r in table)
    assert "soft samples" in result.stdout


def test_bad_arguments_exit_with_2():
    assert run("demo", "--samples", "0").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run().returncode == 2
    # An unknown option points to the help of the subcommand, which lists the options.
    result = run("demo", "-x")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gumbelkit demo: unrecognized arguments: -x (see gumbelkit demo --help)"]


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("gumbelkit ")


THIRD_PARTY_ADAPTER = '''
"""A third-party adapter: NumPy arrays with the PCG64DXSM bit generator."""
import numpy as np

import gumbelkit.backends.numpy as base


class DxsmAdapter:
    name = "numpy-dxsm"
    supports_autodiff = False
    matches = staticmethod(base.matches)
    namespace = staticmethod(base.namespace)
    stop_gradient = staticmethod(base.stop_gradient)
    is_host_readable = staticmethod(base.is_host_readable)
    draws = 0

    def owns_rng(self, rng):
        return False

    def make_rng(self, rng, device):
        if rng is not None and not isinstance(rng, int):
            raise TypeError("rng for numpy-dxsm arrays must be None or an int seed")
        return np.random.Generator(np.random.PCG64DXSM(rng))

    def uniform(self, rng, shape, dtype, device):
        type(self).draws += 1
        u = rng.random(shape, dtype=dtype)
        return np.maximum(u, np.finfo(dtype).smallest_normal), rng


ADAPTER = DxsmAdapter()
'''


def test_check_runs_the_suite_and_prints_the_table():
    result = run("check", "--backend", "numpy", "-k", "noise_follows_the_gumbel_cdf")
    assert result.returncode == 0, result.stdout + result.stderr
    header = result.stdout.splitlines()[0].split("|")
    assert [h.strip() for h in header] == ["test", "backend", "dtype", "n", "statistic",
                                           "p-value", "verdict"]
    assert "| numpy   | float32 |" in result.stdout
    assert "2 statistical tests; 2 passed, 0 failed" in result.stdout


def test_check_runs_a_third_party_adapter(tmp_path, monkeypatch):
    (tmp_path / "dxsm_adapter.py").write_text(THIRD_PARTY_ADAPTER)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = run("check", "--backend", "dxsm_adapter:ADAPTER", "-k", "noise_follows_the_gumbel_cdf")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| numpy-dxsm | float64 |" in result.stdout


def test_check_rejects_an_unknown_backend_in_one_line():
    result = run("check", "--backend", "tensorflow")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gumbelkit check: --backend: unknown backend 'tensorflow'; expected one of "
        "torch, numpy, jax, cupy, dask, array_api_strict or 'module:attr'"
    ]


@pytest.mark.parametrize(("value", "message"), [
    (",", "no backend named in ','"),
    ("", "no backend named in ''"),  # it ran every backend
    ("all,numpy", "unknown backend 'all'"),
    (":", "--backend: "),
])
def test_check_rejects_what_its_plugin_rejects_in_one_line(value, message):
    # An empty list used to run no backend test at all and pass.
    result = run("check", "--backend", value)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("gumbelkit check: --backend: "), line
    assert message in line, line


def test_check_that_selects_no_test_says_so_and_fails():
    # Zero tests run is no pass: a mistyped -k used to print "0 passed, 0 failed" and exit 0.
    result = run("check", "--backend", "numpy", "-k", "nonexistent_test_name")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "gumbelkit check: -k 'nonexistent_test_name' matches no test of the conformance suite "
        "on --backend numpy; expected a pytest -k expression of test names, e.g. "
        "-k noise_follows_the_gumbel_cdf"
    ]


def test_check_whose_every_test_skips_says_why_and_fails():
    # Every selected test skipping is no pass: NumPy has no autodiff for the gradient checks.
    result = run("check", "--backend", "numpy", "-k", "extreme_noise_gives_finite_gradients")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("gumbelkit check: no test ran: every selected test was skipped: ")
    assert "numpy has no autodiff (" in line


def test_check_of_a_named_backend_that_cannot_run_fails_with_its_reason(monkeypatch):
    # Named on purpose, a backend that is not installed (or CuPy without a GPU) is an error
    # before the suite runs. Without -k, the suite's own statistics checks, which need no
    # backend, used to pass and hide that every test of the backend skipped (exit 0).
    from gumbelkit.backends import BUILTIN_BACKENDS

    missing = next((entry.name for entry in BUILTIN_BACKENDS if entry.unavailable_reason()), None)
    if missing is None:
        pytest.skip("every built-in backend is installed here")
    for options in (["--backend", missing], ["--backend", f"numpy,{missing}", "-k", "cdf"]):
        result = run("check", *options)
        assert result.returncode == 2, options
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"gumbelkit check: --backend: {missing} cannot run here: "), line
    monkeypatch.setenv("GUMBELKIT_BACKEND", missing)
    result = run("check")
    assert result.returncode == 2
    assert result.stderr.startswith(f"gumbelkit check: GUMBELKIT_BACKEND: {missing} cannot run")


@pytest.mark.parametrize(("options", "message"), [
    (["--backend", "no_such_module:ADAPTER"],
     "no_such_module:ADAPTER names no adapter: ModuleNotFoundError: No module named "
     "'no_such_module'"),
    (["--backend", "numpy", "--seed", "-1"], "--seed must lie in [0, 2**63); got -1"),
])
def test_the_suites_pytest_plugin_refuses_bad_options_once(options, message):
    # Through pytest itself, not gumbelkit check: a usage error, not one failure per test.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "gumbelkit.conformance.plugin", "-p",
         "no:cacheprovider", "--pyargs", "gumbelkit.conformance", "-q", "-k",
         "noise_follows_the_gumbel_cdf", *options],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    assert result.returncode == 4  # pytest.ExitCode.USAGE_ERROR
    assert f"gumbelkit conformance: {message}" in result.stderr


def test_the_documented_toy_adapter_passes_the_suite(tmp_path, monkeypatch):
    # docs/backends.md's toy library and adapter, as written, through the suite: its values
    # are read back by DLPack (it has no __array__), and the samplers and the suite use its
    # operators and functions (concat of a list, %). A subset that covers those in seconds;
    # the whole suite passes too (about 45 s).
    text = (ROOT / "docs" / "backends.md").read_text()
    start = text.index("```python\nimport types") + len("```python\n")
    block = text[start:text.index("\n```", start)]
    module = block[:block.index("gk.register_backend(ToyAdapter())")] + "ADAPTER = ToyAdapter()\n"
    (tmp_path / "toy_adapter.py").write_text(module)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = run("check", "--backend", "toy_adapter:ADAPTER", "-k",
                 "test_deterministic or k10-float32")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = next(line for line in result.stdout.splitlines() if "statistical tests;" in line)
    passed = int(summary.split(";")[1].split()[0])
    assert passed >= 40
    assert " 0 failed" in summary
    assert "skipped: toy has no bfloat16" in result.stdout


# --- gumbelkit sample -----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def call(capsys, *args: str) -> tuple[int, str, str]:
    """Run the command in this process; return its exit code, stdout and stderr."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def csv_values(text: str, dtype: type = np.float64) -> np.ndarray:
    return np.loadtxt(io.StringIO(text), delimiter=",", dtype=dtype, ndmin=2)


def test_sample_prints_one_csv_line_per_sample_and_row(capsys):
    code, out, _ = call(capsys, "sample", "--logits", "0.1,0.5,0.4;0,0,-inf", "-n", "4",
                        "--seed", "7", "--dtype", "float64", "--tau", "0.5")
    assert code == 0
    header = out.splitlines()[0]
    assert header.startswith("# gumbel_softmax tau=0.5 hard=False backend=numpy")
    assert "seed=7" in header
    assert "shape=(4, 2, 3)" in header
    values = csv_values(out)
    assert values.shape == (8, 3)
    np.testing.assert_allclose(values.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    assert (values[0::2] > 0).all()
    # The second logits row masks class 2: probability exactly 0.
    assert (values[1::2, 2] == 0).all()
    assert (values[1::2, :2] > 0).all()
    # %.17g round-trips float64: the printed sample is the library's sample for that seed.
    logits = np.array([[0.1, 0.5, 0.4], [0.0, 0.0, -np.inf]])
    expected = gk.gumbel_softmax(logits, tau=0.5, sample_shape=(4,), rng=7)
    np.testing.assert_array_equal(values, expected.reshape(8, 3))


def test_sample_reads_negative_logits_after_the_option(capsys):
    code, out, _ = call(capsys, "sample", "--logits", "-inf,-1,2", "--hard", "-n", "50",
                        "--seed", "1")
    assert code == 0
    values = csv_values(out)
    assert values.shape == (50, 3)
    assert set(np.unique(values)) <= {0.0, 1.0}
    assert (values.sum(axis=1) == 1).all()
    assert (values[:, 0] == 0).all()


def test_sample_writes_npy_and_csv_that_read_back(capsys, tmp_path):
    args = ["sample", "--logits", "1,2,3;3,2,-1", "-n", "6", "--seed", "11", "--tau", "2"]
    assert call(capsys, *args, "--output", str(tmp_path / "y.npy"))[0] == 0
    assert call(capsys, *args, "--output", str(tmp_path / "y.csv"))[0] == 0
    stored = np.load(tmp_path / "y.npy")
    assert stored.dtype == np.float32
    assert stored.shape == (6, 2, 3)
    text = (tmp_path / "y.csv").read_text()
    assert text.startswith("# gumbel_softmax tau=2 hard=False backend=numpy dtype=float32")
    # %.9g round-trips float32: the CSV holds exactly the values of the .npy file.
    np.testing.assert_array_equal(csv_values(text, np.float32), stored.reshape(12, 3))
    np.testing.assert_allclose(stored.sum(axis=-1), 1.0, atol=1e-6)


def test_sample_max_gives_indices(capsys, tmp_path):
    logits = np.array([[0.0, 0.0, -np.inf], [-np.inf, 0.0, -np.inf]])
    np.save(tmp_path / "logits.npy", logits)
    code, _, _ = call(capsys, "sample", "--logits", str(tmp_path / "logits.npy"), "--max",
                      "-n", "200", "--seed", "5", "--output", str(tmp_path / "i.npy"))
    assert code == 0
    index = np.load(tmp_path / "i.npy")
    assert index.shape == (200, 2)
    assert index.dtype.kind == "i"
    assert set(np.unique(index[:, 0])) == {0, 1}  # 2**-200 chance of missing one
    assert (index[:, 1] == 1).all()
    code, out, _ = call(capsys, "sample", "--logits", str(tmp_path / "logits.npy"), "--max",
                        "--seed", "5")
    assert code == 0
    assert out.startswith("# gumbel_max backend=numpy")
    assert csv_values(out, np.int64).shape == (2, 2)


def test_sample_max_lines_name_their_logits_row(capsys, tmp_path):
    # Row 1 has one finite logit, class 2: every line of row 1 must say index 2.
    logits = np.array([[0.0, 0.0, 0.0], [-np.inf, -np.inf, 5.0]])
    np.save(tmp_path / "logits.npy", logits)
    args = ["sample", "--logits", str(tmp_path / "logits.npy"), "--max", "-n", "3", "--seed", "2"]
    code, out, _ = call(capsys, *args)
    assert code == 0
    header = out.splitlines()[0]
    assert header.endswith("shape=(3, 2) columns=row,index")
    table = csv_values(out, np.int64)
    # Sample by sample, each over both rows: rows 0, 1, 0, 1, 0, 1 (C order, from 0).
    assert table[:, 0].tolist() == [0, 1, 0, 1, 0, 1]
    assert (table[table[:, 0] == 1, 1] == 2).all()
    assert call(capsys, *args, "--output", str(tmp_path / "i.npy"))[0] == 0
    np.testing.assert_array_equal(table[:, 1], np.load(tmp_path / "i.npy").ravel())


@pytest.mark.parametrize(("stored", "option", "expected"), [
    (np.float64, [], np.float64),
    (np.float16, [], np.float16),
    (np.float32, [], np.float32),
    (np.float64, ["--dtype", "float32"], np.float32),
    (np.int64, [], np.float32),  # integers have no float dtype to keep: the default
])
def test_sample_keeps_the_dtype_of_a_npy_file(stored, option, expected, capsys, tmp_path):
    np.save(tmp_path / "logits.npy", np.array([[1, 2, 3], [3, 0, -1]], dtype=stored))
    code, _, _ = call(capsys, "sample", "--logits", str(tmp_path / "logits.npy"), "-n", "4",
                      "--seed", "3", *option, "--output", str(tmp_path / "y.npy"))
    assert code == 0
    assert np.load(tmp_path / "y.npy").dtype == expected


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "dask", "array_api_strict"])
def test_sample_reads_a_big_endian_file_on_every_backend(backend, capsys, tmp_path):
    if unavailable_reason(backend) is not None:
        pytest.skip(str(unavailable_reason(backend)))
    logits = np.array([[0.0, 0.0, -np.inf], [-np.inf, 1.0, -np.inf]])
    np.save(tmp_path / "logits.npy", logits.astype(">f8"))
    code, out, err = call(capsys, "sample", "--logits", str(tmp_path / "logits.npy"), "-n", "3",
                          "--seed", "1", "--hard", "--backend", backend)
    assert (code, err) == (0, "")
    hard = csv_values(out).reshape(3, 2, 3)
    # The masked classes are never drawn; the second row has one class left.
    assert (hard[..., 2] == 0).all()
    assert (hard[:, 1, 1] == 1).all()


def test_sample_of_a_float64_file_is_the_float64_sample(capsys, tmp_path):
    logits = np.array([[0.1, 0.5, 0.4], [0.0, 0.0, -np.inf]])
    np.save(tmp_path / "logits.npy", logits)
    code, out, _ = call(capsys, "sample", "--logits", str(tmp_path / "logits.npy"), "-n", "4",
                        "--seed", "7", "--tau", "0.5")
    assert code == 0
    assert " dtype=float64 " in out.splitlines()[0]
    expected = gk.gumbel_softmax(logits, tau=0.5, sample_shape=(4,), rng=7)
    np.testing.assert_array_equal(csv_values(out), expected.reshape(8, 3))


def test_sample_names_a_file_too_large_for_memory(capsys, tmp_path):
    # A header that claims 2**40 float64 values (8 TiB) over 24 bytes of data.
    path = tmp_path / "huge.npy"
    with path.open("wb") as stream:
        np.lib.format.write_array_header_1_0(
            stream, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
        stream.write(bytes(24))
    code, out, err = call(capsys, "sample", "--logits", str(path))
    assert code == 2
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"gumbelkit sample: --logits: cannot read {path}: its array does "
                           "not fit in memory")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_stdout_that_fails_is_named_in_one_line():
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "gumbelkit", "sample", "--logits", "1,2"],
                                stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "gumbelkit sample: cannot write to stdout: No space left on device"]


def _not_npy(folder: Path) -> dict[str, Path]:
    """Files that --logits cannot take: text, text named .npy, an archive named .npy."""
    text = folder / "logits.txt"
    text.write_text("0.1,0.5,0.4\n")
    fake = folder / "fake.npy"
    fake.write_text("0.1,0.5,0.4\n")
    archive = folder / "archive.npy"
    with archive.open("wb") as stream:
        np.savez(stream, logits=np.zeros(3))
    return {"text": text, "fake": fake, "archive": archive}


@pytest.mark.parametrize(("kind", "message"), [
    ("text", "is not a .npy file; expected comma-separated numbers such as \"0.1,0.5,0.4\", "
             "or the path of a NumPy .npy file"),
    ("fake", "is not a NumPy .npy file; expected a NumPy .npy file holding one array"),
    ("archive", "is a .npz archive; expected a NumPy .npy file holding one array"),
])
def test_sample_says_what_file_it_expects(kind, message, capsys, tmp_path):
    path = _not_npy(tmp_path)[kind]
    code, out, err = call(capsys, "sample", "--logits", str(path))
    assert code == 2
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"gumbelkit sample: --logits: {path} {message}")


@pytest.mark.parametrize("backend", backend_params())
def test_sample_on_every_backend(backend: Backend, capsys, tmp_path):
    args = ["sample", "--backend", backend.adapter_name, "--logits", "0.1,0.5,0.4;1,-inf,1",
            "-n", "5", "--seed", "3"]
    first, second = tmp_path / "a.npy", tmp_path / "b.npy"
    assert call(capsys, *args, "--output", str(first))[0] == 0
    assert call(capsys, *args, "--output", str(second))[0] == 0
    values = np.load(first)
    assert values.shape == (5, 2, 3)
    assert values.dtype == np.float32
    np.testing.assert_allclose(values.sum(axis=-1), 1.0, atol=1e-6)
    assert (values[:, 1, 1] == 0).all()
    assert (values[:, 0] > 0).all()
    np.testing.assert_array_equal(np.load(second), values)  # same seed, same sample
    code, out, _ = call(capsys, *args, "--max")
    assert code == 0
    index = csv_values(out, np.int64)[:, 1].reshape(5, 2)
    assert ((index >= 0) & (index < 3)).all()
    assert (index[:, 1] != 1).all()


@pytest.mark.skipif(unavailable_reason("torch") is not None,
                    reason=f"bfloat16 needs torch: {unavailable_reason('torch')}")
def test_sample_bfloat16_is_written_as_float32(capsys, tmp_path):
    code, _, _ = call(capsys, "sample", "--backend", "torch", "--dtype", "bfloat16",
                      "--logits", "0.1,0.5,0.4", "-n", "20", "--seed", "0",
                      "--output", str(tmp_path / "y.npy"))
    assert code == 0
    values = np.load(tmp_path / "y.npy")
    assert values.dtype == np.float32
    assert values.shape == (20, 3)
    # bfloat16 is the upper half of a float32: the lower 16 bits are zero.
    assert (values.view(np.uint32) & 0xFFFF == 0).all()
    np.testing.assert_allclose(values.sum(axis=-1), 1.0, atol=3 * 2.0**-8)


BAD_SAMPLE_INPUT = [
    (["--logits", "0.1,x,0.4"], "--logits: row 1 has 'x', not a number"),
    (["--logits", "1,2;3"], "--logits: rows have different lengths [1, 2]"),
    (["--logits", "1,nan"], "--logits: row 1 has a NaN or +inf"),
    (["--logits", "1,2;inf,0"], "--logits: row 2 has a NaN or +inf"),
    (["--logits", "-inf,-inf"], "--logits: row 1 has no finite logit"),
    (["--logits", "missing.npy"], "--logits: cannot read missing.npy"),
    (["--logits", "1,2", "--backend", "tensorflow"], "unknown backend 'tensorflow'"),
    (["--logits", "1,2", "--tau", "0"], "--tau must be positive and finite; got 0.0"),
    (["--logits", "1,2", "--tau", "-1"], "--tau must be positive and finite; got -1.0"),
    (["--logits", "1,2", "--tau", "inf"], "--tau must be positive and finite; got inf"),
    (["--logits", "1,2", "--tau", "hot"], "argument --tau: invalid float value: 'hot'"),
    (["--logits", "1,2", "--max", "--tau", "2"], "--tau has no effect with --max"),
    (["--logits", "1,2", "--max", "--hard"], "not allowed with argument"),
    # Two logits per sample and at most 2**28 values: N lies in [1, 2**27].
    (["--logits", "1,2", "-n", "0"], "-n/--samples must lie in [1, 134217728]"),
    (["--logits", "1,2", "-n", "99999999999999999"], "-n/--samples must lie in [1, 134217728]"),
    (["--logits", "1,2", "--seed", str(2**63)], "--seed must lie in [0, 2**63)"),
    (["--logits", "data.txt"], "--logits: 'data.txt' is not a number and not a .npy path; "
                               "expected comma-separated numbers"),
    (["--logits", "1,2", "--seed", "-1"], "--seed must lie in [0, 2**63); got -1"),
    (["--logits", "1,2", "--dtype", "bfloat16"], "--dtype bfloat16 is not available on numpy"),
    (["--logits", "1,2", "--dtype", "int8"], "argument --dtype: invalid choice: 'int8'"),
    (["--logits", "1,2", "--output", "y.txt"], "--output must end in .npy or .csv"),
    ([], "the following arguments are required: --logits"),
]


@pytest.mark.parametrize(("args", "message"), BAD_SAMPLE_INPUT)
def test_sample_rejects_bad_input_in_one_line(args, message, capsys):
    code, out, err = call(capsys, "sample", *args)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gumbelkit sample: ")
    assert message in lines[0]


# Logits finite in float64 but not in the dtype drawn in: float32's largest value is
# (2 - 2**-23) 2**127 = 3.4028e38, float16's (2 - 2**-10) 2**15 = 65504, and a value rounds to
# inf from the largest plus half a step on (65504 + 16 = 65520 in float16).
OVERFLOWING_LOGITS = [
    (["--logits", "1e39,0"], "row 1 has 1e+39, which overflows float32"),
    (["--logits", "1e39,0", "--max"], "row 1 has 1e+39, which overflows float32"),
    # -1e39 alone in its row: no logit of the row is left finite in float32.
    (["--logits", "0,1;-1e39,-1e39"], "row 2 has -1e+39, which overflows float32"),
    (["--logits", "1e5,0", "--dtype", "float16"], "row 1 has 100000.0, which overflows float16"),
    (["--logits", "65520,0", "--dtype", "float16", "--hard"],
     "row 1 has 65520.0, which overflows float16 (its largest finite value is 65504)"),
]


@pytest.mark.parametrize(("args", "message"), OVERFLOWING_LOGITS)
def test_sample_rejects_logits_that_overflow_the_dtype(args, message, capsys):
    code, out, err = call(capsys, "sample", "--seed", "0", *args)
    assert code == 2
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"gumbelkit sample: --logits: {message}")
    assert line.endswith("or -inf to mask a class")


def test_sample_rejects_npy_logits_that_overflow_the_dtype(capsys, tmp_path):
    np.save(tmp_path / "wide.npy", np.array([[0.0, 1.0], [2.0, 1e39]]))
    np.save(tmp_path / "counts.npy", np.array([3, 100_000]))
    for path, dtype, bad in (("wide.npy", "float32", "row 2 has 1e+39"),
                             ("counts.npy", "float16", "row 1 has 100000.0")):
        code, out, err = call(capsys, "sample", "--logits", str(tmp_path / path),
                              "--dtype", dtype, "--seed", "0")
        assert code == 2
        assert out == ""
        assert len(err.splitlines()) == 1
        assert f"--logits: {bad}, which overflows {dtype}" in err
    # The float64 file in its own dtype holds 1e39 exactly: a valid draw.
    code, out, _ = call(capsys, "sample", "--logits", str(tmp_path / "wide.npy"), "--seed", "0")
    assert code == 0
    np.testing.assert_array_equal(csv_values(out)[1], [0.0, 1.0])


def test_sample_takes_a_logit_that_overflows_to_minus_inf_as_a_masked_class(capsys):
    # -1e39 is -inf in float32: its class has probability exp(-1e39), 0 in every dtype, and
    # the row keeps a finite logit, so the draw is that of the row without it.
    code, out, err = call(capsys, "sample", "--logits", "0,1;-1e39,0", "--hard", "--seed", "0")
    assert code == 0, err
    np.testing.assert_array_equal(csv_values(out)[1], [0.0, 1.0])


def test_sample_accepts_the_largest_logits_of_the_dtype(capsys):
    # 65519 rounds down to 65504 in float16, the largest finite value; the sample is finite.
    code, out, err = call(capsys, "sample", "--logits", "65519,0;-65504,0", "--dtype",
                          "float16", "--seed", "0")
    assert code == 0, err
    np.testing.assert_array_equal(csv_values(out), [[1.0, 0.0], [0.0, 1.0]])


def test_sample_rejects_logits_that_overflow_bfloat16(capsys):
    if unavailable_reason("torch"):
        pytest.skip(unavailable_reason("torch"))
    # 3.4e38 < 3.4028e38 is a finite float32 but above the largest bfloat16,
    # (2 - 2**-7) 2**127 = 3.3895e38, by more than half a step (2**119 = 6.6e35).
    code, out, err = call(capsys, "sample", "--logits", "3.4e38,0", "--backend", "torch",
                          "--dtype", "bfloat16", "--seed", "0")
    assert code == 2
    assert out == ""
    assert "row 1 has 3.4e+38, which overflows bfloat16" in err
    code, out, _ = call(capsys, "sample", "--logits", "3.3895e38,0", "--backend", "torch",
                        "--dtype", "bfloat16", "--seed", "0")
    assert code == 0
    np.testing.assert_array_equal(csv_values(out), [[1.0, 0.0]])


def test_sample_rejects_a_backend_that_is_not_installed(capsys, monkeypatch):
    monkeypatch.setattr(BuiltinBackend, "unavailable_reason",
                        lambda self: f"{self.name} is not installed: No module named {self.name!r}")
    code, _, err = call(capsys, "sample", "--logits", "1,2", "--backend", "jax")
    assert code == 2
    assert err.splitlines() == [
        "gumbelkit sample: --backend jax: jax is not installed: No module named 'jax'"
    ]


def test_sample_rejects_an_unwritable_output(capsys, tmp_path):
    code, _, err = call(capsys, "sample", "--logits", "1,2",
                        "--output", str(tmp_path / "missing" / "y.csv"))
    assert code == 2
    assert len(err.splitlines()) == 1
    assert err.startswith("gumbelkit sample: --output: cannot write")


def test_bad_input_in_a_fresh_process_is_one_line_without_traceback():
    result = run("sample", "--logits", "1,2", "--tau", "-0.5")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "gumbelkit sample: --tau must be positive and finite; got -0.5"
    ]


# --- numbers out of range ---------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["demo", "--samples", "99999999999999"],
     "--samples must lie in [1, 10000000]; got 99999999999999"),
    (["demo", "--samples", "0"], "--samples must lie in [1, 10000000]; got 0"),
    (["demo", "--seed", "-1"], "--seed must lie in [0, 2**63); got -1"),
    (["demo", "--seed", str(2**63)], f"--seed must lie in [0, 2**63); got {2**63}"),
    (["plot", "--seed", "-1"], "--seed must lie in [0, 2**63); got -1"),
    (["plot", "--seed", str(2**63)], f"--seed must lie in [0, 2**63); got {2**63}"),
    (["check", "--seed", "-1"], "--seed must lie in [0, 2**63); got -1"),
])
def test_numbers_out_of_range_are_one_line(args, message, capsys):
    code, out, err = call(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.splitlines() == [f"gumbelkit {args[0]}: {message}"]


def test_the_largest_seed_is_accepted(capsys):
    # 2**63 - 1, the top of the range NumPy, PyTorch and JAX all take.
    code, out, _ = call(capsys, "demo", "--samples", "10", "--seed", str(2**63 - 1))
    assert code == 0
    assert "10 hard samples" in out


@pytest.mark.parametrize(("args", "option"), [
    (["sample", "--logits", "0,1", "-n", "99999999999999999"], "-n/--samples"),
    (["demo", "--samples", "99999999999999"], "--samples"),
    (["demo", "--seed", "-1"], "--seed"),
])
def test_numbers_out_of_range_print_no_traceback(args, option):
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"gumbelkit {args[0]}: {option} must lie in [")


# --- --help, progress -------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["demo"], ["sample"], ["check"], ["bench"], ["info"],
                                     ["plot"]])
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {' '.join(['gumbelkit', *command])} ")


def test_progress_bar_appears_only_after_its_delay():
    quiet = FakeTerminal()
    with ProgressBar(3, delay=math.inf, stream=quiet) as bar:
        bar.describe("work")
        bar.advance(3)
    assert quiet.getvalue() == ""

    shown = FakeTerminal()
    with ProgressBar(4, delay=0.0, stream=shown, width=8) as bar:
        bar.describe("first")
        bar.advance()
        bar.note("a message")
        bar.advance(9)  # clamped to the total
    text = shown.getvalue()
    assert "\r[........] 0/4 first" in text
    assert "\r[##......] 1/4 first" in text
    assert "a message\n" in text
    assert text.endswith("\r[########] 4/4 first" + " " * 35 + "\n")


def test_progress_bar_draws_nothing_off_a_terminal():
    # A log file or CI: no bar, but a note still gets its line.
    log = io.StringIO()
    with ProgressBar(4, delay=0.0, stream=log) as bar:
        bar.describe("first")
        bar.advance()
        bar.note("a message")
        bar.update(4, label="last")
    assert log.getvalue() == "a message\n"


def test_progress_bar_update_sets_the_count_the_total_and_the_label():
    shown = FakeTerminal()
    bar = ProgressBar(delay=0.0, stream=shown, width=4)
    bar.update(0, total=2, label="")
    bar.update(1, label="test_a")
    bar.update(5)  # clamped to the total
    bar.finish()
    bar.update(1)  # nothing is drawn after finish
    assert shown.getvalue() == ("\r[....] 0/2 " + " " * 40 + "\r[##..] 1/2 test_a" + " " * 34
                                + "\r[####] 2/2 test_a" + " " * 34 + "\n")


def test_progress_bar_leaves_a_log_file_clean(tmp_path):
    # The benchmark draws its bar from the start, but only on a terminal: a log file gets the
    # skip notes as lines and no carriage return.
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        result = subprocess.run(
            [sys.executable, "-m", "gumbelkit", "bench", "--backends", "numpy", "--shapes",
             "2x2", "--repeats", "1"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, check=False,
        )
    assert result.returncode == 0, log.read_text()
    assert "\r" not in log.read_text()


# --- gumbelkit info ---------------------------------------------------------------------------


def test_info_lists_every_backend_with_version_and_devices(capsys):
    code, out, _ = call(capsys, "info", "--json")
    assert code == 0
    facts = json.loads(out)
    assert facts["gumbelkit"] == gk.__version__
    assert facts["python"].startswith(".".join(map(str, sys.version_info[:3])))
    rows = {row["name"]: row for row in facts["backends"]}
    assert sorted(rows) == sorted(b.adapter_name for b in Backend)
    for name, row in rows.items():
        reason = unavailable_reason(name)
        assert row["available"] == (reason is None), (name, row)
        assert row["available"] == bool(row["devices"])
        if reason is not None:
            assert row["reason"]
    assert rows["numpy"]["version"] == np.__version__
    assert rows["numpy"]["devices"] == ["cpu"]
    if rows["torch"]["available"]:
        import torch

        assert rows["torch"]["version"] == torch.__version__
        assert len(rows["torch"]["devices"]) >= 1 + torch.cuda.device_count()
    if rows["jax"]["available"]:
        import jax

        assert len(rows["jax"]["devices"]) == len(jax.devices())

    code, out, _ = call(capsys, "info")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"gumbelkit {gk.__version__}"
    table = {line.split()[0]: line for line in lines if line.split()[:1] in
             [[b.adapter_name] for b in Backend]}
    assert table["numpy"].split()[1:] == [np.__version__, "cpu"]


def test_info_does_not_import_a_library_that_is_not_installed():
    # torch, jax and dask look uninstalled to find_spec: info reports them, importing none.
    hidden = ("torch", "jax", "dask")
    code = (
        "import importlib.util as util, sys\n"
        "real = util.find_spec\n"
        f"util.find_spec = lambda name, *a: None if name in {hidden!r} else real(name, *a)\n"
        "from gumbelkit.cli import main\n"
        "assert main(['info', '--json']) == 0\n"
        f"assert not set({hidden!r}) & set(sys.modules), 'a hidden library was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["backends"]}
    for name in hidden:
        assert rows[name] == {"name": name, "available": False, "version": None, "devices": [],
                              "reason": f"not installed; pip install 'gumbelkit[{name}]'"}


# --- gumbelkit bench --------------------------------------------------------------------------


def test_bench_runs_a_tiny_benchmark(capsys, monkeypatch, tmp_path):
    backends = ["numpy"] + (["torch"] if unavailable_reason("torch") is None else [])
    path = tmp_path / "bench.json"
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code, out, _ = call(capsys, "bench", "--backends", ",".join(backends), "--shapes", "6x4",
                        "--repeats", "2", "--json", str(path))
    err = terminal.getvalue()
    assert code == 0, err
    steps = sum(_bench.BACKENDS[name][2] for name in backends)
    assert f"] {steps}/{steps} " in err  # the progress bar reached its end
    assert out.startswith("| backend | shape | op | pass | gumbelkit ms |")
    result = json.loads(path.read_text())
    assert result["environment"]["shapes"] == [[6, 4]]
    assert result["environment"]["repeats"] == 2
    assert result["environment"]["tau"] == 0.5
    rows = result["rows"]
    assert {row["backend"] for row in rows} == set(backends)
    assert all(row["repeats"] == 2 for row in rows)
    timed = [row for row in rows if row["operation"] != "floor"]
    assert all(row["gumbelkit_ms"] > 0 for row in timed)
    assert {(row["operation"], row["mode"]) for row in timed if row["backend"] == "numpy"} == {
        ("soft", "forward"), ("hard", "forward"), ("max", "forward")}
    if "torch" in backends:
        assert ("hard", "forward+backward") in {
            (row["operation"], row["mode"]) for row in timed if row["backend"] == "torch"}
    assert result["memory"][0]["shape"] == [6, 4]


def test_bench_prints_the_numpy_overhead_per_call(capsys):
    # A backend named twice is timed once (each of its rows was printed twice).
    code, out, err = call(capsys, "bench", "--backends", "numpy,numpy", "--shapes", "6x4",
                          "--repeats", "2")
    assert code == 0, err
    assert "\r" not in err  # stderr is no terminal here: no progress bar
    table = out.split("| backend | shape | op | gumbelkit overhead per call, us |")[1]
    rows = table.strip().split("\n\n")[0].splitlines()[1:]  # the table, to its blank line
    assert [line.split("|")[3].strip() for line in rows] == ["soft", "hard", "max"]


def test_bench_times_threads_and_top_k_when_asked(capsys, monkeypatch, tmp_path):
    # A shape of 2**20 values runs row blocks: rows on all threads against one thread. --top-k
    # adds gumbel_top_k against gumbel_max at 8x152064 for k = 1, 8, 64.
    monkeypatch.setenv("GUMBELKIT_NUM_THREADS", "2")
    path = tmp_path / "bench.json"
    code, out, err = call(capsys, "bench", "--backends", "numpy", "--shapes", "1024x1024",
                          "--repeats", "1", "--top-k", "--json", str(path))
    assert code == 0, err
    result = json.loads(path.read_text())
    assert result["environment"]["gumbelkit_threads"] == 2
    assert result["environment"]["top_k"] is True
    threads = [(r["operation"], r["mode"]) for r in result["rows"]
               if r["reference"] == "gumbelkit, 1 thread"]
    assert threads == [("soft", "forward, 2 threads"), ("hard", "forward, 2 threads"),
                       ("max", "forward, 2 threads")]
    top_k = [(r["shape"], r["operation"]) for r in result["rows"]
             if r["reference"] == "gumbelkit gumbel_max"]
    assert top_k == [([8, 152064], f"top-k, k={k}") for k in (1, 8, 64)]
    assert "| numpy | 8x152064 | top-k, k=64 | forward |" in out
    assert gk.get_num_threads() == 2  # the benchmark leaves the setting as it found it


def test_bench_torch_device_and_triton_options(capsys, tmp_path):
    if unavailable_reason("torch"):
        pytest.skip(unavailable_reason("torch"))
    from gumbelkit.backends import torch as torch_adapter

    path = tmp_path / "bench.json"
    code, _, err = call(capsys, "bench", "--backends", "torch", "--shapes", "6x4",
                          "--repeats", "1", "--torch-device", "cpu", "--triton", "--json",
                          str(path))
    assert code == 0, err
    environment = json.loads(path.read_text())["environment"]
    assert environment["torch_device"] == "cpu"
    assert environment["triton"] is True
    assert torch_adapter.use_triton is False  # restored after the run


def test_bench_rejects_a_malformed_torch_device_in_one_line(capsys):
    if unavailable_reason("torch"):
        pytest.skip(unavailable_reason("torch"))
    code, _, err = call(capsys, "bench", "--backends", "torch", "--shapes", "2x2", "--repeats",
                        "1", "--torch-device", "nodevice")
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("gumbelkit bench: --torch-device: ")
    assert "nodevice" in err
    # The meta device computes nothing: its times were printed as if they were measured.
    code, _, err = call(capsys, "bench", "--backends", "torch", "--shapes", "2x2", "--repeats",
                        "1", "--torch-device", "meta")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "gumbelkit bench: --torch-device: meta tensors hold no values, so nothing would be "
        "timed; name a device that computes, such as cpu or cuda")


class ZeroExponentials(np.random.Generator):
    """A NumPy generator whose float32 exponentials start with an exact 0.

    NumPy's ziggurat gives 0 about once in 2**23 float32 draws: a 4096x1024 floor meets one
    in about every other call.
    """

    def standard_exponential(self, *args, **kwargs):
        e = super().standard_exponential(*args, **kwargs)
        e.flat[0] = 0
        return e


def test_bench_numpy_floors_warn_of_nothing():
    # A log(0) in a floor printed "divide by zero encountered in log" into the progress bar.
    settings = _bench.Settings(1, 1, 0.0, shapes=((4, 3),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _bench._bench_numpy_shape(settings, (4, 3), ZeroExponentials(np.random.PCG64(0)), None)
    floors = {r.reference for r in settings.rows if r.operation == "floor"}
    assert "Gumbel noise: -log(standard_exponential float32)" in floors


def test_bench_bandwidth_is_bytes_moved_over_time():
    # Logits read and output written: 2 * 1000 * 250 * 4 bytes = 2 MB; 2 MB in 0.5 ms is
    # 4 GB/s, and a copy in 0.1 ms is 20 GB/s.
    settings = _bench.Settings(1, 1, 0.0, shapes=((1000, 250),))
    settings.rows += [
        _bench.Row("torch", (1000, 250), "soft", "forward", 0.5, "F.gumbel_softmax", 1.0),
        _bench.Row("torch", (1000, 250), "floor", "forward", None, "copy", 0.1),
    ]
    _bench._record_bandwidth(settings, (1000, 250), "cuda:0", 4)
    (record,) = settings.bandwidth
    assert record["bytes_moved"] == 2_000_000
    assert record["gumbelkit_gb_per_s"] == pytest.approx(4.0)
    assert record["copy_gb_per_s"] == pytest.approx(20.0)
    assert record["fraction_of_copy"] == pytest.approx(0.2)
    assert "| torch | cuda:0 | 1000x250 | soft | 4.0 | 20.0 | 0.20 |" in _bench.markdown(settings)


def test_bench_skips_a_library_that_is_not_installed(capsys, monkeypatch):
    monkeypatch.setitem(_bench.BACKENDS, "absent",
                        ("gumbelkit_absent_library", _bench.bench_numpy, 4))
    code, out, err = call(capsys, "bench", "--backends", "numpy,absent", "--shapes", "2x2",
                          "--repeats", "1")
    assert code == 0  # NumPy was measured
    assert "absent: skipped, cannot import gumbelkit_absent_library" in err
    assert "skipped: absent: skipped, cannot import gumbelkit_absent_library" in out
    assert "| numpy | 2x2 | soft | forward |" in out


def test_bench_that_measures_nothing_says_why_and_fails(capsys, monkeypatch, tmp_path):
    # Every backend asked for is skipped: no table, no JSON, the reason and exit code 1.
    monkeypatch.setitem(_bench.BACKENDS, "absent",
                        ("gumbelkit_absent_library", _bench.bench_numpy, 4))
    path = tmp_path / "bench.json"
    code, out, err = call(capsys, "bench", "--backends", "absent", "--shapes", "2x2",
                          "--repeats", "1", "--json", str(path))
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "absent: skipped, cannot import gumbelkit_absent_library "
        "(No module named 'gumbelkit_absent_library')",
        "nothing was measured: every backend asked for was skipped (see above)",
    ]
    assert not path.exists()


def test_bench_torch_device_without_cuda_says_so_and_fails(capsys, monkeypatch):
    if unavailable_reason("torch"):
        pytest.skip(unavailable_reason("torch"))
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU-only machine
    code, out, err = call(capsys, "bench", "--backends", "torch", "--shapes", "2x2",
                          "--repeats", "1", "--torch-device", "cuda")
    assert code == 1
    assert out == ""
    assert "torch: skipped, --torch-device cuda but CUDA is not available" in err
    assert "nothing was measured" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--backends", "numpy,tensorflow"], "--backends: unknown tensorflow"),
    (["--backends", " , "], "--backends: no backend named; choose from numpy"),
    (["--shapes", "10"], "argument --shapes: expected comma-separated ROWSxCLASSES"),
    (["--shapes", "0x3"], "argument --shapes"),
    # 10**8 x 10**8 logits: 40,000 TB of float32.
    (["--shapes", "100000000x100000000"],
     "argument --shapes: ROWS x CLASSES must lie in [1, 2**28 = 268435456]"),
    (["--repeats", "0"], "--repeats must be a positive integer"),
    (["--tau", "0"], "argument --tau: expected a positive finite number; got '0'"),
    (["--tau", "x"], "argument --tau: expected a positive finite number; got 'x'"),
])
def test_bench_rejects_bad_options_in_one_line(args, message, capsys):
    code, _, err = call(capsys, "bench", *args)
    assert code == 2
    assert len(err.splitlines()) == 1
    assert err.startswith("gumbelkit bench: ")
    assert message in err


def test_benchmark_script_is_the_same_command(tmp_path):
    path = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--backends", "numpy",
         "--shapes", "3x2", "--repeats", "1", "--json", str(path)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert {row["backend"] for row in json.loads(path.read_text())["rows"]} == {"numpy"}
    script_help = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--help"],
        capture_output=True, text=True, check=True,
    ).stdout
    for option in ("--quick", "--json", "--backends", "--shapes", "--repeats"):
        assert option in script_help
    assert "benchmarks/results.json" in script_help


# --- gumbelkit plot ---------------------------------------------------------------------------


@pytest.mark.skipif(find_spec("matplotlib") is None,
                    reason="matplotlib is not installed (the plot extra)")
def test_plot_renders_every_png(capsys, tmp_path):
    from matplotlib.image import imread

    code, out, err = call(capsys, "plot", "--output-dir", str(tmp_path / "images"))
    assert code == 0, err
    paths = [Path(line) for line in out.splitlines()]
    skipped = [] if _plot.autodiff_library() else [_plot.ESTIMATOR_GRADIENTS]
    assert [p.name for p in paths] == [name for name in _plot.FILES if name not in skipped]
    assert len(_plot.FILES) == 9
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size < 150_000
        pixels = imread(path)
        assert pixels.shape[0] > 200
        assert pixels.shape[1] > 500
        assert pixels[..., :3].std() > 0.05  # something is drawn, not a blank canvas


def test_plot_without_matplotlib_names_the_extra(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # import matplotlib now raises ImportError\n"
        "from gumbelkit.cli import main\n"
        f"sys.exit(main(['plot', '--output-dir', {str(tmp_path)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "gumbelkit plot: matplotlib is not installed; install the plot extra: "
        "pip install 'gumbelkit[plot]'"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(find_spec("matplotlib") is None,
                    reason="matplotlib is not installed (the plot extra)")
def test_plot_without_torch_and_jax_skips_only_the_estimator_picture(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['torch'] = sys.modules['jax'] = None  # their imports now raise ImportError\n"
        "from gumbelkit._cli import plot as _plot\n"
        "from gumbelkit.cli import main\n"
        "_plot.DRAWINGS = {name: _plot.DRAWINGS[name]  # one picture beside it is enough\n"
        "                  for name in (_plot.ESTIMATOR_GRADIENTS, _plot.ANNEALING)}\n"
        f"sys.exit(main(['plot', '--output-dir', {str(tmp_path)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(tmp_path / _plot.ANNEALING)]
    assert (f"gumbelkit plot: skipped {_plot.ESTIMATOR_GRADIENTS}: its gradients need PyTorch or "
            "JAX, and neither is installed") in result.stderr.splitlines()
    assert [p.name for p in tmp_path.iterdir()] == [_plot.ANNEALING]


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_estimator_gradient_curves_match_math_section_12(library):
    pytest.importorskip(library, reason=f"{library} is not installed")
    pi0 = np.linspace(0.02, 0.98, 25)
    noise = gk.gumbel((200, 1, 2), rng=0)
    curves = _plot.estimator_gradients(pi0, library, noise)
    q = 1 - pi0
    # f(z) = (z - 0.45)^2, tau = 1 (docs/mathematics.md#gradient-estimators and
    # docs/mathematics.md#polynomial-benchmark): g_0 = 2 (z - 0.45) is 1.1 for D = e_0 and
    # -0.9 for D = e_1; for two classes J(p) g has entry 0 equal to p_0 (1 - p_0) g_0.
    exact = pi0 * q * (0.55**2 - 0.45**2)

    def weight(gap):  # p_0 (1 - p_0) at p = softmax of logits `gap` apart
        return 1 / (2 + np.exp(gap) + np.exp(-gap))

    # Gapped ST (delta = 1): the sampled class leads by max(|theta_0 - theta_1|, 1) when it is the
    # argmax of theta, by 1 when it is not.
    lead = np.maximum(np.abs(np.log(pi0 / q)), 1.0)
    gap_0, gap_1 = np.where(pi0 >= 0.5, lead, 1.0), np.where(pi0 >= 0.5, 1.0, lead)
    expected = {
        "exact": exact,
        "reinmax": exact,  # the trapezoid rule is exact for a quadratic f
        "st-probs": pi0 * q * (pi0 * 1.1 - q * 0.9),
        "gapped": pi0 * weight(gap_0) * 1.1 - q * weight(gap_1) * 0.9,
    }
    # The JAX curves are float32; the curves reach about 0.1.
    rtol, atol = (1e-12, 1e-15) if library == "torch" else (1e-5, 1e-6)
    for name, curve in expected.items():
        np.testing.assert_allclose(curves[name], curve, rtol=rtol, atol=atol, err_msg=name)
    # The straight-through fixed point pi_0* = 0.45 / (0.55 + 0.45) of
    # docs/mathematics.md#polynomial-benchmark.
    assert np.all(np.sign(curves["st-probs"]) == np.sign(pi0 - 0.45))
    assert curves["st"].shape == pi0.shape
    assert np.isfinite(curves["st"]).all()


def test_top_k_inclusion_reference():
    p = np.array(_plot.TOP_K_PROBABILITIES)
    np.testing.assert_allclose(_plot.inclusion_probabilities(p, 1), p, rtol=1e-15)
    # Class i is in an ordered pair if drawn first, or second after some j != i.
    second = np.array([sum(p[j] * p[i] / (1 - p[j]) for j in range(p.size) if j != i)
                       for i in range(p.size)])
    np.testing.assert_allclose(_plot.inclusion_probabilities(p, 2), p + second, rtol=1e-13)
    assert _plot.inclusion_probabilities(p, 3).sum() == pytest.approx(3.0, rel=1e-13)
    np.testing.assert_allclose(_plot.inclusion_probabilities(p, p.size), 1.0, rtol=1e-13)


@pytest.mark.parametrize("log_alpha", [-1.5, 0.0, 2.5])
def test_hard_concrete_law_is_exact(log_alpha):
    integrate = pytest.importorskip("scipy.integrate", reason="scipy is not installed")
    beta, gamma, zeta = 2 / 3, -0.1, 1.1

    def q(x: float) -> float:  # the CDF of the stretched sample, docs/mathematics.md#hard-concrete
        u = (x - gamma) / (zeta - gamma)
        return 1 / (1 + math.exp(-(beta * math.log(u / (1 - u)) - log_alpha)))

    p0, p1, _ = _plot.hard_concrete_law(np.array([0.5]), log_alpha)
    assert p0 == pytest.approx(q(0.0), rel=1e-14)
    assert p1 == pytest.approx(1 - q(1.0), rel=1e-12)
    flipped = _plot.hard_concrete_law(np.array([0.5]), -log_alpha)
    assert p0 == pytest.approx(flipped[1], rel=1e-12)  # -gamma/zeta = 1/11: the atoms mirror

    def density(x: float) -> float:
        return float(_plot.hard_concrete_law(np.array([x]), log_alpha)[2][0])

    for b in (0.3, 0.7, 1.0):
        mass, _ = integrate.quad(density, 0.0, b, epsabs=1e-13, epsrel=1e-11)
        assert mass == pytest.approx(q(b) - q(0.0), rel=1e-9), b
    # Atoms plus the density between them: the whole unit mass.
    assert p0 + p1 + integrate.quad(density, 0.0, 1.0)[0] == pytest.approx(1.0, rel=1e-10)


@pytest.mark.parametrize(("p", "tau"), [(0.3, 0.5), (0.3, 1.0), (0.5, 2.0), (0.9, 0.2)])
def test_binary_concrete_density_is_the_exact_law(p, tau):
    stats = pytest.importorskip("scipy.stats", reason="scipy is not installed")
    integrate = pytest.importorskip("scipy.integrate", reason="scipy is not installed")
    log_alpha = math.log(p / (1 - p))
    y = np.linspace(0.0, 1.0, 201)[1:-1]
    density = _plot.binary_concrete_density(y, log_alpha, tau)
    # logit(Y) is logistic with location log(alpha)/tau and scale 1/tau
    # (docs/mathematics.md#binary-concrete).
    t = np.log(y / (1 - y))
    via_logistic = stats.logistic.pdf(t, loc=log_alpha / tau, scale=1 / tau) / (y * (1 - y))
    np.testing.assert_allclose(density, via_logistic, rtol=1e-12)
    alpha = p / (1 - p)
    direct = (tau * alpha * y ** (-tau - 1) * (1 - y) ** (-tau - 1)
              / (alpha * y ** (-tau) + (1 - y) ** (-tau)) ** 2)
    np.testing.assert_allclose(density, direct, rtol=1e-12)
    # Integrated, it gives the CDF of docs/mathematics.md#binary-concrete, F(y) = 1 / (1 + alpha
    # ((1-y)/y)^tau).
    def cdf(v: float) -> float:
        return 1 / (1 + alpha * ((1 - v) / v) ** tau)

    def pdf_in_logit_space(t: float) -> float:
        # Substituting y = sigmoid(t), dy = y (1 - y) dt, takes away the poles at 0 and 1.
        v = 1 / (1 + math.exp(-t))
        return float(_plot.binary_concrete_density(np.array([v]), log_alpha, tau)[0]) * v * (1 - v)

    for a, b in [(1e-9, 0.5), (0.5, 1 - 1e-9), (0.1, 0.9)]:
        mass, _ = integrate.quad(pdf_in_logit_space, math.log(a / (1 - a)), math.log(b / (1 - b)),
                                 limit=200, epsabs=1e-12, epsrel=1e-10)
        assert mass == pytest.approx(cdf(b) - cdf(a), rel=1e-7), (a, b)


def test_documentation_pictures_are_committed_and_small():
    for name in _plot.FILES:
        path = ROOT / "docs" / "images" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert path.stat().st_size < 150_000, name
    cli_page = (ROOT / "docs" / "cli.md").read_text()
    assert all(f"images/{name}" in cli_page for name in _plot.FILES)


# --- help and docs against what the commands do -----------------------------------------------


def _help(capsys, *command: str) -> str:
    """Return the --help text of ``gumbelkit COMMAND``, its whitespace runs made single spaces."""
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_plot_help_and_docstring_name_every_picture(capsys):
    text = _help(capsys, "plot")
    expected = ["simplex.png", "binary_concrete.png", "hard_frequencies.png",
                "softmax_vs_gumbel_softmax.png", "estimator_gradients.png", "top_k_inclusion.png",
                "hard_concrete.png", "annealing.png", "tail_rates.png"]
    assert list(_plot.FILES) == list(_plot.DRAWINGS) == expected
    assert "Draw nine PNG pictures with matplotlib: " in text
    # In the order they are written, each once.
    positions = [text.find(f" {name} (") for name in expected]
    assert -1 not in positions
    assert positions == sorted(positions)
    assert text.count(".png") == len(expected)
    docstring = " ".join((_plot.__doc__ or "").split())
    assert "eight" not in docstring
    assert all(name in docstring for name in expected)


@pytest.mark.skipif(find_spec("matplotlib") is None,
                    reason="matplotlib is not installed (the plot extra)")
def test_plot_help_names_every_file_the_command_writes(capsys, tmp_path):
    code, _, err = call(capsys, "plot", "--output-dir", str(tmp_path))
    assert code == 0, err
    written = sorted(p.name for p in tmp_path.iterdir())
    assert len(written) >= 8  # the estimator picture needs PyTorch or JAX
    text = _help(capsys, "plot")
    missing = [name for name in written if f" {name} (" not in text]
    assert missing == []


def _markdown_section(heading: str) -> str:
    """Return the text of docs/cli.md under ``## heading``, up to the next such heading."""
    page = (ROOT / "docs" / "cli.md").read_text()
    start = page.index(f"\n## {heading}\n")
    end = page.find("\n## ", start + 1)
    return page[start:] if end == -1 else page[start:end]


def test_cli_docs_describe_every_bench_option(capsys):
    import re

    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", _help(capsys, "bench"))) - {"--help"}
    assert {"--quick", "--json", "--categorical", "--top-k"} <= options
    section = _markdown_section("gumbelkit bench")
    synopsis = section.split("```")[1]
    rows = {match for line in section.splitlines()
            for match in re.findall(r"^\| `(--[a-z-]+)", line)}
    assert sorted(options - rows) == []  # one row of the options table each
    assert sorted(o for o in options if f"[{o}" not in synopsis) == []


def test_cli_docs_info_example_lists_the_backends_in_the_real_order(capsys):
    code, out, _ = call(capsys, "info")
    assert code == 0
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("backend "))
    real = [line.split()[0] for line in lines[header + 1:lines.index("", header)]]
    assert real == ["torch", "numpy", "jax", "cupy", "dask", "array_api_strict"]
    example = _markdown_section("gumbelkit info").split("```")[1].splitlines()
    header = next(i for i, line in enumerate(example) if line.startswith("backend "))
    documented = [line.split()[0] for line in example[header + 1:example.index("", header)]]
    assert documented == real


@pytest.mark.parametrize("case", ["missing folder", "folder is a file", "path is a folder"])
def test_bench_checks_the_json_path_before_timing_anything(case, capsys, monkeypatch, tmp_path):
    def never(settings: _bench.Settings) -> None:
        raise AssertionError("the benchmark ran before the --json path was checked")

    monkeypatch.setitem(_bench.BACKENDS, "numpy", ("numpy", never, 7))
    (tmp_path / "file.txt").write_text("kept\n")
    path, problem = {
        "missing folder": (tmp_path / "missing" / "bench.json",
                           f"the folder {tmp_path / 'missing'} does not exist"),
        "folder is a file": (tmp_path / "file.txt" / "bench.json",
                             f"{tmp_path / 'file.txt'} is not a folder"),
        "path is a folder": (tmp_path, "it is a folder"),
    }[case]
    code, out, err = call(capsys, "bench", "--backends", "numpy", "--shapes", "2x2",
                          "--repeats", "1", "--json", str(path))
    assert code == 2
    assert out == ""
    assert err == f"gumbelkit bench: --json: cannot write {path}: {problem}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_bench_json_path_the_system_refuses_is_found_before_timing(capsys, monkeypatch):
    # A permission check passes everything for root; /proc takes no new file from anyone.
    def never(settings: _bench.Settings) -> None:
        raise AssertionError("the benchmark ran before the --json path was checked")

    monkeypatch.setitem(_bench.BACKENDS, "numpy", ("numpy", never, 7))
    code, out, err = call(capsys, "bench", "--backends", "numpy", "--shapes", "2x2",
                          "--repeats", "1", "--json", "/proc/gumbelkit-bench.json")
    assert (code, out) == (2, "")
    assert err.startswith("gumbelkit bench: --json: cannot write /proc/gumbelkit-bench.json: ")


def test_bench_json_check_leaves_no_file_and_keeps_an_existing_one(tmp_path):
    existing = tmp_path / "kept.json"
    existing.write_text("earlier results\n")
    _bench.check_json_path(existing)
    _bench.check_json_path(tmp_path / "new.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json"]
    assert existing.read_text() == "earlier results\n"
