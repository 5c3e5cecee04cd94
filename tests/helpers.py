"""Shared helpers for the tests: relative errors, input spike trains, synapses, logs, a
small learning network."""

import contextlib
import importlib.util
import logging
import pathlib

import numpy as np
from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, Synapses, TimedArray, ms
from brian2.utils.logger import catch_logs

import rtrl_brian as rb



#: The repository's root (examples/, benchmarks/ and models/ below it).
ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_script(folder, name):
    """The module of the script ``<folder>/<name>.py`` (a folder of the repository's
    root, or a path)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def library_log(level=logging.INFO):
    """
    The library's log records at ``level`` and above while the block runs, as
    ``(level name, logger name, message)``; the list fills when the block ends.
    """
    records = []
    with catch_logs(level, only_from=("rtrl_brian",)) as caught:
        yield records
    records.extend(caught)


def relative_error(actual, expected):
    """``max|actual - expected| / max|expected|`` (absolute if ``expected`` is 0)."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    scale = np.max(np.abs(expected), initial=0.0)
    difference = np.max(np.abs(actual - expected), initial=0.0)
    return difference / scale if scale > 0 else difference


def input_raster(rng, n_inputs, steps, rate):
    """A 0/1 ``(steps, n_inputs)`` raster and matching SpikeGeneratorGroup arguments."""
    raster = (rng.random((steps, n_inputs)) < rate).astype(float)
    step_index, neuron = np.nonzero(raster)
    return raster, neuron, step_index


def dense_weights(synapses, n_pre, n_post):
    """The weight matrix ``W[i, j]`` of a Synapses object (zeros where unconnected)."""
    weights = np.zeros((n_pre, n_post))
    weights[synapses.i[:], synapses.j[:]] = synapses.w[:]
    return weights


def synapse_gradient(grad_matrix, synapses):
    """Per-synapse entries of a dense gradient matrix, in synapse order."""
    return grad_matrix[synapses.i[:], synapses.j[:]]


def weighted_synapses(source, target, on_pre, weights, **connect):
    """
    Synapses with a ``w : 1`` variable, connected by ``connect(**connect)``.

    ``weights(n)`` draws the ``n`` initial weights.
    """
    synapses = Synapses(source, target, "w : 1", on_pre=on_pre)
    synapses.connect(**connect)
    synapses.w = weights(len(synapses))
    return synapses


def gradients_side_by_side(objects, params, loss, duration, engines=("sparse", "dense"),
                           namespace=None, surrogate=None):
    """
    Gradients of ``params`` from RTRL on each engine and from BPTT, in one run.

    Every learner follows the same run of ``objects`` (the network without
    learners), so they see the same spikes and noise.

    Returns
    -------
    gradients : dict
        Engine name (and ``'bptt'``) to a list of gradients, one per parameter.
    """
    learners = {engine: rb.RTRL(params, loss, engine=engine, surrogate=surrogate,
                                namespace=namespace or {}) for engine in engines}
    learners["bptt"] = rb.BPTT(params, loss, surrogate=surrogate, namespace=namespace or {})
    Network(*objects, *learners.values()).run(duration, namespace=namespace or {})
    return {name: [learner.gradient(p) for p in params] for name, learner in learners.items()}


def assert_gradients_agree(gradients, rtol=1e-9, every_parameter=False):
    """Every engine's gradients equal BPTT's to ``rtol`` (relative to the largest), and
    are not all zero (a test that cannot fail otherwise); with ``every_parameter``, no
    parameter's gradient is all zero."""
    reference = gradients["bptt"]
    assert any(np.abs(g).max(initial=0) > 0 for g in reference), "all gradients are zero"
    if every_parameter:
        assert all(np.abs(g).max(initial=0) > 0 for g in reference), "a gradient is zero"
    for name, grads in gradients.items():
        for index, (actual, expected) in enumerate(zip(grads, reference)):
            error = relative_error(actual, expected)
            assert error < rtol, f"{name}, parameter {index}: relative error {error:.2e}"


def spread_indices(size, count=8):
    """At most ``count`` indices spread evenly over ``range(size)``, both ends included:
    the entries a finite-difference check perturbs (two Brian2 runs each)."""
    return np.unique(np.linspace(0, size - 1, min(size, count)).round().astype(int))


def finite_difference_gradient(net, run, loss_of, variable, step, indices=None):
    """
    Central finite differences of ``loss_of()`` after ``run()`` with respect to
    each entry of ``variable`` (changed in place in base units, restored after),
    or the entries ``indices`` (the others stay zero).

    ``net`` is stored before and restored before every run.
    """
    net.store("finite_differences")
    values = variable.variable.get_value()
    estimate = np.zeros(len(values))
    for index in (range(len(values)) if indices is None else indices):
        original = values[index]
        losses = []
        for value in (original + step, original - step):
            net.restore("finite_differences")
            values[index] = value
            run()
            losses.append(loss_of())
        values[index] = original
        estimate[index] = (losses[0] - losses[1]) / (2 * step)
    net.restore("finite_differences")
    return estimate


def lif_network(seed=3, steps=60, delay=None, dt=None, drive=False, n=10):
    """Input raster, a recurrent LIF group of ``n`` units with refractoriness and a leaky
    readout; every object on ``dt`` (None: the defaultclock, of 1 ms in the tests);
    ``drive``: a current per unit from a two-dimensional TimedArray (Euler instead of
    exact integration)."""
    rng = np.random.default_rng(seed)
    step, neuron = np.nonzero(rng.random((steps, 6)) < 0.25)
    inputs = SpikeGeneratorGroup(6, neuron, step * (ms if dt is None else dt), name="inputs",
                                 dt=dt)
    namespace = {"current": TimedArray(rng.uniform(0.0, 0.6, (steps // 4, n)), dt=4 * ms)} \
        if drive else None
    rec = NeuronGroup(n, f"dv/dt = (-v{' + current(t, i)' if drive else ''}) / (12*ms) : 1 "
                      f"(unless refractory)\nv_th : 1 (constant)",
                      threshold="v > v_th", reset="v -= v_th", refractory=2 * ms,
                      method="euler" if drive else "exact", name="rec", dt=dt,
                      namespace=namespace)
    rec.v_th = rng.uniform(0.6, 1.0, n)
    out = NeuronGroup(2, "dy/dt = -y / (15*ms) : 1", method="exact", name="out", dt=dt)
    objects, params = [inputs, rec, out], []
    for source, target, on_pre, density in [(inputs, rec, "v_post += w", 0.6),
                                            (rec, rec, "v_post += w", 0.3),
                                            (rec, out, "y_post += w", 0.8)]:
        synapses = Synapses(source, target, "w : 1", on_pre=on_pre,
                            name=f"{source.name}_{target.name}", dt=dt)
        pre, post = np.nonzero(rng.random((len(source), len(target))) < density)
        synapses.connect(i=pre, j=post)
        synapses.w = rng.normal(0.4, 0.3, len(pre))
        if delay is not None and target is out:
            synapses.delay = delay
        objects.append(synapses)
        params.append(synapses.w)
    params.append(rec.v_th)
    return objects, params, rb.losses.MSE(out.y, rng.normal(0.3, 0.2, (steps, 2)))
