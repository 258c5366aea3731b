"""gumbelkit: Gumbel-Softmax and Gumbel-Max for every array library.

One implementation written against the Python array API standard runs on NumPy, PyTorch, JAX,
CuPy, Dask and array-api-strict arrays; each backend adapter supplies only random numbers and a
stop-gradient. Importing gumbelkit imports no array framework.
"""

from gumbelkit._sampling import gumbel, gumbel_max, gumbel_softmax
from gumbelkit.backends import register_backend

__version__ = "0.1.0"

__all__ = ["__version__", "gumbel", "gumbel_max", "gumbel_softmax", "register_backend"]
