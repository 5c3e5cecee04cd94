"""Compiled kernels equal the numpy reference; the learner follows prefs.codegen.target."""

import numpy as np
import pytest
from brian2 import Network, ms, prefs

import rtrl_brian as rb
from rtrl_brian.kernels import CythonKernels, NumpyKernels, kernels_for_target
from helpers import relative_error
from test_sparse_engine import build, side_by_side, STEPS


def random_coupling(rng, n_rows, n_columns, n_sources, dtype):
    S = rng.normal(size=(n_rows, n_columns)).astype(dtype)
    scale = rng.uniform(0.5, 2.0, n_rows)
    targets = np.sort(rng.choice(n_rows, size=n_rows // 2, replace=False))
    counts = rng.integers(0, 11, len(targets))  # groups of four sources, and the rest
    indptr = np.concatenate([[0], np.cumsum(counts)])
    sources = rng.integers(0, n_sources, indptr[-1])
    weights = rng.normal(size=indptr[-1])
    source_rows = rng.normal(size=(n_sources, n_columns)).astype(dtype)
    return S, scale, targets, indptr, sources, weights, source_rows


@pytest.mark.cython
@pytest.mark.parametrize("block", [16384, 64], ids=["one-block", "several-blocks"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cython_accumulate_rows_equals_numpy(dtype, block, monkeypatch):
    monkeypatch.setattr(CythonKernels, "MIN_BLOCK", block)
    monkeypatch.setattr(CythonKernels, "MAX_BLOCK", block)
    args = random_coupling(np.random.default_rng(0), 40, 300, 7, dtype)
    expected = args[0].copy()
    NumpyKernels.accumulate_rows(expected, *args[1:])
    actual = args[0].copy()
    CythonKernels().accumulate_rows(actual, *args[1:])
    tolerance = 1e-13 if dtype == np.float64 else 1e-5
    assert relative_error(actual, expected) < tolerance
    assert relative_error(actual, args[0]) > 0.01  # something was added


def test_unknown_target_is_refused():
    with pytest.raises(ValueError, match="No rtrl_brian kernels for the code-generation "
                                         "target 'cuda'"):
        kernels_for_target("cuda")


@pytest.mark.cython
def test_sparse_equals_dense_under_cython():
    prefs.codegen.target = "cython"
    objects, params, loss = build("adaptive-rk2", seed=1)
    net, dense, sparse = side_by_side(objects, params, loss, False,
                                      rb.surrogates.Triangle(0.4, 0.5))
    net.run(STEPS * ms)
    assert isinstance(sparse.engine.kernels, CythonKernels)
    for var in params:
        assert relative_error(sparse.gradient(var), dense.gradient(var)) < 1e-12, var.name
