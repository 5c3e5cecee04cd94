"""The demo writes its figures; check_gradients agrees RTRL with BPTT on random networks."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from brian2 import (Network, NeuronGroup, PoissonGroup, SpikeGeneratorGroup, Synapses,
                    TimedArray, Hz, ms, run)
from brian2.utils.logger import catch_logs

import rtrl_brian as rb
from rtrl_brian.apps.demo import demo_figures, run_demo
from rtrl_brian.apps.tasks import PatternGeneration
from rtrl_brian.apps.training import Training
from helpers import weighted_synapses


def test_demo_writes_figures_and_losses(tmp_path):
    losses = run_demo(tmp_path, trials=3, n_rec=8, steps=30)
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    for name in ("raster.png", "learning_curve.png", "readout.png", "operations.png",
                 "dashboard.png", "losses.csv", "metrics.csv", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0


def test_demo_figures_show_what_their_titles_say():
    """Each figure's data: times within the trial, the last held-out trial, one loss
    per training trial, the target under the readout."""
    task = PatternGeneration(steps=30, seed=0)
    training = Training(task, "lif", 8, trials=4, test_trials=3, sparsity=0.5)
    record = training.run()
    figures = demo_figures(training, record)
    raster = figures["raster"].axes[0]
    times = raster.lines[0].get_xdata()
    assert raster.get_title() == "recurrent spikes, last held-out trial"
    assert len(times) and times.min() >= 0 and times.max() < 30
    last_start = (4 + 3 - 1) * 30 * ms
    spikes = training.spikes[1]
    assert len(times) == np.count_nonzero(spikes.t[:] >= last_start)
    curve = figures["learning_curve"].axes[0]
    assert np.allclose(curve.lines[0].get_ydata(), record.loss)
    first, last = figures["readout"].axes
    readout = np.asarray(training.outputs.y)[0]
    for ax, trace in ((first, readout[:30]), (last, readout[-30:])):
        target_line, readout_line = ax.lines
        assert np.allclose(target_line.get_ydata(), task.target[:, 0])
        assert np.allclose(readout_line.get_ydata(), trace)
    assert last.get_legend().get_texts()[1].get_text().startswith(
        f"last held-out trial (held-out NMSE {record.test_score:.3f}")
    operations = figures["operations"].axes[0]
    assert [t.get_text() for t in operations.get_legend().get_texts()] == [
        "dense engine", "sparse engine", "active units (right)"]
    plt.close("all")


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
    losses = run_demo(tmp_path, trials=2, n_rec=6, steps=20, neuron_model="alif",
                      engine="sparse")
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    with pytest.raises(ValueError, match="Unknown neuron model 'hh'"):
        run_demo(tmp_path, trials=1, neuron_model="hh")


def silent_network(weight_in, weight_out):
    """Inputs into four LIF units, read out; the weights as given."""
    inp = SpikeGeneratorGroup(3, [0, 1, 2, 0], [1, 2, 3, 8] * ms, name="inp")
    rec = NeuronGroup(4, "dv/dt = -v / (20*ms) : 1", threshold="v > 1", reset="v -= 1",
                      method="exact", name="rec")
    out = NeuronGroup(1, "dy/dt = -y / (20*ms) : 1", method="exact", name="out")
    s_in = Synapses(inp, rec, "w : 1", on_pre="v += w", name="s_in")
    s_in.connect()
    s_in.w = weight_in
    s_out = Synapses(rec, out, "w : 1", on_pre="y += w", name="s_out")
    s_out.connect()
    s_out.w = weight_out
    return [inp, rec, out, s_in, s_out], [s_in.w, s_out.w], out


@pytest.mark.codegen_independent
@pytest.mark.parametrize("weights, learned, reason", [
    ((0.0, 0.5), 2, "no unit spiked or came inside the surrogate derivative's support"),
    ((1.5, 0.0), 1, "units were inside the surrogate's support, but no parameter's effect "
                    "reached the loss")], ids=["weights-not-set", "readout-zero"])
def test_a_run_leaving_every_gradient_zero_is_reported(weights, learned, reason):
    """Found by a new user: the README's example once never set its weights, and every
    gradient was exactly zero without a word."""
    objects, params, out = silent_network(*weights)
    learner = rb.RTRL(params[:learned], rb.losses.MSE(out.y, np.ones((20, 1))),
                      surrogate=rb.surrogates.Triangle(width=0.3))
    with catch_logs(only_from=("rtrl_brian",)) as logs:
        Network(*objects, learner).run(20 * ms)
    assert [(level, name) for level, name, _ in logs] == [
        ("WARNING", "rtrl_brian.rtrl.zero_gradients")]
    assert logs[0][2].startswith(f"{learner.name}: every gradient is exactly zero after 20 "
                                 f"steps: {reason}")


@pytest.mark.codegen_independent
def test_a_run_with_gradients_is_not_reported():
    objects, params, out = silent_network(1.5, 0.5)
    learner = rb.RTRL(params, rb.losses.MSE(out.y, np.ones((20, 1))))
    with catch_logs(only_from=("rtrl_brian",)) as logs:
        Network(*objects, learner).run(20 * ms)
    assert logs == [] and np.any(learner.gradient(params[0]))


@pytest.mark.codegen_independent
def test_check_names_the_groups_synapses_connect_and_zero_gradients():
    objects, params, out = silent_network(0.0, 0.5)
    result = rb.check_gradients(params, rb.losses.MSE(out.y, np.ones((20, 1))), 20 * ms,
                                network=Network(*objects))
    lines = str(result).splitlines()
    assert lines[1].startswith("s_in.w (inp -> rec)  ") and \
        lines[1].endswith("(both gradients are zero: nothing to compare)")
    assert lines[2].startswith("s_out.w (rec -> out)  ")
