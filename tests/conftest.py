"""Test configuration: numpy target by default, Cython cache inside the work tree."""

import gc
import os
import pathlib

import brian2
import pytest


ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cython_cache"


@pytest.fixture(autouse=True, scope="module")
def frozen_survivors():
    """Brian2 calls ``gc.collect()`` at the start of every run, which costs time in
    proportion to every object alive (sympy, Brian2 and earlier test modules): a
    finite-difference check runs Brian2 hundreds of times. What survives into a new
    test module is set aside from the collector (``gc.freeze``); what the module
    itself leaves behind is still collected."""
    gc.collect()
    gc.freeze()
    yield


@pytest.fixture(autouse=True)
def fresh_brian(tmp_path):
    """Each test starts from Brian2's defaults, with a clean magic network."""
    brian2.start_scope()
    brian2.prefs.reset_to_defaults()
    brian2.prefs.codegen.target = "numpy"
    brian2.prefs.codegen.runtime.cython.cache_dir = str(CACHE)
    brian2.defaultclock.dt = 1 * brian2.ms
    yield
    brian2.start_scope()


os.environ.setdefault("MPLBACKEND", "Agg")
