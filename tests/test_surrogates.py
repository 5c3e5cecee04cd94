"""
Surrogate derivatives: each one's formula, its C form, and exact gradients with it.

The references do not share the library's code: each surrogate's formula is
written here from the literature (in another algebraic form where there is
one), gradients come from the hand-written BPTT of tests/test_exact_bptt.py,
and the C forms are compiled here with the system's C compiler. A user's own
surrogate (tests/test_plugins.py's `RaisedCosine`) is checked alongside.
"""

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

import rtrl_brian as rb
from rtrl_brian.surrogates import (ArcTan, Exponential, FastSigmoid, Gaussian, Rectangular,
                                   Sigmoid, Surrogate, Triangle)
from rtrl_brian.errors import UnsupportedConstructError
from helpers import lif_network
from test_plugins import RaisedCosine, assert_equals_hand_bptt

WIDTH, GAIN = 0.6, 0.4


def logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


#: Each surrogate's psi(x) at width W and gain G, written from its paper's form.
FORMULAS = {
    Triangle: lambda x, W, G: G * np.clip(1.0 - np.abs(x) / W, 0.0, None),
    Rectangular: lambda x, W, G: np.where(np.abs(x) < W, G, 0.0),
    FastSigmoid: lambda x, W, G: G / (1.0 + np.abs(x) / W) ** 2,
    ArcTan: lambda x, W, G: G / (1.0 + (x / W) ** 2),
    Sigmoid: lambda x, W, G: 4.0 * G * logistic(x / W) * (1.0 - logistic(x / W)),
    Exponential: lambda x, W, G: G * np.exp(-np.abs(x) / W),
    Gaussian: lambda x, W, G: G * np.exp(-x ** 2 / (2.0 * W ** 2)),
    RaisedCosine: lambda x, W, G: np.where(np.abs(x) < W, G * np.cos(np.pi * x / (2 * W)) ** 2,
                                           0.0),
}
SURROGATES = sorted(FORMULAS, key=lambda cls: cls.__name__)


def formula(cls):
    """``psi`` of ``cls`` at the width and gain of the gradient tests."""
    return lambda x: FORMULAS[cls](x, WIDTH, GAIN)


@pytest.mark.codegen_independent
@pytest.mark.parametrize("cls", SURROGATES, ids=lambda cls: cls.__name__)
def test_each_surrogate_follows_its_formula(cls):
    x = np.linspace(-3.0, 3.0, 601)
    surrogate = cls(width=0.7, gain=1.3)
    values = surrogate(x)
    reference = FORMULAS[cls](x, 0.7, 1.3)
    # the logistic form loses digits to cancellation in 1 - s: absolute tolerance there
    np.testing.assert_allclose(values, reference, rtol=1e-12, atol=1e-15)
    assert surrogate(0.0) == 1.3  # the gain is the peak
    assert np.all(values <= 1.3) and np.all(values >= 0)
    np.testing.assert_array_equal(values, surrogate(-x))  # symmetric
    outside = np.abs(x) > 0.7 * surrogate.support
    assert surrogate.bounded == np.isfinite(surrogate.support)
    assert not surrogate.bounded or np.all(values[outside] == 0)
    assert repr(surrogate) == f"{cls.__name__}(width=0.7, gain=1.3)"


@pytest.mark.codegen_independent
def test_the_c_forms_give_the_numpy_forms(tmp_path):
    """Every surrogate's ``c_expression`` compiled by the system's C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "a C compiler is needed (Brian2's Cython target needs one too)"
    surrogates = [cls(width=0.7, gain=1.3) for cls in SURROGATES]
    functions = "\n".join(
        f"double psi{k}(double x) {{ return {surrogate.c_expression('x')}; }}"
        for k, surrogate in enumerate(surrogates))
    source = tmp_path / "surrogates.c"
    source.write_text(f"#include <math.h>\n{functions}\n")
    library = tmp_path / "surrogates.so"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", str(source), "-o", str(library), "-lm"],
                   check=True)
    compiled = ctypes.CDLL(str(library))
    x = np.concatenate([np.linspace(-3.0, 3.0, 1201), [0.7, -0.7, 1e-300, 800.0, -1e6]])
    for k, surrogate in enumerate(surrogates):
        function = getattr(compiled, f"psi{k}")
        function.restype, function.argtypes = ctypes.c_double, [ctypes.c_double]
        in_c = np.array([function(value) for value in x])
        # exp and cos of C's library and numpy's may differ in the last bit
        np.testing.assert_allclose(in_c, surrogate(x), rtol=4e-16, atol=0,
                                   err_msg=type(surrogate).__name__)


@pytest.mark.codegen_independent
def test_a_surrogate_without_c_form_is_refused_by_the_compiled_engine():
    objects, params, loss = lif_network()

    class NumpyOnly(Surrogate):
        def shape(self, u):
            return np.exp(-np.abs(u))

    with pytest.raises(UnsupportedConstructError,
                       match=r"the surrogate NumpyOnly\(width=1.0, gain=0.3\) \(it has no C "
                             r"form; derive it from rtrl_brian.surrogates.Surrogate and define "
                             r"c_shape\)"):
        rb.RTRL(params, loss, surrogate=NumpyOnly(), engine="compiled")
    with pytest.raises(UnsupportedConstructError, match=r"surrogate <function .*<lambda>"):
        rb.RTRL(params, loss, surrogate=lambda x: np.exp(-np.abs(x)), engine="compiled")
    rb.RTRL(params, loss, surrogate=NumpyOnly(), engine="sparse")  # numpy engines take it


@pytest.mark.codegen_independent
@pytest.mark.parametrize("cls", SURROGATES, ids=lambda cls: cls.__name__)
def test_rtrl_with_each_surrogate_equals_hand_written_bptt(cls):
    learners = assert_equals_hand_bptt(cls(WIDTH, GAIN), formula(cls), ["sparse", "dense"])
    active = np.mean(learners["sparse"].history["active_fraction"])
    assert active < 1 if cls.support < np.inf else active > 0.5


@pytest.mark.cython
@pytest.mark.long
@pytest.mark.parametrize("cls", [cls for cls in SURROGATES if cls is not RaisedCosine],
                         ids=lambda cls: cls.__name__)
def test_the_compiled_engine_with_each_surrogate_equals_hand_written_bptt(cls):
    assert_equals_hand_bptt(cls(WIDTH, GAIN), formula(cls), ["compiled"])
