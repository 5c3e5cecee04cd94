"""Test configuration: numpy target by default, Cython cache inside the work tree."""

import os
import pathlib
from unittest import mock

import brian2
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cython_cache"


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


@pytest.fixture
def compiled_step():
    """The learner's step compiled, Brian2 itself on numpy (one compile per network)."""
    with mock.patch("rtrl_brian.rtrl.resolve_target", lambda target: "cython"):
        yield


os.environ.setdefault("MPLBACKEND", "Agg")
