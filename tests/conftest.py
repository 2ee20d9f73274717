"""Shared test set-up: a headless matplotlib backend for every test and notebook kernel."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
