"""
Classic Brian2 models (examples/brian2_models/), written as their papers and
Brian2's documentation write them, learn unchanged: on each, RTRL on the sparse and
dense engines equals BPTT of the same run, the compiled engine equals the dense one,
and below threshold the gradient equals finite differences of Brian2's own run.
"""

import sys

import brian2
import matplotlib.pyplot as plt
import numpy as np
import pytest
from brian2 import Network, StateMonitor, defaultclock, seed

import rtrl_brian as rb
from helpers import ROOT, finite_difference_gradient, load_script, relative_error

FOLDER = ROOT / "examples" / "brian2_models"
sys.path.insert(0, str(FOLDER))
import fitting  # noqa: E402

MODELS = ["adaptive_threshold", "adex", "brunel2000", "brunel_hakim", "coba", "cobahh", "cuba",
          "gap_junctions", "izhikevich", "synfire", "tsodyks_markram", "vogels"]
#: Models the compiled engine refuses by name: random numbers drawn into learned groups,
#: synaptic delays, (summed) variables, per-synapse state.
NOT_COMPILED = {"brunel2000", "brunel_hakim", "gap_junctions", "synfire", "tsodyks_markram",
                "vogels"}
#: The models each check runs by default; the rest run with ``-m long`` (as CI does).
DEFAULT = {"exactness": {"adaptive_threshold", "adex", "gap_junctions", "izhikevich"},
           "finite differences": {"adex", "gap_junctions"},
           "compiled": {"adex"},
           "example": {"adex"}}
#: Compiled engine against the dense one. COBAHH's rate functions, written as in the
#: benchmark, ``x / (exp(x/4) - 1)``, cancel catastrophically near ``x = 0`` (the
#: membrane passes there): C's ``exp`` and numpy's differ in the last bit for about 5 %
#: of arguments, and the rates there by up to 1e-9 relative.
COMPILED_RTOL = {"cobahh": 1e-8}
#: Finite-difference steps relative to the parameter (default 1e-6). The synfire chain is
#: linear below threshold, so central differences are exact at any step; its loss is
#: dominated by the resting potential (-70 mV), whose rounding a larger step outgrows.
FD_STEP = {"synfire": 1e-4}


def load(name):
    return load_script(FOLDER, name)


def by_default(check, names=MODELS):
    return [name if name in DEFAULT[check] else pytest.param(name, marks=pytest.mark.long)
            for name in names]


@pytest.mark.codegen_independent
@pytest.mark.parametrize("name", by_default("exactness"))
def test_model_gradients_equal_bptt_on_every_engine(name):
    seed(3)
    errors, gradients = fitting.exactness(load(name).build(), steps=200)
    assert max(errors.values()) < 1e-9, errors
    for sparse, dense in zip(gradients["sparse"], gradients["dense"]):
        assert relative_error(sparse, dense) < 1e-12
    for k, reference in enumerate(gradients["bptt"]):
        assert np.abs(reference).max() > 0, k  # every learned variable is reached


@pytest.mark.codegen_independent
@pytest.mark.parametrize("name", by_default("finite differences"))
def test_model_below_threshold_equals_finite_differences(name):
    """The input weights (or the model's `checked` parameter), loss on the membrane
    potential, the four entries with the largest gradient; random numbers common to
    all runs."""
    model = load(name).build(smooth=True)
    steps = 150
    variable = model.checked if model.checked is not None else next(
        p for p in model.params if p.name == "w_in")
    group, target = model.state.group, np.zeros((steps, len(model.state.group)))
    learner = rb.RTRL([variable], rb.losses.MSE(model.state, target), engine="dense",
                      surrogate=model.surrogate, namespace={})
    monitor = StateMonitor(group, model.state.name, record=True, when="after_end")
    net = Network(*model.objects, learner, monitor)
    net.store("start")
    seed(7)
    net.run(steps * defaultclock.dt)
    gradient = learner.gradient(variable)
    net.restore("start")
    learner.active = False

    def run():
        seed(7)
        net.run(steps * defaultclock.dt)

    def loss_of():
        return 0.5 * np.sum(getattr(monitor, f"{model.state.name}_")[:] ** 2)

    picked = np.argsort(np.abs(gradient))[-4:]
    scale = float(np.max(np.abs(np.asarray(variable.variable.get_value())[picked])))
    estimate = finite_difference_gradient(net, run, loss_of, variable,
                                          FD_STEP.get(name, 1e-6) * scale, picked)
    assert np.abs(gradient[picked]).min() > 0
    assert relative_error(gradient[picked], estimate[picked]) < 1e-6


@pytest.mark.cython
@pytest.mark.parametrize("name", by_default("compiled", sorted(set(MODELS) - NOT_COMPILED)))
def test_compiled_engine_on_the_models(name):
    errors, gradients = fitting.exactness(load(name).build(), steps=200,
                                          engines=("dense", "compiled"))
    rtol = COMPILED_RTOL.get(name, 1e-12)
    assert max(errors.values()) < max(rtol, 1e-9), errors
    for compiled, dense in zip(gradients["compiled"], gradients["dense"]):
        assert relative_error(compiled, dense) < rtol


@pytest.mark.codegen_independent
@pytest.mark.parametrize("name", by_default("example"))
def test_model_example_learns_and_writes_its_figure(name, tmp_path):
    errors, losses = load(name).main(name, load(name).build, ["--trials", "4",
                                                              "--out", str(tmp_path)])
    assert max(errors.values()) < 1e-9
    assert len(losses) == 4 and np.all(np.isfinite(losses))
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000


@pytest.mark.codegen_independent
def test_model_figure_shows_the_run():
    """What the examples' figure shows: spikes of the last trial in time from its start,
    the readout of the first and last trials against the target, the loss per trial."""
    model = load("adex").build()
    learner, (spikes, trace) = fitting.learn(model, 3)
    figure = fitting.figure("adex", learner, (spikes, trace), model)
    raster, readout, curve = figure.axes[:3]
    window = model.steps * float(defaultclock.dt / brian2.ms)
    times = np.concatenate([line.get_xdata() for line in raster.lines])
    assert times.min() >= 0 and times.max() < window
    assert len(times) == np.count_nonzero(spikes.t[:] >= 2 * model.steps * defaultclock.dt)
    y = np.asarray(getattr(trace, model.output.name))[0]
    target, first, last = (line.get_ydata() for line in readout.lines)
    steps = model.steps
    assert np.allclose(first, y[:steps]) and np.allclose(last, y[-steps:])
    assert np.allclose(target, fitting.sine_target(steps, len(model.output.group))[:, 0])
    assert np.allclose(curve.lines[0].get_ydata(), learner.history["trial_loss"])
    plt.close(figure)
