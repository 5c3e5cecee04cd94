"""
Constructs that cannot be differentiated exactly are refused with a message
naming the object, the line and the construct; nothing in the network changes.
"""

import numpy as np
import pytest
from brian2 import (Network, NeuronGroup, Synapses, check_units, implementation, ms,
                    network_operation)
from brian2.core.base import BrianObjectException

import rtrl_brian as rb
from rtrl_brian import UnsupportedConstructError


def network(rec_eqs="dv/dt = -v / (10*ms) : 1", **synapse_kwds):
    rec = NeuronGroup(4, rec_eqs, threshold="v > 1", reset="v -= 1", method="euler",
                      name="rec")
    out = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact", name="out")
    s_rec = Synapses(rec, rec, "w : 1", on_pre="v_post += w", name="s_rec", **synapse_kwds)
    s_rec.connect()
    s_out = Synapses(rec, out, "w : 1", on_pre="y_post += w", name="s_out")
    s_out.connect()
    return rec, out, s_rec, s_out


def learner(s_rec, s_out, out):
    return rb.RTRL([s_rec.w, s_out.w], rb.losses.MSE(out.y, np.zeros((10, 2))))


@pytest.mark.codegen_independent
def test_reading_a_refractory_presynaptic_variable_into_a_refractory_one_is_refused():
    """Found by tests/test_properties.py: Brian2 then conditions the write on the
    presynaptic group's 'not_refractory' (both flags share the name)."""
    groups = [NeuronGroup(3, "dv/dt = -v / (10*ms) : 1 (unless refractory)", threshold="v > 1",
                          reset="v = 0", refractory=2 * ms, method="exact", name=name)
              for name in ("pre", "post")]
    graded = Synapses(groups[0], groups[1], "w : 1", on_pre="v_post += w * v_pre", name="graded")
    graded.connect()
    loss = rb.losses.MSE(groups[1].v, np.zeros((10, 3)))
    with pytest.raises(UnsupportedConstructError,
                       match=r"Synapses 'graded': 'v_post \+= w \* v_pre' uses a read of 'v_pre', "
                             r"an '\(unless refractory\)' variable of the presynaptic group"):
        rb.RTRL([graded.w], loss)


@pytest.mark.codegen_independent
def test_a_refractory_presynaptic_write_beside_a_refractory_postsynaptic_read_is_refused():
    """Brian2 fails to run this one (it loads the postsynaptic flag for the write)."""
    pre, post = (NeuronGroup(3, f"d{v}/dt = -{v} / (10*ms) : 1 (unless refractory)",
                             threshold=f"{v} > 1", reset=f"{v} = 0", refractory=2 * ms,
                             method="exact", name=name) for name, v in (("pre", "v"),
                                                                         ("post", "x")))
    s_post = Synapses(pre, post, "w : 1", on_pre="x_post += w",
                      on_post="v_pre += 0.1*w*(1 + x_post)", name="s_post")
    s_post.connect()
    with pytest.raises(UnsupportedConstructError,
                       match=r"Synapses 's_post': 'v_pre \+= 0.1\*w\*\(1 \+ x_post\)' uses a "
                             r"read of 'x_post', an '\(unless refractory\)' variable of the "
                             r"postsynaptic group, while writing the '\(unless refractory\)' "
                             r"variable 'v_pre'"):
        rb.RTRL([s_post.w], rb.losses.MSE(post.x, np.zeros((10, 3))))


@pytest.mark.codegen_independent
def test_stdp_on_a_learned_weight_is_refused():
    rec, out, _, s_out = network()
    s_stdp = Synapses(rec, rec, "w : 1", on_pre="v_post += w", on_post="w += 0.01",
                      name="s_stdp")
    s_stdp.connect()
    with pytest.raises(UnsupportedConstructError,
                       match=r"Synapses 's_stdp': 'w \+= 0.01' uses a write to the learned "
                             r"parameter 'w' \(plasticity of a learned parameter\)"):
        learner(s_stdp, s_out, out)


@pytest.mark.codegen_independent
def test_unknown_function_of_state_is_refused():
    @implementation("numpy", discard_units=True)
    @check_units(x=1, result=1)
    def squash(x):
        return x / (1 + abs(x))

    rec, out, s_rec, s_out = network("dv/dt = (-v + squash(v)) / (10*ms) : 1")
    with pytest.raises(UnsupportedConstructError,
                       match=r"NeuronGroup 'rec'.*function 'squash\(\)' of the learned quantity 'v'"):
        rb.RTRL([s_rec.w], rb.losses.MSE(out.y, np.zeros((10, 2))))


@pytest.mark.codegen_independent
def test_plasticity_in_on_pre_is_refused():
    rec, out, _, s_out = network()
    s_stdp = Synapses(rec, rec, "w : 1", on_pre="v_post += w\nw += 0.01", name="s_stdp")
    s_stdp.connect()
    with pytest.raises(UnsupportedConstructError,
                       match=r"Synapses 's_stdp'.*'w \+= 0.01'.*a write to the learned "
                             r"parameter 'w' \(plasticity of a learned parameter\).*The "
                             r"optimizer owns learned parameters"):
        learner(s_stdp, s_out, out)


@pytest.mark.codegen_independent
def test_state_variable_as_parameter_is_refused():
    rec, out, s_rec, s_out = network()
    with pytest.raises(ValueError, match=r"'rec.v' is a state variable of 'rec'"):
        rb.RTRL([rec.v], rb.losses.MSE(out.y, np.zeros((10, 2))))


@pytest.mark.codegen_independent
def test_loss_on_group_no_parameter_influences_is_refused():
    rec, out, s_rec, s_out = network()
    other = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", name="other")
    with pytest.raises(ValueError, match=r"loss reads 'other.y', but no parameter .* influences 'other'"):
        rb.RTRL([s_rec.w], rb.losses.MSE(other.y, np.zeros((10, 2))))


@pytest.mark.codegen_independent
def test_parameter_outside_the_network_is_refused_at_run():
    rec, out, s_rec, s_out = network()
    learner_obj = learner(s_rec, s_out, out)
    weights = np.array(s_rec.w[:])
    from brian2 import Network
    net = Network(rec, out, s_rec, learner_obj)  # s_out missing
    with pytest.raises(BrianObjectException) as raised:  # raised in before_run
        net.run(2 * ms)
    assert "'s_out' is not part of the network being run" in str(raised.value.__cause__)
    assert np.array_equal(s_rec.w[:], weights)


@pytest.mark.codegen_independent
def test_synapses_left_out_of_the_network_are_left_out_of_learning():
    """The learner compiles from the objects of the network that runs it: synapses into a
    learned group that exist, but are not part of that network, change nothing."""
    def gradients(stray):
        rec, out, s_rec, s_out = network("dv/dt = (5 - v) / (10*ms) : 1")
        s_rec.w, s_out.w = 0.3, 0.5
        if stray:
            stray = Synapses(rec, rec, on_pre="v_post += 0.4", name="stray")
            stray.connect()
        rtrl = rb.RTRL([s_rec.w, s_out.w], rb.losses.MSE(out.y, np.ones((80, 2))))
        Network(rec, out, s_rec, s_out, rtrl).run(8 * ms)
        return rtrl.gradient(s_rec.w), rtrl.gradient(s_out.w)

    with_stray, without = gradients(True), gradients(False)
    assert np.all(without[0] != 0)
    for found, expected in zip(with_stray, without):
        assert np.array_equal(found, expected)


@pytest.mark.codegen_independent
def test_threshold_must_be_made_of_comparisons():
    rec = NeuronGroup(4, "dv/dt = -v / (10*ms) : 1", threshold="v > 1 or v == 3",
                      reset="v = 0", name="rec")
    s = Synapses(rec, rec, "w : 1", on_pre="v_post += w", name="s")
    s.connect()
    with pytest.raises(UnsupportedConstructError,
                       match=r"NeuronGroup 'rec': 'threshold='v > 1 or v == 3'' uses a threshold "
                             r"condition 'Eq\(v, 3\)'"):
        rb.RTRL([s.w], rb.losses.MSE(rec.v, np.zeros((10, 4))))


@pytest.mark.codegen_independent
def test_wrong_target_shape_is_refused():
    rec, out, s_rec, s_out = network()
    with pytest.raises(ValueError, match=r"MSE target for 'out.y' must have shape \(steps, 2\), got \(10, 3\)"):
        rb.losses.MSE(out.y, np.zeros((10, 3)))


@pytest.mark.codegen_independent
def test_bad_surrogate_arguments_are_refused():
    with pytest.raises(ValueError, match="'width' must be a positive number"):
        rb.surrogates.Triangle(width=0.0)


@pytest.mark.codegen_independent
@pytest.mark.parametrize("value, error, message", [
    (0.5, RuntimeError, r"replay of 'rec.v' \(neuron 1: .*\) differs from what Brian2 computed"),
    (np.nan, FloatingPointError, r"at step 0 \(step 0 of the trial\) 'rec.v' of neuron 1 is nan "
                                 r"as Brian2 computed it. Learning stopped"),
], ids=["changed", "nan"])
def test_a_network_operation_changing_state_stops_the_run(value, error, message):
    rec, out, s_rec, s_out = network()
    rec.v = 0.3

    @network_operation(when="synapses", order=10)
    def meddle():
        rec.variables["v"].get_value()[1] += value

    learn = learner(s_rec, s_out, out)
    with pytest.raises(error, match=message):
        Network(rec, out, s_rec, s_out, learn, meddle).run(3 * ms)
