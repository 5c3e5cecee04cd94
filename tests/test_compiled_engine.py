"""
The compiled engine (the whole step as generated C) gives the dense engine's gradients.

Same networks as tests/test_sparse_engine.py (TimedArray drives, refractoriness,
adaptive thresholds, graded events, rk2 and euler integration), each learner
observing the same run, plus the model library and what the generated step
refuses. Brian2 itself runs on numpy here (one compile per network is the
learner's); tests/test_benchmark.py runs the compiled engine with Brian2 on Cython.
"""

from unittest import mock

import numpy as np
import pytest
from brian2 import (Hz, Network, NeuronGroup, PoissonGroup, SpikeGeneratorGroup, Synapses, ms,
                    prefs)
from brian2.core.base import BrianObjectException

import rtrl_brian as rb
from rtrl_brian.errors import UnsupportedConstructError
from rtrl_brian.ir import SPIKE
from rtrl_brian.targets import CythonTarget
from helpers import library_log, relative_error, weighted_synapses
from test_sparse_engine import STEPS, build

pytestmark = pytest.mark.cython


def compiled_and_dense(objects, params, loss, detach=False, **options):
    surrogate = rb.surrogates.Triangle(0.4, 0.5)
    dense = rb.RTRL(params, loss, surrogate=surrogate, detach_reset=detach, engine="dense",
                    name="dense")
    compiled = rb.RTRL(params, loss, surrogate=surrogate, detach_reset=detach,
                       engine="compiled", name="compiled", **options)
    return Network(*objects, dense, compiled), dense, compiled


def assert_same(compiled, dense):
    for var in compiled.params:
        reference = dense.gradient(var)
        assert np.abs(reference).max() > 0, var.name
        assert relative_error(compiled.gradient(var), reference) < 1e-12, var.name
    for block in dense.layout.blocks:  # the influence matrices (spike rows live in a step)
        if block[1] != SPIKE:
            assert relative_error(compiled.engine.influence(block),
                                  dense.engine.influence(block)) < 1e-12, block


@pytest.mark.parametrize("model, detach", [
    ("graded-events", False), ("lif-refractory", True),
    pytest.param("adaptive-rk2", False, marks=pytest.mark.long),  # a compile each: -m long
    pytest.param("current-based", True, marks=pytest.mark.long)])
def test_compiled_equals_dense(model, detach):
    net, dense, compiled = compiled_and_dense(*build(model, seed=1), detach=detach)
    net.run(STEPS * ms)
    assert_same(compiled, dense)
    active = np.mean(compiled.history["active_fraction"])
    assert 0 < active < 1  # activity sparsity was exercised
    # spike rows are never stored: M holds the state rows, a spike block's are refused
    engine = compiled.engine
    spike_blocks = [block for block in engine.layout.blocks if block[1] == SPIKE]
    assert spike_blocks
    assert len(engine.M) == engine.layout.n_rows - sum(map(engine.layout.size, spike_blocks))
    assert engine.nbytes == engine.M.nbytes + engine.scale.nbytes
    # the temporary rows: scratch and spike rows over one column block per thread
    assert 0 < engine.temporary_bytes <= engine.threads * (engine._program.n_scratch_rows + sum(
        map(engine.layout.size, spike_blocks))) * 1024 * engine.M.itemsize
    with pytest.raises(ValueError, match="only within a step"):
        engine.influence(spike_blocks[0])
    assert np.sum(compiled.history["multiply_adds"]) < \
        np.sum(compiled.history["multiply_adds_dense"])
    # the dense-equivalent count is the sparse engine's, whatever the engine
    assert np.sum(compiled.history["multiply_adds_dense"]) == \
        np.sum(dense.history["multiply_adds_dense"])


def test_compiled_across_trials_and_pruning():
    """reset_state between trials, and columns removed and regrown mid-run."""
    net, dense, compiled = compiled_and_dense(*build("adaptive-rk2", seed=3))
    s_rec = compiled.params[1]
    net.run(STEPS * ms)
    for learner in (dense, compiled):
        learner.reset_state()
        learner.zero_grad()
    net.run(10 * ms)
    pruned = np.arange(len(s_rec)) % 3 == 0
    for learner in (dense, compiled):
        learner.prune(s_rec, pruned)
    net.run(10 * ms)
    for learner in (dense, compiled):
        learner.regrow(s_rec, pruned & (np.arange(len(s_rec)) % 2 == 0), value=0.1)
    net.run(20 * ms)
    assert compiled.engine.M.shape[1] < compiled.ir.n_params
    assert_same(compiled, dense)


@pytest.mark.parametrize("model", ["alif", "egru", pytest.param("lif", marks=pytest.mark.long),
                                   pytest.param("sparse_rnn", marks=pytest.mark.long)])
def test_model_library_compiled_equals_sparse(model):
    """Every built-in model, learning online with Adam: same losses, same gradients."""
    from rtrl_brian.apps.tasks import Spiral
    from rtrl_brian.apps.training import Training

    runs = {}
    for engine in ("sparse", "compiled"):
        training = Training(Spiral(seed=0), model, 12, trials=3, test_trials=1, sparsity=0.5,
                            engine=engine, adaptive_fraction=0.5)
        runs[engine] = (training.run(), training.learner)
    (sparse_run, sparse), (compiled_run, compiled) = runs["sparse"], runs["compiled"]
    assert relative_error(np.array(compiled_run.loss), np.array(sparse_run.loss)) < 1e-12
    for var in sparse.params:
        assert relative_error(compiled.gradient(var), sparse.gradient(var)) < 1e-11, var.name


def test_compiled_engine_compiles_its_step_beside_brian2_on_numpy():
    """Brian2's own objects on numpy, only the learning step compiled (what every test of
    this module does): the step says what it compiles."""
    objects, params, loss = build("current-based", seed=0)
    learner = rb.RTRL(params, loss, engine="compiled")
    assert prefs.codegen.target == "numpy"
    with library_log() as records:
        Network(*objects, learner).run(3 * ms)
    assert learner.engine.threads_used >= 1 and len(learner.history["loss"]) == 3
    assert any(logger == "rtrl_brian.engine.compiled.compile" and
               message.startswith("compiling the learning step: generated C for")
               for _, logger, message in records)


def test_compiled_engine_refuses_to_run_without_cython():
    objects, params, loss = build("current-based", seed=0)
    learner = rb.RTRL(params, loss, engine="compiled")
    with mock.patch.object(CythonTarget, "is_available", classmethod(lambda cls: False)):
        with pytest.raises(BrianObjectException) as raised:  # raised in before_run, wrapped
            Network(*objects, learner).run(1 * ms)
    assert isinstance(raised.value.__cause__, ValueError)
    assert "engine='compiled' compiles its learning step with Cython, which does not work " \
           "here" in str(raised.value.__cause__)


def test_compiled_engine_in_float32():
    """dtype=float32: the matrix in half the memory, gradients within float32 rounding
    of the float64 ones (the replay, coefficients and scales stay double)."""
    objects, params, loss = build("graded-events", seed=1)
    surrogate = rb.surrogates.Triangle(0.4, 0.5)
    learners = [rb.RTRL(params, loss, surrogate=surrogate, engine="compiled", dtype=dtype,
                        name=f"compiled_{np.dtype(dtype).name}")
                for dtype in (np.float64, np.float32)]
    Network(*objects, *learners).run(STEPS * ms)
    double, single = learners
    assert single.engine.M.dtype == np.float32 and single.engine.nbytes < double.engine.nbytes
    assert single.history["loss"] == double.history["loss"]  # the forward pass is untouched
    for var in params:
        error = relative_error(single.gradient(var), double.gradient(var))
        assert 0 < error < 1e-5, var.name  # rounded in float32, and only that
        assert single.gradient(var).dtype == np.float64


@pytest.mark.parametrize("engine", ["sparse", pytest.param("compiled", marks=pytest.mark.long)])
def test_float32_rows_scaled_far_down_stay_finite(engine):
    """A unit silent for half a second: its row's lazy scale decays to 1e-43, below
    float32's range; the next input is stored relative to that scale. The row is rewritten
    before its scale leaves float32's range, so the gradient stays float32-close to
    float64's (it was -inf)."""
    inputs = SpikeGeneratorGroup(1, [0, 0], [0, 500] * ms)
    rec = NeuronGroup(1, "dv/dt = -v / (5*ms) : 1", threshold="v > 10", reset="v = 0",
                      method="exact")
    synapses = Synapses(inputs, rec, "w : 1", on_pre="v_post += w")
    synapses.connect()
    synapses.w = 0.5
    loss = rb.losses.MSE(rec.v, np.ones((510, 1)))
    learners = [rb.RTRL([synapses.w], loss, engine="sparse", name="reference"),
                rb.RTRL([synapses.w], loss, engine=engine, dtype=np.float32, name="single")]
    Network(inputs, rec, synapses, *learners).run(510 * ms)
    double, single = (learner.gradient(synapses.w) for learner in learners)
    assert np.all(np.isfinite(single)) and relative_error(single, double) < 1e-5


def test_compiled_engine_names_what_it_cannot_generate():
    inputs = PoissonGroup(3, rates=100 * Hz)
    rec = NeuronGroup(4, "dv/dt = -v / (10*ms) : 1", threshold="v > 1", reset="v = 0",
                      method="exact")
    out = NeuronGroup(1, "dy/dt = -y / (10*ms) : 1", method="exact")
    s_in = Synapses(inputs, rec, "w : 1", on_pre="v_post = w", name="assigning")
    s_in.connect()
    s_out = weighted_synapses(rec, out, "y_post += w", lambda k: np.full(k, 0.5))
    loss = rb.losses.MSE(out.y, np.zeros((5, 1)))
    with pytest.raises(UnsupportedConstructError,
                       match=r"engine='compiled' cannot generate the step: PathwayOp of "
                             r"'assigning' \('v_post = w'\): an '=' statement in on_pre"):
        rb.RTRL([s_in.w, s_out.w], loss, engine="compiled")
    rb.RTRL([s_in.w, s_out.w], loss, engine="sparse")  # the Python engines take it


def test_lazy_scales_are_rewritten_before_they_underflow():
    """
    A leak halving ``v`` every step takes a silent unit's lazily scaled row below
    1e-308 about 1,030 steps after the first input; input arriving then is divided by that scale
    (infinite without the rewrite at 1e-100 the engine does).
    """
    rng = np.random.default_rng(5)
    steps = np.concatenate([np.arange(0, 40, 2), np.arange(1075, 1150, 2)])
    inputs = SpikeGeneratorGroup(3, np.tile(np.arange(3), len(steps)),
                                 np.repeat(steps, 3) * ms)
    rec = NeuronGroup(4, "dv/dt = -v * log(2) / ms : 1", threshold="v > 0.5",
                      reset="v -= 0.5", method="exact")
    out = NeuronGroup(1, "dy/dt = -y / (20*ms) : 1", method="exact")
    s_in = weighted_synapses(inputs, rec, "v_post += w", lambda k: rng.uniform(0.3, 0.8, k))
    s_out = weighted_synapses(rec, out, "y_post += w", lambda k: rng.normal(0, 0.5, k))
    loss = rb.losses.MSE(out.y, np.full((1150, 1), 0.3))
    net, dense, compiled = compiled_and_dense((inputs, rec, out, s_in, s_out),
                                              [s_in.w, s_out.w], loss)
    net.run(1150 * ms)
    assert_same(compiled, dense)


_SOURCE_SCRIPT = """
import hashlib, sys
sys.path.insert(0, {tests!r})
import brian2
import rtrl_brian as rb
from test_sparse_engine import build
brian2.seed({connections})  # other random connections in each process
for model in ("adaptive-rk2", "graded-events"):
    objects, params, loss = build(model, seed=1)
    learner = rb.RTRL(params, loss, engine="compiled", name="learner")
    fused = learner.engine.whole_step(learner)  # the learner's whole step with it
    for learn_c in (None, None if fused is None else fused.source()):
        source = learner.engine.program.module_source(True, learn_c=learn_c)
        print(hashlib.sha256(source.encode()).hexdigest(), learn_c is not None,
              learner.ir.n_params)
"""


@pytest.mark.codegen_independent
def test_the_generated_step_is_the_same_in_every_process(tmp_path):
    """Brian2's cache knows a module by its source: the step generated for a network,
    alone or with the learner's whole step (rtrl_brian.fused), must not depend on the
    process (set and dict order under another PYTHONHASHSEED) nor on how many synapses
    random connections made (the parameters' offsets and counts are values), or every
    run would compile again."""
    import os
    import pathlib
    import subprocess
    import sys

    tests = str(pathlib.Path(__file__).resolve().parent)
    digests = []
    for seed, connections in (("0", 3), ("2", 4)):
        result = subprocess.run([sys.executable, "-c", _SOURCE_SCRIPT.format(
            tests=tests, connections=connections)], env=dict(os.environ, PYTHONHASHSEED=seed),
            capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        digests.append([line.split() for line in result.stdout.splitlines()])
    assert len(digests[0]) == 4
    assert [fused for _, fused, _ in digests[0]][:2] == ["False", "True"]  # one fused
    for (source, fused, parameters), other in zip(*digests):
        assert parameters != other[2]  # other connections: other offsets
        assert (source, fused) == tuple(other[:2])
