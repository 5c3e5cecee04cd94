"""
A user's own surrogate, loss and optimizer, defined in this file only.

Each derives from the library's base class (`Surrogate`, `Loss`, `Optimizer`)
and gives its numpy form and its C form; nothing in the library names them.
They run on every engine (gradients against the hand-written BPTT of
tests/test_exact_bptt.py, which takes the surrogate and the loss's derivative
as arguments) and inside the C++ standalone binary (against the compiled
engine on the runtime device).
"""

import numpy as np
import pytest
from brian2 import Network, SpikeMonitor, ms
from brian2.core.base import BrianObjectException

import rtrl_brian as rb
from rtrl_brian.errors import UnsupportedConstructError
from rtrl_brian.losses import Loss
from rtrl_brian.optim import Optimizer
from rtrl_brian.surrogates import Surrogate
from helpers import dense_weights, lif_network, relative_error, synapse_gradient
import test_exact_bptt
from test_exact_bptt import LIF, N_IN, N_OUT, N_REC, STEPS, hand_bptt, mse_derivative
from test_standalone import (binary_and_compiled, build_dir,  # noqa: F401 (fixture)
                             run_learner, standalone)


class RaisedCosine(Surrogate):
    """A surrogate: ``(1 + cos(pi u)) / 2`` on ``|u| < 1``."""

    support = 1.0

    def shape(self, u):
        return np.where(np.abs(u) < 1.0, 0.5 * (1.0 + np.cos(np.pi * u)), 0.0)

    def c_shape(self, u):
        return f"(fabs({u}) < 1.0 ? 0.5 * (1.0 + cos({np.pi!r} * ({u}))) : 0.0)"


class LogCosh(Loss):
    """A loss: ``sum_k log(cosh(y_k - target_k))``, target ``(steps, n)``."""

    def __init__(self, var, target):
        super().__init__(var)
        self.target = np.asarray(target, dtype=np.float64)

    def __call__(self, y, step, t):
        error = y - self.target[step]
        return float(np.sum(np.log(np.cosh(error)))), np.tanh(error)

    def c_arrays(self):
        return {"target": self.target.ravel()}

    def c_code(self, arrays):
        return f"""
        if (_step >= {len(self.target)}) _short = 1;
        else for (size_t k = 0; k < {self.n}; k++) {{
            const double error = _y[k] - {arrays['target']}[_step * {self.n} + k];
            _loss += log(cosh(error));
            _dloss[k] = tanh(error);
        }}"""


class SignDescent(Optimizer):
    """An optimizer: each entry moves by ``lr`` against the sign of its gradient."""

    def step(self, params, grads, rates=None):
        for value, grad, rate in zip(params, grads, rates or [self.lr] * len(params)):
            value -= rate * np.sign(grad)

    def c_update(self, value, gradient, state):
        return f"{value} -= {self.lr!r} * (double) (({gradient} > 0) - ({gradient} < 0));"


def logcosh_derivative(y, target, step):
    return np.tanh(y - target)


def lif_learners(surrogate, engines, loss=rb.losses.MSE, seed=3):
    """The LIF network of tests/test_exact_bptt.py with one learner per engine."""
    raster, inp, rec, out, s_in, s_rec, s_out, target = test_exact_bptt.build(LIF, seed)
    params = [s_in.w, s_rec.w, s_out.w]
    learners = {engine: rb.RTRL(params, loss(out.y, target), surrogate=surrogate,
                                engine=engine, name=f"learner_{engine}")
                for engine in engines}
    weights = [dense_weights(s_in, N_IN, N_REC), dense_weights(s_rec, N_REC, N_REC),
               dense_weights(s_out, N_REC, N_OUT)]
    spikes = SpikeMonitor(rec)
    network = Network(inp, rec, out, s_in, s_rec, s_out, spikes, *learners.values())
    return network, learners, raster, weights, target, (s_in, s_rec, s_out), spikes


def assert_equals_hand_bptt(surrogate, psi, engines, loss=rb.losses.MSE, dloss=mse_derivative):
    """Every engine's gradients equal hand-written BPTT with ``psi`` and ``dloss``."""
    network, learners, raster, weights, target, synapses, spikes = lif_learners(
        surrogate, engines, loss)
    network.run(STEPS * ms)
    *gradients, _, n_spikes = hand_bptt(LIF(None), raster, *weights, target, False, psi=psi,
                                        dloss=dloss)
    assert spikes.num_spikes == n_spikes > 10
    for engine, learner in learners.items():
        for s, gradient in zip(synapses, gradients):
            error = relative_error(learner.gradient(s.w), synapse_gradient(gradient, s))
            assert error < 1e-9, (engine, s.name, error)
        assert np.abs(learner.gradient(synapses[1].w)).max() > 0
    return learners


def raised_cosine(x):
    """The same surrogate, from its other closed form (width 0.6, gain 0.4)."""
    return np.where(np.abs(x) < 0.6, 0.4 * np.cos(np.pi * x / 1.2) ** 2, 0.0)


@pytest.mark.cython
def test_a_users_surrogate_and_loss_on_every_engine_equal_hand_written_bptt():
    assert_equals_hand_bptt(RaisedCosine(0.6, 0.4), raised_cosine,
                            ["sparse", "dense", "compiled"], LogCosh, logcosh_derivative)


@pytest.mark.codegen_independent
def test_a_users_optimizer_learns_on_the_runtime_device():
    objects, params, loss = lif_network()
    before = [np.array(var[:]) for var in params]
    learner = rb.RTRL(params, loss, optimizer=SignDescent(lr=0.01), update_every=10)
    Network(*objects, learner).run(20 * ms)
    steps = [np.abs(np.array(var[:]) - start) for var, start in zip(params, before)]
    assert all(np.all(np.isclose(step, 0.0) | np.isclose(step, 0.01) | np.isclose(step, 0.02))
               for step in steps)  # two updates of lr (or none where the gradient was zero)
    assert max(step.max() for step in steps) == pytest.approx(0.02)


@pytest.mark.codegen_independent
def test_what_has_no_c_form_is_refused_by_name(tmp_path):
    class NumpyOnlyLoss(Loss):
        def __call__(self, y, step, t):
            return 0.0, np.zeros(self.n)

    objects, params, loss = lif_network()
    with standalone(tmp_path, build_on_run=False):
        with pytest.raises(UnsupportedConstructError,
                           match=r"not supported under cpp_standalone: the loss NumpyOnlyLoss "
                                 r"\(it has no C form; define c_code\)"):
            rb.RTRL(params, NumpyOnlyLoss(loss.group.y), namespace={})
        with pytest.raises(UnsupportedConstructError,
                           match=r"the optimizer Optimizer \(it has no C form; define "
                                 r"c_update\)"):
            rb.RTRL(params, loss, optimizer=Optimizer(0.1), namespace={})


@pytest.mark.standalone
@pytest.mark.long
def test_a_users_surrogate_loss_and_optimizer_run_in_the_binary(build_dir):  # noqa: F811
    def network():
        objects, params, loss = lif_network()
        return objects, params, LogCosh(loss.group.y, loss.target)

    options = dict(surrogate=RaisedCosine(0.5, 0.5), optimizer=SignDescent(lr=0.01),
                   update_every=4)
    binary, compiled = binary_and_compiled(build_dir, network, options, 40 * ms)
    assert relative_error(binary["history"]["loss"], compiled["history"]["loss"]) < 1e-12
    assert np.abs(binary["gradients"][1]).max() > 0
    initial = run_learner(network, {}, 0 * ms)["parameters"]
    assert all(np.max(np.abs(p - q)) > 1e-3 for p, q in zip(binary["parameters"], initial))


@pytest.mark.codegen_independent
def test_an_optimizer_given_later_with_more_state_than_the_binary_holds_is_refused(tmp_path):
    class ThreeValues(SignDescent):
        c_state_arrays = 3

    with standalone(tmp_path, build_on_run=False):
        objects, params, loss = lif_network()
        learner = rb.RTRL(params, loss, namespace={})
        learner.optimizer = ThreeValues(0.1)  # SGD's or Adam's would run: room for two
        with pytest.raises(BrianObjectException) as raised:
            Network(*objects, learner).run(1 * ms)
    assert isinstance(raised.value.__cause__, UnsupportedConstructError)
    assert "keeps 3 values per parameter, but the binary has room for 2: give it as " \
           "RTRL(..., optimizer=...)" in str(raised.value.__cause__)
