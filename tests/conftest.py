"""Shared test set-up: a headless matplotlib backend for the test process.

Only this process: notebook kernels started by nbval keep Jupyter's inline backend, so that
figures display as PNGs exactly as they do for a reader.
"""

import matplotlib

matplotlib.use("Agg")
