"""
Per-synapse state, as Brian2's documentation writes it: short-term plasticity
(Tsodyks-Markram ``u`` and ``x``, event-driven), clock-driven synaptic
equations and per-synapse conductances summed into the neuron. The state gets
rows in the influence matrix; gradients equal BPTT on every engine, and finite
differences of Brian2's own run where no unit is inside the surrogate's support.
"""

import numpy as np
import pytest
from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, Synapses, ms

import rtrl_brian as rb
from rtrl_brian import UnsupportedConstructError
from helpers import assert_gradients_agree, gradients_side_by_side, input_raster, relative_error
from test_brian2_constructs import fd_check

STEPS = 50

#: Tsodyks-Markram synapses as in Brian2's examples: facilitation ``u`` and
#: depression ``x`` solved between events (event-driven).
TSODYKS_MARKRAM = """du/dt = (U - u) / tau_f : 1 (event-driven)
                     dx/dt = (1 - x) / tau_d : 1 (event-driven)
                     U : 1
                     tau_f : second (shared)
                     tau_d : second (shared)
                     w : 1"""
TSODYKS_MARKRAM_ON_PRE = """v_post += w * u * x
                            x -= u * x
                            u += U * (1 - u)"""


def short_term_plasticity(v_th=1.0, delay=None):
    """Input and recurrent Tsodyks-Markram synapses onto leaky integrate-and-fire
    neurons."""
    rng = np.random.default_rng(11)
    _, neuron, step = input_raster(rng, 5, STEPS, 0.25)
    inp = SpikeGeneratorGroup(5, neuron, step * ms, name="inp")
    rec = NeuronGroup(8, "dv/dt = -v / (10*ms) : 1", threshold="v > v_th", reset="v = 0",
                      method="exact", name="rec", namespace={"v_th": v_th})
    s_in = Synapses(inp, rec, TSODYKS_MARKRAM, on_pre=TSODYKS_MARKRAM_ON_PRE, name="s_in")
    s_in.connect()
    s_in.w = rng.uniform(0.5, 1.5, len(s_in))
    s_in.U = rng.uniform(0.2, 0.5, len(s_in))
    s_in.u, s_in.x = "U", 1
    s_in.tau_f, s_in.tau_d = 50 * ms, 20 * ms
    s_rec = Synapses(rec, rec, TSODYKS_MARKRAM, on_pre=TSODYKS_MARKRAM_ON_PRE, name="s_rec",
                     delay=delay)
    s_rec.connect(condition="i != j", p=0.6)
    s_rec.w = rng.normal(0.0, 0.6, len(s_rec))
    s_rec.U, s_rec.u, s_rec.x = 0.5, 0.5, 1
    s_rec.tau_f, s_rec.tau_d = 30 * ms, 40 * ms
    target = rng.uniform(0.0, 0.8, (STEPS, 8))
    params = [s_in.w, s_in.U, s_in.tau_f, s_rec.w, s_rec.U, s_rec.tau_d]
    return [inp, rec, s_in, s_rec], params, rec, target


def per_synapse_conductance(v_th=1.0):
    """Conductances integrated per synapse (clock-driven, reading the postsynaptic
    voltage) and summed into the neuron, plus plain recurrent synapses."""
    rng = np.random.default_rng(12)
    _, neuron, step = input_raster(rng, 5, STEPS, 0.25)
    inp = SpikeGeneratorGroup(5, neuron, step * ms, name="inp")
    rec = NeuronGroup(8, """dv/dt = (I - v) / (10*ms) : 1
                            I : 1""",
                      threshold="v > v_th", reset="v = 0", method="exact", name="rec",
                      namespace={"v_th": v_th})
    s_in = Synapses(inp, rec, """dg/dt = (0.1 * v_post - g) / tau_s : 1 (clock-driven)
                                 tau_s : second (shared)
                                 w : 1
                                 I_post = g : 1 (summed)""",
                    on_pre="g += w", method="euler", name="s_in")
    s_in.connect()
    s_in.w = rng.uniform(0.5, 1.5, len(s_in))
    s_in.tau_s = 5 * ms
    s_rec = Synapses(rec, rec, "w : 1", on_pre="v += w", name="s_rec")
    s_rec.connect(condition="i != j", p=0.5)
    s_rec.w = rng.normal(0.0, 0.5, len(s_rec))
    target = rng.uniform(0.0, 0.8, (STEPS, 8))
    return [inp, rec, s_in, s_rec], [s_in.w, s_in.tau_s, s_rec.w], rec, target


def spike_count(objects, group):
    spikes = SpikeMonitor(group)
    Network(*objects, spikes).run(STEPS * ms)
    return spikes.num_spikes


@pytest.mark.parametrize("build", [short_term_plasticity, per_synapse_conductance,
                                   lambda: short_term_plasticity(delay=2 * ms)],
                         ids=["tsodyks-markram", "clock-driven-summed", "with-delays"])
def test_synaptic_state_equals_bptt_on_every_engine(build):
    objects, params, rec, target = build()
    gradients = gradients_side_by_side(objects, params, rb.losses.MSE(rec.v, target),
                                       STEPS * ms)
    assert_gradients_agree(gradients, every_parameter=True)
    for sparse, dense in zip(gradients["sparse"], gradients["dense"]):
        assert relative_error(sparse, dense) < 1e-12


def test_the_recurrent_networks_spike():
    """The equality above covers the surrogate path only if units spike and events arrive."""
    for build in (short_term_plasticity, per_synapse_conductance):
        objects, _, rec, _ = build()
        assert spike_count(objects, rec) > 10


@pytest.mark.codegen_independent
@pytest.mark.parametrize("which", range(3), ids=["w", "U", "tau_f"])
def test_short_term_plasticity_matches_finite_differences(which):
    objects, params, rec, target = short_term_plasticity(v_th=100.0)
    fd_check(objects, params, params[which], rec.v, target, steps=STEPS)


@pytest.mark.codegen_independent
@pytest.mark.parametrize("which", range(2), ids=["w", "tau_s"])
def test_per_synapse_conductance_matches_finite_differences(which):
    objects, params, rec, target = per_synapse_conductance(v_th=100.0)
    fd_check(objects, params, params[which], rec.v, target, steps=STEPS)


@pytest.mark.codegen_independent
def test_recurrent_short_term_plasticity_matches_finite_differences_of_the_spiking_run():
    """Units spike and their events change ``u``, ``x`` and ``lastupdate``; with the
    spikes held fixed (no unit inside the surrogate's support) the gradient is what
    finite differences of Brian2's own run measure."""
    objects, params, rec, target = short_term_plasticity(v_th=0.6)
    assert spike_count(objects, rec) > 10
    objects, params, rec, target = short_term_plasticity(v_th=0.6)
    fd_check(objects, params, params[4], rec.v, target, steps=STEPS, spiking=True,
             indices=range(12))


@pytest.mark.codegen_independent
def test_learning_a_synaptic_state_variable_is_refused():
    objects, params, rec, target = short_term_plasticity()
    with pytest.raises(ValueError, match=r"'s_in.u' is a state variable of 's_in'"):
        rb.RTRL([objects[2].u], rb.losses.MSE(rec.v, target))


@pytest.mark.codegen_independent
def test_compiled_engine_refuses_synaptic_state_by_name():
    objects, params, rec, target = short_term_plasticity()
    with pytest.raises(UnsupportedConstructError,
                       match=r"(?s)engine='compiled' cannot generate the step: PathwayOp of "
                             r"'s_in' .*per-synapse state"):
        rb.RTRL(params, rb.losses.MSE(rec.v, target), engine="compiled")
