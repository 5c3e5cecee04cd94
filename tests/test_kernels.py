"""Compiled kernels equal the numpy reference; the learner follows prefs.codegen.target."""

from unittest import mock

import numpy as np
import pytest
from brian2 import ms, prefs
from brian2.utils.logger import BrianLogger, catch_logs

import rtrl_brian as rb
from rtrl_brian.kernels import CythonKernels, NumpyKernels
from rtrl_brian.targets import TARGETS, NumpyTarget, StandaloneTarget, runtime_target
from helpers import relative_error
from test_sparse_engine import build, side_by_side, STEPS


def random_coupling(rng, n_rows, n_columns, n_sources, dtype):
    """A coupling whose sources are rows of a separate array and rows of S itself."""
    S = rng.normal(size=(n_rows, n_columns)).astype(dtype)
    scale = rng.uniform(0.5, 2.0, n_rows)
    targets = np.sort(rng.choice(n_rows // 2, size=n_rows // 4, replace=False))
    counts = rng.integers(0, 11, len(targets))  # groups of four sources, and the rest
    indptr = np.concatenate([[0], np.cumsum(counts)])
    own_rows = n_rows // 2 + rng.choice(n_rows // 2, size=3, replace=False)  # not targets
    other = rng.normal(size=(2 * n_sources, n_columns)).astype(dtype)
    parts = [(other, rng.choice(2 * n_sources, size=n_sources, replace=False)), (S, own_rows)]
    sources = rng.integers(0, n_sources + len(own_rows), indptr[-1])
    weights = rng.normal(size=indptr[-1])
    return S, scale, targets, indptr, sources, weights, parts


def reference(S, scale, targets, indptr, sources, weights, parts):
    """Entry by entry, in plain Python."""
    rows = [array[position] for array, positions in parts for position in positions]
    result = S.astype(np.float64)
    for t, target in enumerate(targets):
        for k in range(indptr[t], indptr[t + 1]):
            result[target] += weights[k] / scale[target] * rows[sources[k]]
    return result


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_accumulate_rows_equals_entry_by_entry(dtype):
    args = random_coupling(np.random.default_rng(1), 40, 30, 7, dtype)
    expected = reference(*args)
    NumpyKernels.accumulate_rows(*args)
    assert relative_error(args[0], expected) < (1e-13 if dtype == np.float64 else 1e-5)


@pytest.mark.cython
@pytest.mark.parametrize("block", [16384, 64], ids=["one-block", "several-blocks"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cython_accumulate_rows_equals_numpy(dtype, block, monkeypatch):
    monkeypatch.setattr(CythonKernels, "MIN_BLOCK", block)
    monkeypatch.setattr(CythonKernels, "MAX_BLOCK", block)
    S, *rest = random_coupling(np.random.default_rng(0), 40, 300, 7, dtype)
    expected, actual = S.copy(), S.copy()
    rest_expected = rest[:-1] + [[(expected if array is S else array, positions)
                                 for array, positions in rest[-1]]]
    rest_actual = rest[:-1] + [[(actual if array is S else array, positions)
                               for array, positions in rest[-1]]]
    NumpyKernels.accumulate_rows(expected, *rest_expected)
    CythonKernels().accumulate_rows(actual, *rest_actual)
    tolerance = 1e-13 if dtype == np.float64 else 1e-5
    assert relative_error(actual, expected) < tolerance
    assert relative_error(actual, S) > 0.01  # something was added


@pytest.mark.cython
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threads_of_the_cython_kernel_give_bitwise_the_same_rows(dtype, monkeypatch):
    """Threads take whole column blocks: 1, 2 and 3 threads, the same bits."""
    monkeypatch.setattr(CythonKernels, "MIN_BLOCK", 64)
    monkeypatch.setattr(CythonKernels, "MAX_BLOCK", 64)  # five blocks of 300 columns
    S, *rest = random_coupling(np.random.default_rng(4), 40, 300, 7, dtype)
    results = []
    for threads in (1, 2, 3):
        actual = S.copy()
        parts = [(actual if array is S else array, positions) for array, positions in rest[-1]]
        CythonKernels().accumulate_rows(actual, *rest[:-1], parts, threads=threads)
        results.append(actual)
    assert relative_error(results[0], S) > 0.01
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


@pytest.mark.cython
def test_cython_kernel_refuses_sources_of_another_dtype():
    S, *rest = random_coupling(np.random.default_rng(0), 40, 30, 7, np.float64)
    rest[-1] = [(array.astype(np.float32), positions) for array, positions in rest[-1][:1]]
    with pytest.raises(TypeError, match="C-contiguous float64, got float32"):
        CythonKernels().accumulate_rows(S, *rest)


def test_unknown_target_is_refused():
    with pytest.raises(ValueError, match="No rtrl_brian kernels for the code-generation "
                                         "target 'cuda'"):
        runtime_target("cuda")


@pytest.mark.long
@pytest.mark.cython
@pytest.mark.parametrize("model", ["adaptive-rk2", "graded-events"])
def test_sparse_equals_dense_under_cython(model):
    prefs.codegen.target = "cython"
    objects, params, loss = build(model, seed=1)
    net, dense, sparse = side_by_side(objects, params, loss, False,
                                      rb.surrogates.Triangle(0.4, 0.5))
    net.run(STEPS * ms)
    assert isinstance(sparse.engine.kernels, CythonKernels)
    for var in params:
        assert relative_error(sparse.gradient(var), dense.gradient(var)) < 1e-12, var.name


@pytest.mark.codegen_independent
def test_auto_falling_back_to_numpy_says_so_once():
    with mock.patch("brian2.codegen.runtime.cython_rt.CythonCodeObject.is_available",
                    lambda: False), \
            mock.patch.object(BrianLogger, "_log_messages", set()), \
            catch_logs(only_from=("rtrl_brian",)) as logs:
        assert isinstance(runtime_target("auto").kernels(), NumpyKernels)
        assert isinstance(runtime_target("auto").kernels(), NumpyKernels)
    assert [(level, name) for level, name, _ in logs] == [
        ("WARNING", "rtrl_brian.targets.numpy_fallback")]
    assert "Cython cannot compile here" in logs[0][2]


@pytest.mark.codegen_independent
def test_targets_say_whether_they_work_here():
    assert set(TARGETS) == {"numpy", "cython", "cpp_standalone"}
    assert NumpyTarget.is_available() and StandaloneTarget.is_available()  # g++, make here
    assert runtime_target("numpy").kernel_class is NumpyKernels
    assert runtime_target("cython").compiles_step and not runtime_target("numpy").compiles_step
    with mock.patch("rtrl_brian.targets.shutil.which", lambda name: None):
        assert not StandaloneTarget.is_available()
    with pytest.raises(NotImplementedError, match="no sparse-engine kernels"):
        StandaloneTarget().kernels()
