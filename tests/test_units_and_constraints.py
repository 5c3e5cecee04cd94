"""
Units: gradients in SI or as Quantities, learning rates per parameter (parameter
groups) and constraints applied after every update.
"""

import numpy as np
import pytest
from brian2 import (DimensionMismatchError, Network, NeuronGroup, SpikeGeneratorGroup,
                    Synapses, mV, ms, volt)
from brian2.utils.logger import catch_logs

import rtrl_brian as rb
from helpers import input_raster

STEPS = 30


def network():
    """Input weights in volts onto membranes in volts, a unitless readout, learned
    membrane time constants."""
    rng = np.random.default_rng(2)
    _, neuron, step = input_raster(rng, 4, STEPS, 0.3)
    inp = SpikeGeneratorGroup(4, neuron, step * ms, name="inp")
    rec = NeuronGroup(5, """dv/dt = -v / tau : volt
                            tau : second (constant)""",
                      threshold="v > 10*mV", reset="v = 0*mV", method="exact", name="rec")
    rec.tau = 15 * ms
    s_in = Synapses(inp, rec, "w : volt", on_pre="v += w", name="s_in")
    s_in.connect()
    s_in.w = rng.uniform(2, 8, len(s_in)) * mV
    out = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact", name="out")
    s_out = Synapses(rec, out, "w : 1", on_pre="y += w", name="s_out")
    s_out.connect()
    s_out.w = rng.normal(0.3, 0.2, len(s_out))
    target = rng.normal(0.5, 0.2, (STEPS, 2))
    return [inp, rec, s_in, out, s_out], s_in, s_out, rec, rb.losses.MSE(out.y, target)


@pytest.mark.codegen_independent
def test_gradients_are_in_si_units_and_available_as_quantities():
    objects, s_in, s_out, rec, loss = network()
    learner = rb.RTRL([s_in.w, rec.tau, s_out.w], loss)
    Network(*objects, learner).run(STEPS * ms)
    grad = learner.gradient(s_in.w, units=True)
    assert grad.dim == (1 / volt).dim  # the readout and so the loss are unitless
    np.testing.assert_array_equal(np.asarray(grad), learner.gradient(s_in.w))
    assert learner.gradient(rec.tau, units=True).dim == (1 / ms).dim
    assert np.abs(learner.gradient(s_in.w)).max() > 1  # per volt: large numbers


@pytest.mark.codegen_independent
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_parameter_groups_set_learning_rates_per_parameter(optimizer):
    objects, s_in, s_out, rec, loss = network()
    rates = {"s_in.w": 1e-7, "s_out.w": 1e-2}
    make = getattr(rb.optim, optimizer)
    learner = rb.RTRL([s_in.w, s_out.w], loss, update_every=STEPS,
                      optimizer=make(lr=rates["s_out.w"], groups={s_in.w: rates["s_in.w"]}))
    follower = rb.RTRL([s_in.w, s_out.w], loss, name="follower")  # the same gradient
    before = [np.array(s_in.w_), np.array(s_out.w_)]
    Network(*objects, learner, follower).run(STEPS * ms)
    for var, old, label in ((s_in.w, before[0], "s_in.w"), (s_out.w, before[1], "s_out.w")):
        grad = follower.gradient(var)
        assert np.abs(grad).max() > 0
        change = np.asarray(var.variable.get_value()) - old
        if optimizer == "SGD":
            expected = -rates[label] * grad
        else:  # Adam's first step: the rate times the gradient's sign
            expected = -rates[label] * grad / (np.abs(grad) + 1e-8)
        np.testing.assert_allclose(change, expected, rtol=1e-6, atol=1e-15)


@pytest.mark.codegen_independent
def test_bounds_hold_after_every_update():
    """Dale's law for the input weights and positive time constants, against a learning
    rate that would cross both bounds in the first update."""
    objects, s_in, s_out, rec, loss = network()
    learner = rb.RTRL([s_in.w, rec.tau, s_out.w], loss, optimizer=rb.optim.SGD(
        lr=1.0, groups={s_in.w: 1.0, rec.tau: 1.0}),
        bounds={s_in.w: (0 * mV, 6 * mV), rec.tau: (2 * ms, None), s_out.w: (-0.1, 0.4)})
    Network(*objects, learner).run(STEPS * ms)
    assert np.all(s_in.w_ >= 0) and np.all(s_in.w_ <= 6e-3) and np.any(s_in.w_ == 6e-3)
    assert np.all(rec.tau_ >= 2e-3) and np.any(rec.tau_ == 2e-3)
    assert np.all(np.abs(s_out.w_ - 0.15) <= 0.25 + 1e-15)


@pytest.mark.codegen_independent
def test_bad_groups_and_bounds_are_refused_by_name():
    objects, s_in, s_out, rec, loss = network()
    with pytest.raises(DimensionMismatchError, match=r"the bound 0\.1 of 's_in.w' does not "
                                                     r"have its units"):
        rb.RTRL([s_in.w], loss, bounds={s_in.w: (0, 0.1)})
    with pytest.raises(ValueError, match=r"the bounds of 'rec.tau' are reversed"):
        rb.RTRL([rec.tau], loss, bounds={rec.tau: (5 * ms, 1 * ms)})
    with pytest.raises(KeyError, match=r"'rec.tau' is not one of this learner's parameters"):
        rb.RTRL([s_in.w], loss, optimizer=rb.optim.Adam(groups={rec.tau: 1e-6}))
    with pytest.raises(ValueError, match=r"Adam: 'lr' must be a positive number"):
        rb.optim.Adam(groups={s_in.w: -1.0})
    with pytest.raises(TypeError, match=r"SGD: 'groups' must be a dict"):
        rb.optim.SGD(groups=[(s_in.w, 1e-6)])


def large_update_warnings(learner, objects):
    with catch_logs(only_from=("rtrl_brian",)) as logs:
        Network(*objects, learner).run(STEPS * ms)
    return [message for _, name, message in logs if name == "rtrl_brian.update.large_update"]


@pytest.mark.codegen_independent
def test_an_update_out_of_proportion_to_the_parameter_is_reported_once():
    """Found by a new user: Adam(lr=1e-3) on a 0.5 nS weight moves it by a millisiemens;
    here lr=0.1 on millivolt weights."""
    objects, s_in, s_out, rec, loss = network()
    learner = rb.RTRL([s_in.w, s_out.w], loss, optimizer=rb.optim.Adam(lr=0.1),
                      update_every=5, name="learner")
    warnings = large_update_warnings(learner, objects)
    assert len(warnings) == 1, warnings  # once, for s_in.w only
    assert warnings[0].startswith("learner at step 4 (step 4 of the trial): one update "
                                  "changed 's_in.w (inp -> rec)' by ")
    assert "its largest value (" in warnings[0] and "mV)" in warnings[0]


@pytest.mark.codegen_independent
def test_per_parameter_rates_and_bounds_keep_updates_quiet():
    objects, s_in, s_out, rec, loss = network()
    learner = rb.RTRL([s_in.w, s_out.w, rec.tau], loss,
                      optimizer=rb.optim.Adam(lr=1e-3, groups={s_in.w: 1e-5, rec.tau: 1e-5}),
                      update_every=5, bounds={rec.tau: (1 * ms, None)})
    assert large_update_warnings(learner, objects) == []


@pytest.mark.codegen_independent
def test_a_time_constant_pushed_below_zero_is_reported():
    objects, s_in, s_out, rec, loss = network()
    rec.tau = 4 * ms
    learner = rb.RTRL([rec.tau], loss, optimizer=rb.optim.SGD(lr=1.0), update_every=5,
                      name="learner")
    warnings = large_update_warnings(learner, objects)
    assert len(warnings) == 1 and "an update made the time constant 'rec.tau' " in warnings[0]
    assert "bounds={G.tau: (1*ms, None)} with G the group 'rec'" in warnings[0]
