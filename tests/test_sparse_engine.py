"""
The sparse engine gives the dense engine's gradients on random networks.

Both learners observe the same run, so any difference comes from the engines:
which products the sparse engine skips (inactive units, silent synapses,
absent parameters) and its lazy row scaling.
"""

import numpy as np
import pytest
from brian2 import Network, NeuronGroup, PoissonGroup, TimedArray, Hz, ms

import rtrl_brian as rb
from helpers import relative_error, weighted_synapses

STEPS = 50

#: Recurrent models: equations, threshold, reset, method, learned per-neuron parameters.
MODELS = {
    "lif-refractory": dict(
        equations="""dv/dt = (-v + drive(t)) / (20*ms) : 1 (unless refractory)
                     v_th : 1 (constant)""",
        threshold="v > v_th", reset="v = 0", method="exact", refractory=2 * ms,
        on_pre="v_post += w", neuron_params=("v_th",)),
    "adaptive-rk2": dict(
        equations="""dv/dt = (-v + 0.5*tanh(v) + b) / tau : 1
                     da/dt = -a / (40*ms) : 1
                     b : 1 (constant)
                     tau : second (constant)""",
        threshold="v > 0.8 + 0.3*a", reset="a += 1\nv -= 0.8 + 0.3*a", method="rk2",
        refractory=False, on_pre="v_post += w * (1 - 0.1*a_post)", neuron_params=("b", "tau")),
    "current-based": dict(
        equations="""dv/dt = (-v + I) / (15*ms) : 1
                     dI/dt = -I / (5*ms) : 1""",
        threshold="v > 0.7", reset="v -= 0.7", method="euler", refractory=False,
        on_pre="I_post += w", neuron_params=()),
    "graded-events": dict(
        equations="""dc/dt = (-c + a + drive(t)) / (10*ms) : 1
                     da/dt = -a / (5*ms) : 1
                     theta : 1 (constant)""",
        threshold="c > theta", reset="c -= theta", method="exact", refractory=False,
        on_pre="a_post += w * c_pre", neuron_params=("theta",)),
}


def build(model, seed, n=14, p_rec=0.3):
    rng = np.random.default_rng(seed)
    drive = TimedArray(rng.uniform(0.0, 0.4, STEPS), dt=1 * ms)
    spec = MODELS[model]
    poisson = PoissonGroup(8, rates=120 * Hz)
    rec = NeuronGroup(n, spec["equations"], threshold=spec["threshold"], reset=spec["reset"],
                      method=spec["method"], refractory=spec["refractory"],
                      namespace={"drive": drive})
    for name, low, high in (("v_th", 0.6, 1.0), ("b", 0.1, 0.5), ("theta", 0.3, 0.6)):
        if name in rec.variables:
            setattr(rec, name, rng.uniform(low, high, n))
    if "tau" in rec.variables:
        rec.tau = rng.uniform(10, 30, n) * ms
    if model == "lif-refractory":
        rec.run_regularly("v += 0.02", when="start")
    first = spec["on_pre"].split()[0].replace("_post", "")
    out = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact")
    s_in = weighted_synapses(poisson, rec, f"{first}_post += w",
                             lambda k: rng.uniform(0.2, 0.6, k), p=0.6)
    s_rec = weighted_synapses(rec, rec, spec["on_pre"], lambda k: rng.normal(0, 0.4, k),
                              condition="i != j", p=p_rec)
    s_out = weighted_synapses(rec, out, "y_post += w", lambda k: rng.normal(0, 0.5, k))
    params = [s_in.w, s_rec.w, s_out.w] + [getattr(rec, name) for name in spec["neuron_params"]]
    target = rng.normal(0, 0.5, (STEPS, 2))
    return (poisson, rec, out, s_in, s_rec, s_out), params, rb.losses.MSE(out.y, target)


def side_by_side(objects, params, loss, detach, surrogate, **sparse_options):
    """A dense and a sparse learner on one network."""
    dense = rb.RTRL(params, loss, surrogate=surrogate, detach_reset=detach, engine="dense")
    sparse = rb.RTRL(params, loss, surrogate=surrogate, detach_reset=detach, engine="sparse",
                     **sparse_options)
    return Network(*objects, dense, sparse), dense, sparse


@pytest.mark.codegen_independent
@pytest.mark.parametrize("detach", [False, True], ids=["reset-differentiated", "reset-detached"])
@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_equals_dense(model, detach, seed):
    net, dense, sparse = side_by_side(*build(model, seed), detach,
                                      rb.surrogates.Triangle(0.4, 0.5))
    params = sparse.params
    net.run(STEPS * ms)
    for var in params:
        reference = dense.gradient(var)
        assert np.abs(reference).max() > 0
        assert relative_error(sparse.gradient(var), reference) < 1e-12, var.name
    active = np.mean(sparse.history["active_fraction"])
    assert 0 < active < 1  # activity sparsity was exercised, not trivially all or nothing
    done = np.sum(sparse.history["multiply_adds"])
    assert done < np.sum(sparse.history["multiply_adds_dense"])
    assert np.sum(dense.history["multiply_adds"]) == np.sum(dense.history["multiply_adds_dense"])
    assert np.sum(dense.history["multiply_adds_dense"]) == \
        np.sum(sparse.history["multiply_adds_dense"])
    for block in dense.layout.blocks:  # the influence matrices themselves, spike rows included
        assert relative_error(sparse.engine.influence(block), dense.engine.influence(block)) \
            < 1e-12, block


@pytest.mark.codegen_independent
def test_sparse_equals_dense_across_trials_and_long_decay():
    """reset_state between trials, and scales that would underflow without materialising."""
    net, dense, sparse = side_by_side(*build("lif-refractory", seed=4), False,
                                      rb.surrogates.Triangle(0.4, 0.5))
    net.run(STEPS * ms)
    for learner in (dense, sparse):
        learner.reset_state()
        learner.zero_grad()
    net.run(STEPS * ms)
    for var in sparse.params:
        assert relative_error(sparse.gradient(var), dense.gradient(var)) < 1e-12, var.name
    assert len(sparse.history["trial_loss"]) == 1


@pytest.mark.codegen_independent
def test_float32_influence_matrix_is_close():
    net, dense, sparse = side_by_side(*build("adaptive-rk2", seed=2), False,
                                      rb.surrogates.Triangle(0.4, 0.5), dtype=np.float32)
    net.run(STEPS * ms)
    assert sparse.engine.S.dtype == np.float32
    for var in sparse.params:
        assert relative_error(sparse.gradient(var), dense.gradient(var)) < 1e-4, var.name


@pytest.mark.codegen_independent
def test_pruned_synapses_cost_no_memory():
    _, params, loss = build("lif-refractory", seed=0, p_rec=0.8)
    crowded = rb.RTRL(params, loss).engine.nbytes
    _, params, loss = build("lif-refractory", seed=0, p_rec=0.1)
    pruned = rb.RTRL(params, loss).engine.nbytes
    assert pruned < 0.6 * crowded


@pytest.mark.codegen_independent
@pytest.mark.parametrize("code", [
    "y = 0.9*y + 0.2*x\nx = 0.5*(y - 0.2*x)",         # x's new value reads only old y
    "x_was = x\nx = 0.45*y\ny = 0.9*y + 0.2*x_was",     # the same, through a temporary
], ids=["cancelled", "temporary"])
def test_outputs_of_one_op_read_each_others_old_rows(code):
    """An output with only cross terms writes rows that another output reads (old values)."""
    rng = np.random.default_rng(5)
    poisson = PoissonGroup(6, rates=150 * Hz)
    rec = NeuronGroup(5, "x : 1\ny : 1")
    rec.run_regularly(code, when="start")
    s_x = weighted_synapses(poisson, rec, "x_post += w", lambda k: rng.normal(0, 0.5, k), p=0.7)
    s_y = weighted_synapses(poisson, rec, "y_post += w", lambda k: rng.normal(0, 0.5, k), p=0.7)
    target = rng.normal(0, 0.5, (STEPS, 5))
    net, dense, sparse = side_by_side((poisson, rec, s_x, s_y), [s_x.w, s_y.w],
                                      rb.losses.MSE(rec.y, target), False,
                                      rb.surrogates.Triangle(0.4, 0.5))
    net.run(STEPS * ms)
    for var in (s_x.w, s_y.w):
        assert relative_error(sparse.gradient(var), dense.gradient(var)) < 1e-12, var.name
        assert np.abs(dense.gradient(var)).max() > 0


@pytest.mark.codegen_independent
def test_reset_with_a_temporary_name():
    rng = np.random.default_rng(6)
    poisson = PoissonGroup(6, rates=200 * Hz)
    rec = NeuronGroup(5, "dv/dt = -v / (20*ms) : 1", threshold="v > 0.6",
                      reset="v_was = v\nv = 0.2*v_was - 0.1", method="exact")
    s_in = weighted_synapses(poisson, rec, "v_post += w", lambda k: rng.uniform(0.1, 0.5, k),
                             p=0.8)
    s_rec = weighted_synapses(rec, rec, "v_post += w", lambda k: rng.normal(0, 0.3, k),
                              condition="i != j")
    target = rng.normal(0, 0.5, (STEPS, 5))
    net, dense, sparse = side_by_side((poisson, rec, s_in, s_rec), [s_in.w, s_rec.w],
                                      rb.losses.MSE(rec.v, target), False,
                                      rb.surrogates.Triangle(0.4, 0.5))
    net.run(STEPS * ms)
    assert sparse.ir.groups[rec.name].state_vars == dense.ir.groups[rec.name].state_vars
    assert "v_was" not in sparse.ir.groups[rec.name].state_vars
    for var in (s_in.w, s_rec.w):
        assert relative_error(sparse.gradient(var), dense.gradient(var)) < 1e-12, var.name
        assert np.abs(dense.gradient(var)).max() > 0
