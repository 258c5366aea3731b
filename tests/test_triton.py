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
