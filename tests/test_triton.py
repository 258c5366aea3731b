"""Runs tests/triton_interpreted.py, the fused Triton kernel's tests, in Triton's interpreter.

``TRITON_INTERPRET=1`` must be set before Triton is first imported, and in this process
PyTorch may have imported it already, so the tests run in a fresh process.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch is not installed (pip install 'gumbelkit[torch]')")
@pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                    reason="triton is not installed (pip install 'gumbelkit[triton]')")
def test_the_fused_kernel_in_the_interpreter():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         str(HERE / "triton_interpreted.py")],
        env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True,
        timeout=900, cwd=HERE.parent,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert " passed" in result.stdout, result.stdout[-4000:]
    assert "skipped" not in result.stdout, result.stdout[-4000:]


COMPILE_FOR_HOPPER = """
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from gumbelkit.backends import _triton

signature = {"x_ptr": "*fp32", "out_ptr": "*fp32", "seed_ptr": "*i64", "noise_ptr": "*fp32",
             "n_cols": "i64", "n_logit_rows": "i64", "tau": "fp32", "block": "constexpr",
             "single": "constexpr", "write_noise": "constexpr"}
for single, block in [(True, 1024), (False, 256)]:
    source = ASTSource(fn=_triton._gumbel_softmax_kernel, signature=signature,
                       constexprs={"block": block, "single": single, "write_noise": True})
    kernel = triton.compile(source, target=GPUTarget("cuda", 90, 32))
    assert kernel.asm["cubin"], (single, block)
print("compiled")
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch is not installed (pip install 'gumbelkit[torch]')")
@pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                    reason="triton is not installed (pip install 'gumbelkit[triton]')")
def test_the_fused_kernel_compiles_for_a_gpu(tmp_path):
    # The interpreter runs Python, not Triton's compiler: annotations and constructs the
    # compiler rejects pass there. Compiling ahead of time for sm_90 (Triton's bundled
    # toolchain, no GPU needed) checks the code a GPU would run, one pass and two passes.
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    env.update(TRITON_CACHE_DIR=str(tmp_path), TRITON_DEFAULT_FP_FUSION="1")
    result = subprocess.run([sys.executable, "-c", COMPILE_FOR_HOPPER], env=env,
                            capture_output=True, text=True, timeout=600, cwd=HERE.parent)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
    assert "compiled" in result.stdout
