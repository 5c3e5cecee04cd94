"""The demo writes its figures; check_gradients agrees RTRL with BPTT on random networks."""

import numpy as np
import pytest
from brian2 import Network, NeuronGroup, PoissonGroup, TimedArray, Hz, ms, run

import rtrl_brian as rb
from rtrl_brian.demo import run_demo
from helpers import weighted_synapses


def test_demo_writes_figures_and_losses(tmp_path):
    losses = run_demo(tmp_path, trials=3, n_rec=8, steps=30, log=lambda line: None)
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    for name in ("raster.png", "learning_curve.png", "readout.png", "operations.png",
                 "dashboard.png", "losses.csv", "metrics.csv", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.codegen_independent
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_check_gradients_on_random_networks(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 12))
    drive = TimedArray(rng.uniform(0, 0.3, 40), dt=1 * ms)
    poisson = PoissonGroup(6, rates=150 * Hz)
    rec = NeuronGroup(n, """dv/dt = (-v + drive(t) + b) / tau : 1 (unless refractory)
                            da/dt = -a / (30*ms) : 1
                            b : 1 (constant)
                            tau : second (constant)
                            v_th : 1 (constant)""",
                      threshold="v > v_th + 0.2*a", reset="v = 0; a += 0.5", refractory=2 * ms,
                      method=rng.choice(["euler", "rk2", "exact"]))
    rec.tau = rng.uniform(10, 30, n) * ms
    rec.v_th = rng.uniform(0.6, 1.0, n)
    rec.b = rng.uniform(0, 0.5, n)
    out = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact")
    s_in = weighted_synapses(poisson, rec, "v_post += w", lambda k: rng.uniform(0.1, 0.5, k),
                             p=0.6)
    s_rec = weighted_synapses(rec, rec, "v_post += w * (1 - 0.1*a_post)",
                              lambda k: rng.normal(0, 0.3, k), condition="i != j", p=0.4)
    s_out = weighted_synapses(rec, out, "y_post += w", lambda k: rng.normal(0, 0.5, k))
    loss = rb.losses.CrossEntropy(out.y, labels=1, mask=np.arange(40) >= 20)
    result = rb.check_gradients([s_in.w, s_rec.w, s_out.w, rec.tau, rec.v_th, rec.b], loss,
                                40 * ms)
    assert result.max_error < 1e-9, str(result)
    assert all(np.abs(g).max() > 0 for g in result.bptt.values()), str(result)
    run(1 * ms)  # the checked objects can still be simulated with run()


@pytest.mark.codegen_independent
@pytest.mark.parametrize("when", ["start", "after_groups", "after_thresholds"])
def test_refractory_conditional_writes_follow_the_schedule(when):
    """
    Brian2 makes writes to '(unless refractory)' variables conditional on the
    'not_refractory' flag as it is at that point of the step (previous step's,
    recomputed, or cleared by spikes). The replay check fails on any mismatch.
    """
    rng = np.random.default_rng(7)
    poisson = PoissonGroup(5, rates=200 * Hz)
    rec = NeuronGroup(6, """dv/dt = (-v + b) / (15*ms) : 1 (unless refractory)
                            b : 1 (constant)""",
                      threshold="v > 0.8", reset="v -= 0.8", refractory=3 * ms, method="exact")
    rec.b = rng.uniform(0.2, 0.6, 6)
    rec.run_regularly("v += 0.05 * b", when=when)
    out = NeuronGroup(1, "dy/dt = -y / (10*ms) : 1", method="exact")
    s_in = weighted_synapses(poisson, rec, "v_post += w", lambda k: rng.uniform(0.2, 0.5, k),
                             p=0.7)
    s_out = weighted_synapses(rec, out, "y_post += w", lambda k: rng.normal(0, 0.5, k))
    loss = rb.losses.MSE(out.y, np.full((30, 1), 0.5))
    result = rb.check_gradients([s_in.w, s_out.w, rec.b], loss, 30 * ms)
    assert result.max_error < 1e-9, str(result)
    assert np.abs(result.bptt[f"{rec.name}.b"]).max() > 0, str(result)


@pytest.mark.codegen_independent
def test_int_and_timestep_are_evaluated_as_brian2_does():
    """
    ``int()`` truncates towards zero and ``timestep(t, dt)`` truncates the
    slightly shifted step count, as Brian2 computes them. Arguments here are
    not integers (``int`` sees values in [-1.5, 2.1], ``timestep`` times 0.6 dt
    past a step), so a replay that rounded or did not truncate fails the replay
    check at the first step.
    """
    rng = np.random.default_rng(3)
    poisson = PoissonGroup(5, rates=250 * Hz)
    rec = NeuronGroup(6, """dv/dt = (-v + 0.2*level) / (15*ms) : 1
                            level : 1""",
                      threshold="v > 0.9", reset="v -= 0.9", method="exact")
    rec.run_regularly("level = int(4*v - 1.5) + 0.1*(timestep(t + 0.6*dt, dt) % 3)",
                      when="before_thresholds")
    out = NeuronGroup(1, "dy/dt = -y / (10*ms) : 1", method="exact")
    s_in = weighted_synapses(poisson, rec, "v_post += w", lambda k: rng.uniform(0.3, 0.6, k),
                             p=0.7)
    s_out = weighted_synapses(rec, out, "y_post += w * (1 + level_pre)",
                              lambda k: rng.normal(0, 0.5, k))
    loss = rb.losses.MSE(out.y, np.full((30, 1), 0.5))
    result = rb.check_gradients([s_in.w, s_out.w], loss, 30 * ms)
    assert result.max_error < 1e-9, str(result)


@pytest.mark.codegen_independent
def test_recompiles_only_when_the_run_namespace_changes():
    rng = np.random.default_rng(0)
    poisson = PoissonGroup(5, rates=200 * Hz)
    rec = NeuronGroup(4, "dv/dt = -v / tau_m : 1", threshold="v > 1", reset="v -= 1",
                      method="exact")
    s_in = weighted_synapses(poisson, rec, "v_post += w", lambda k: rng.uniform(0.2, 0.6, k))
    learner = rb.RTRL([s_in.w], rb.losses.MSE(rec.v, np.zeros((100, 4))),
                      namespace={"tau_m": 20 * ms})
    net = Network(poisson, rec, s_in, learner)
    net.run(5 * ms, namespace={"tau_m": 20 * ms})
    compiled = learner.ir
    net.run(5 * ms, namespace={"tau_m": 20 * ms})
    assert learner.ir is compiled  # nothing changed: no recompilation
    net.run(5 * ms, namespace={"tau_m": 10 * ms})  # a stale IR would fail the replay check
    assert learner.ir is not compiled


def test_demo_with_adaptive_units(tmp_path):
    losses = run_demo(tmp_path, trials=2, n_rec=6, steps=20, log=lambda line: None,
                      neuron_model="alif")
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    with pytest.raises(ValueError, match="Unknown neuron model 'hh'"):
        run_demo(tmp_path, trials=1, neuron_model="hh")
