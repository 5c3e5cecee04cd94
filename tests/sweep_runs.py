"""Runs for tests/test_sweep.py: importable on Dask's worker processes (tests/ is on
their path, as on pytest's)."""

import os
import time

import numpy as np


def square(x, seconds=0.0, offset=0):
    """A run that takes ``seconds`` and says which process made it."""
    from brian2 import prefs

    time.sleep(seconds)
    return {"x": x, "square": np.float64(x * x + offset), "trace": np.arange(3) * 0.1,
            "pid": os.getpid(), "target": prefs.codegen.target}


def refuse(x):
    """A run that fails for odd ``x``."""
    if x % 2:
        raise ValueError(f"odd x={x}")
    return {"x": x}
