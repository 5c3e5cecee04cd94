"""
RTRL against central finite differences of Brian2's own simulation, on runs
where no unit comes near threshold (the map is then smooth, so finite
differences are a reference independent of any derivation).
"""

import numpy as np
import pytest
from brian2 import (Network, NeuronGroup, SpikeGeneratorGroup, StateMonitor, Synapses,
                    TimedArray, ms)

import rtrl_brian as rb
from helpers import finite_difference_gradient, input_raster, relative_error, spread_indices

STEPS = 40


def build(rng):
    _, neuron, step = input_raster(rng, 5, STEPS, 0.2)
    drive = TimedArray(rng.uniform(0.0, 0.5, (STEPS, 8)), dt=1 * ms)
    inp = SpikeGeneratorGroup(5, neuron, step * ms)
    rec = NeuronGroup(8, """dv/dt = (-v + 0.3*tanh(2*u) + drive(t, i)) / tau : 1
                            du/dt = (v - u) / (15*ms) : 1
                            tau : second (constant)
                            v_th : 1 (constant)""",
                      threshold="v > v_th", reset="v = 0", method="rk2")
    rec.tau = rng.uniform(8, 20, 8) * ms
    rec.v_th = 100.0  # never reached: smooth map
    rec.run_regularly("u *= 0.99")
    s_in = Synapses(inp, rec, "w : 1", on_pre="v_post += w * (1 + 0.1*u_post)")
    s_in.connect(p=0.7)
    s_in.w = rng.uniform(0.1, 0.5, len(s_in))
    target = rng.normal(0.0, 0.2, (STEPS, 8))
    return inp, rec, s_in, target, drive


def loss_of(monitor, target):
    return 0.5 * np.sum((monitor.u[:].T - target) ** 2)


@pytest.mark.codegen_independent
def test_rtrl_equals_finite_differences_on_smooth_run():
    rng = np.random.default_rng(11)
    inp, rec, s_in, target, drive = build(rng)
    monitor = StateMonitor(rec, "u", record=True, when="after_end")
    learner = rb.RTRL([s_in.w, rec.tau], rb.losses.MSE(rec.u, target), engine="dense")
    net = Network(inp, rec, s_in, monitor, learner)
    net.store()
    net.run(STEPS * ms, namespace={"drive": drive})
    grad_w, grad_tau = learner.gradient(s_in.w), learner.gradient(rec.tau)
    learner.active = False

    def run():
        net.run(STEPS * ms, namespace={"drive": drive})

    net.restore()
    for variable, grad, step in ((s_in.w, grad_w, 1e-6), (rec.tau, grad_tau, 1e-9)):
        picked = spread_indices(len(grad))
        estimate = finite_difference_gradient(net, run, lambda: loss_of(monitor, target),
                                              variable, step, picked)
        assert relative_error(grad[picked], estimate[picked]) < 1e-6
        assert np.abs(grad).max() > 0
