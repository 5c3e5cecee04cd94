"""
Threads split the influence matrix's columns (`RTRL(..., threads=)`): the compiled
engine's step applies its row operations to column ranges, one per thread, and
every column sees the same operations in the same order, so online learning is
bitwise the same for any number of threads. (The sparse engine's kernel:
tests/test_kernels.py; the binary's OpenMP threads: tests/test_standalone.py.)
"""

import numpy as np
import pytest
from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, Synapses, ms, set_device

import rtrl_brian as rb
from rtrl_brian.targets import available_threads
from helpers import input_raster, relative_error
from test_compiled_engine import compiled_and_dense

STEPS = 50


def recurrent_network(n=40, seed=2):
    """Inputs, a recurrent LIF group and a leaky readout: about 1,000 weights, enough
    columns for three threads."""
    rng = np.random.default_rng(seed)
    _, neuron, step = input_raster(rng, 8, STEPS, 0.2)
    inputs = SpikeGeneratorGroup(8, neuron, step * ms, name="inputs")
    rec = NeuronGroup(n, "dv/dt = -v / (10*ms) : 1", threshold="v > 1", reset="v -= 1",
                      method="exact", name="rec")
    out = NeuronGroup(2, "dy/dt = -y / (15*ms) : 1", method="exact", name="out")
    objects, params = [inputs, rec, out], []
    for source, target, on_pre, density in [(inputs, rec, "v_post += w", 0.7),
                                            (rec, rec, "v_post += w", 0.45),
                                            (rec, out, "y_post += w", 1.0)]:
        synapses = Synapses(source, target, "w : 1", on_pre=on_pre,
                            name=f"{source.name}_{target.name}")
        pre, post = np.nonzero(rng.random((len(source), len(target))) < density)
        synapses.connect(i=pre, j=post)
        synapses.w = rng.normal(0.3, 0.4, len(pre))
        objects.append(synapses)
        params.append(synapses.w)
    return objects, params, rb.losses.MSE(out.y, rng.normal(0.3, 0.2, (STEPS, 2)))


def learn(threads):
    """Online learning (Adam every 5 steps) on the compiled engine with ``threads``."""
    objects, params, loss = recurrent_network()
    learner = rb.RTRL(params, loss, surrogate=rb.surrogates.Triangle(0.5, 0.4),
                      engine="compiled", optimizer=rb.optim.Adam(lr=0.02), update_every=5,
                      threads=threads, name="learner")
    Network(*objects, learner).run(STEPS * ms)
    engine = learner.engine
    return {"threads used": engine.threads_used, "columns": engine.n_columns,
            "gradients": [learner.gradient(var) for var in params],
            "parameters": [np.array(var[:]) for var in params],
            "M": engine.M.copy(), "loss": np.asarray(learner.history["loss"]),
            "active": np.asarray(learner.history["active_fraction"])}


@pytest.mark.cython
def test_threads_learn_bitwise_the_same():
    one, two, three = (learn(threads) for threads in (1, 2, 3))
    assert one["columns"] >= 3 * 256  # every thread gets a range of its own
    if two["threads used"] == 1:
        pytest.skip("the compiler has no OpenMP here: one thread")
    assert (one["threads used"], two["threads used"], three["threads used"]) == (1, 2, 3)
    assert 0 < np.mean(one["active"]) < 1
    assert np.max(np.abs(one["parameters"][1] - recurrent_network()[1][1][:])) > 1e-3
    for other in (two, three):
        for key in ("gradients", "parameters"):
            for ours, reference in zip(other[key], one[key]):
                np.testing.assert_array_equal(ours, reference)
        for key in ("M", "loss"):
            np.testing.assert_array_equal(other[key], one[key])


@pytest.mark.cython
def test_threads_give_the_dense_engines_gradients():
    objects, params, loss = recurrent_network()
    net, dense, compiled = compiled_and_dense(objects, params, loss, threads=2)
    net.run(STEPS * ms)
    for var in params:
        assert np.abs(dense.gradient(var)).max() > 0
        assert relative_error(compiled.gradient(var), dense.gradient(var)) < 1e-12


@pytest.mark.codegen_independent
@pytest.mark.parametrize("threads", [0, -2, 1.5, "2"])
def test_a_thread_count_that_is_not_a_positive_integer_is_refused(threads):
    objects, params, loss = recurrent_network()
    with pytest.raises(ValueError, match=r"'threads' must be a positive integer or None, "
                                         rf"got {threads!r}\."):
        rb.RTRL(params, loss, threads=threads)


@pytest.mark.codegen_independent
def test_threads_default_to_every_core_the_process_may_use():
    objects, params, loss = recurrent_network()
    learner = rb.RTRL(params, loss)
    assert learner.engine.threads == available_threads() >= 1
    assert rb.RTRL(params, loss, threads=3).engine.threads == 3


@pytest.mark.codegen_independent
def test_threads_under_standalone_are_brian2s_preference(tmp_path):
    set_device("cpp_standalone", directory=str(tmp_path), build_on_run=False)
    try:
        objects, params, loss = recurrent_network()
        with pytest.raises(ValueError, match=r"prefs\.devices\.cpp_standalone\.openmp_threads"):
            rb.RTRL(params, loss, threads=2)
    finally:
        from brian2 import device
        device.reinit()
        set_device("runtime")
        device.reinit()
        device.activate()
