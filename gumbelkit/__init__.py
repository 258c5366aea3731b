"""gumbelkit: Gumbel-Softmax and Gumbel-Max for every array library.

One implementation written against the Python array API standard runs on NumPy, PyTorch, JAX,
CuPy, Dask and array-api-strict arrays; each backend adapter supplies only random numbers and a
stop-gradient. Importing gumbelkit imports no array framework.
"""

from gumbelkit import distributions, schedules
from gumbelkit._categorical import categorical
from gumbelkit._conditional import conditional_gumbel
from gumbelkit._row_blocks import get_num_threads, set_num_threads
from gumbelkit._sampling import gumbel, gumbel_max, gumbel_softmax
from gumbelkit._tokens import filter_logits, sample_tokens
from gumbelkit._top_k import gumbel_top_k, plackett_luce_log_prob, relaxed_top_k
from gumbelkit.backends import register_backend
from gumbelkit.estimators import Gapped, GumbelRao, ReinMaxTemperatureWarning

__version__ = "0.1.0"

__all__ = [
    "Gapped",
    "GumbelRao",
    "ReinMaxTemperatureWarning",
    "__version__",
    "categorical",
    "conditional_gumbel",
    "distributions",
    "filter_logits",
    "get_num_threads",
    "gumbel",
    "gumbel_max",
    "gumbel_softmax",
    "gumbel_top_k",
    "plackett_luce_log_prob",
    "register_backend",
    "relaxed_top_k",
    "sample_tokens",
    "schedules",
    "set_num_threads",
]
