"""
The learner inside Brian2's C++ standalone binary (`rtrl_brian.standalone`).

Each build compiles a whole Brian2 project (about 15 s here): the reference
runs first on the runtime device (numpy target, Python engines), then the same
network is built and run under cpp_standalone, and gradients, parameters and
per-step figures are compared.
"""

import contextlib
import gc
import os
import re
from unittest import mock

import numpy as np
import pytest
from brian2 import (Network, NeuronGroup, PoissonGroup, SpikeGeneratorGroup, StateMonitor,
                    Synapses, TimedArray, check_units, device, implementation, ms, prefs,
                    second, set_device)
from brian2.devices.cpp_standalone.device import CPPStandaloneDevice
from brian2.devices.device import RuntimeDevice
from hypothesis import Phase, given, note, settings

import rtrl_brian as rb
from rtrl_brian import UnsupportedConstructError
from helpers import lif_network, relative_error
import test_brian2_constructs
from test_properties import STEPS, build, networks, without_random_numbers

pytestmark = pytest.mark.standalone


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    """One project folder for the builds: make recompiles only what changed (Brian2's own
    library once, not per test)."""
    return tmp_path_factory.mktemp("standalone")


@contextlib.contextmanager
def standalone(directory, build_on_run=True, with_output=False):
    """Brian2's cpp_standalone device, building into ``directory`` (on ``run``)."""
    set_device("cpp_standalone", directory=str(directory), build_on_run=build_on_run,
               with_output=with_output)
    try:
        yield
    finally:
        device.reinit()  # the standalone device forgets this project
        set_device("runtime")
        device.reinit()
        device.activate()


def run_learner(make_network, learner_options, duration, before_run=None):
    """Build, attach a learner, run; gradients, parameters and figures as plain arrays."""
    objects, params, loss = make_network()
    learner = rb.RTRL(params, loss, name="learner", namespace={}, **learner_options)
    if before_run is not None:
        before_run(learner)
    Network(*objects, learner).run(duration)
    result = {"gradients": [learner.gradient(var) for var in params],
              "parameters": [np.array(var[:], dtype=np.float64) for var in params],
              "history": {key: np.asarray(values, dtype=np.float64)
                          for key, values in learner.history.items()}}
    del objects, params, loss, learner
    gc.collect()  # the names can be used again
    return result


def binary_and_compiled(build_dir, make_network, options, duration, before_run=None,
                        tolerance=1e-12):
    """The learner on the compiled engine (runtime device, Brian2 on numpy) and in the
    binary; their gradients and parameters agree to ``tolerance``. Both results."""
    compiled = run_learner(make_network, dict(options, engine="compiled"), duration,
                           before_run)
    with standalone(build_dir):
        binary = run_learner(make_network, options, duration, before_run)
    for ours, reference in zip(binary["gradients"] + binary["parameters"],
                               compiled["gradients"] + compiled["parameters"]):
        assert relative_error(ours, reference) < tolerance
    return binary, compiled


def runtime_and_binary(build_dir, learn):
    """``learn()`` on the runtime device, then in one build (``build_on_run=False``): both
    results, whose first two entries (gradients, parameters) agree to 1e-12."""
    runtime = learn()
    gc.collect()  # the names can be used again
    with standalone(build_dir, build_on_run=False):
        binary = learn()
    for ours, reference in zip(binary[0] + binary[1], runtime[0] + runtime[1]):
        assert relative_error(ours, reference) < 1e-12
    return runtime, binary


@pytest.mark.long
@settings(max_examples=20 if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else 1,
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # a build per draw: no shrinking
@given(network=networks())
def test_random_networks_in_the_binary_equal_the_dense_engine(network, build_dir):
    """Random networks of the property tests, without what the binary refuses: TimedArray
    drives and PoissonGroups (their draws would differ), connectivity from arrays."""
    for spec in network["groups"]:
        spec["drive"] = False
    network.update(poisson=False, arrays=True)
    without_random_numbers(network)
    note(repr(network))
    options = dict(surrogate=rb.surrogates.Triangle(width=network["width"], gain=0.4),
                   detach_reset=network["detach"])
    make = lambda: build(network)  # noqa: E731
    dense = run_learner(make, dict(options, engine="dense"), STEPS * ms)
    with standalone(build_dir):
        binary = run_learner(make, options, STEPS * ms)
    for k, (ours, reference) in enumerate(zip(binary["gradients"], dense["gradients"])):
        assert relative_error(ours, reference) < 1e-12, k
    assert relative_error(binary["history"]["loss"], dense["history"]["loss"]) < 1e-12


def cross_entropy_network():
    objects, params, _ = lif_network()
    rng = np.random.default_rng(5)
    mask = rng.random(20) < 0.6
    return objects, params, rb.losses.CrossEntropy(objects[2].y, rng.integers(0, 2, 20), mask)


LEARNING = {
    "mse-adam": (lif_network, lambda: dict(optimizer=rb.optim.Adam(lr=0.02), update_every=4,
                                           clip_grad_norm=5.0)),
    "cross-entropy-sgd": (cross_entropy_network,
                          lambda: dict(optimizer=rb.optim.SGD(lr=0.5, momentum=0.5))),
}


@pytest.mark.parametrize("case", ["mse-adam", pytest.param("cross-entropy-sgd",
                                                           marks=pytest.mark.long)])
def test_online_learning_in_the_binary_equals_the_compiled_engine(build_dir, case):
    """Trials of 20 steps, an optimizer: parameters, gradients, losses and the work counts
    equal the compiled engine's (runtime, same generated step)."""
    make, options = LEARNING[case]

    def trials(learner):
        learner.trials(20)

    binary, compiled = binary_and_compiled(build_dir, make, options(), 60 * ms, trials)
    initial = run_learner(make, {}, 0 * ms)["parameters"]
    assert all(np.max(np.abs(p - q)) > 1e-3 for p, q in zip(binary["parameters"], initial))
    for key in ("loss", "trial_loss"):
        assert relative_error(binary["history"][key], compiled["history"][key]) < 1e-12, key
    assert len(binary["history"]["trial_loss"]) == 2  # two trials ended, the third runs on
    for key in ("multiply_adds", "multiply_adds_dense", "bytes", "M_bytes"):
        np.testing.assert_array_equal(binary["history"][key], compiled["history"][key], key)
    # a ratio of the same counts (-ffast-math may divide by multiplying with a reciprocal)
    np.testing.assert_allclose(binary["history"]["active_fraction"],
                               compiled["history"]["active_fraction"], rtol=1e-15)
    assert np.all(binary["history"]["engine_seconds"] > 0)


@pytest.mark.long
def test_float32_in_the_binary_equals_the_compiled_engine(build_dir):
    """dtype=float32: the binary's influence matrix holds floats (half the bytes) and
    learns as the compiled engine does in float32 (the same generated step; the compilers'
    float rounding differs: -ffast-math in the binary may reassociate sums)."""
    options = dict(optimizer=rb.optim.SGD(lr=1e-4), dtype=np.float32)
    binary, compiled = binary_and_compiled(build_dir, lif_network, options, 60 * ms,
                                           tolerance=1e-6)
    initial = run_learner(lif_network, {}, 0 * ms)["parameters"]
    assert all(np.max(np.abs(p - q)) > 1e-4 for p, q in zip(binary["parameters"], initial))
    assert relative_error(binary["history"]["loss"], compiled["history"]["loss"]) < 1e-6
    for key in ("M_bytes", "multiply_adds", "bytes"):
        np.testing.assert_array_equal(binary["history"][key], compiled["history"][key], key)
    # against float64, without an optimizer (Adam's first steps are about the signs of the
    # gradients, so entries near zero let trajectories part): float32 rounding only
    single, double = (run_learner(lif_network, dict(engine="compiled", dtype=dtype), 60 * ms)
                      for dtype in (np.float32, np.float64))
    assert np.all(single["history"]["M_bytes"] < 0.55 * double["history"]["M_bytes"])
    for ours, reference in zip(single["gradients"], double["gradients"]):
        assert 0 < relative_error(ours, reference) < 1e-5


@pytest.mark.long
def test_a_timed_array_drive_runs_in_the_binary(build_dir):
    """The step calls Brian2's own C++ implementation of the TimedArray (its values in the
    binary's static arrays), as the compiled engine evaluates it with numpy."""
    binary, compiled = binary_and_compiled(build_dir, lambda: lif_network(drive=True),
                                           dict(optimizer=rb.optim.Adam(lr=1e-2)), 60 * ms)
    assert np.any(binary["gradients"][1] != 0)
    assert relative_error(binary["history"]["loss"], compiled["history"]["loss"]) < 1e-12


@pytest.mark.long
def test_openmp_threads_in_the_binary(build_dir):
    """prefs.devices.cpp_standalone.openmp_threads = 2: Brian2's code objects and the
    learning step run on two threads (about 1,500 weights: a column range each), and
    learn as the compiled engine does."""
    prefs.devices.cpp_standalone.openmp_threads = 2
    try:
        binary, compiled = binary_and_compiled(
            build_dir, lambda: lif_network(n=60), dict(optimizer=rb.optim.Adam(lr=1e-2)),
            60 * ms)
    finally:
        prefs.devices.cpp_standalone.openmp_threads = 0
    assert sum(p.size for p in binary["parameters"]) > 2 * 512
    step_code = "".join(path.read_text() for path in (build_dir / "code_objects").glob("*.cpp")
                        if "rtrl_step(_addresses" in path.read_text())
    assert "2 thread(s) apply its row operations" in step_code
    assert relative_error(binary["history"]["loss"], compiled["history"]["loss"]) < 1e-12


@pytest.mark.long
def test_a_network_on_a_clock_of_its_own_in_the_binary(build_dir):
    """Objects with dt=0.5 ms under a defaultclock of 1 ms: the binary learns once per
    their step, as the compiled engine does."""
    binary, _ = binary_and_compiled(build_dir, lambda: lif_network(dt=0.5 * ms),
                                    dict(optimizer=rb.optim.Adam(lr=1e-2)), 30 * ms)
    assert len(binary["history"]["loss"]) == 60


@pytest.mark.long
def test_several_runs_in_one_binary_equal_the_runtime_device(build_dir):
    """Two run() calls with zero_grad() and reset_state() between them, trials across."""
    def learn():
        objects, params, loss = lif_network()
        learner = rb.RTRL(params, loss, optimizer=rb.optim.SGD(lr=0.05), namespace={})
        learner.trials(25)
        network = Network(*objects, learner)
        network.run(30 * ms)
        learner.zero_grad()
        learner.reset_state()
        network.run(30 * ms)
        if not isinstance(device, RuntimeDevice):
            device.build(directory=str(build_dir), with_output=False)
        return ([learner.gradient(var) for var in params],
                [np.array(var[:], dtype=np.float64) for var in params],  # copies: in brian2
                learner.history["trial_loss"], learner.trial_loss,  # 2.10 var[:] views memory
                learner.history["loss"])  # that goes with the network

    runtime, binary = runtime_and_binary(build_dir, learn)
    assert len(binary[2]) == len(runtime[2]) == 3  # 25, 5 (to reset_state) and 20 steps
    assert relative_error(np.array(binary[2]), np.array(runtime[2])) < 1e-12
    assert relative_error(binary[3], runtime[3]) < 1e-12  # the open trial
    assert len(binary[4]) == 60


@pytest.mark.long
def test_trial_data_and_initial_values_in_the_binary_equal_the_runtime_device(build_dir):
    """A training run as rb.Training makes it, in one build: trials with their own targets
    and initial values while learning, then trials() again and held-out trials with
    learning off (other initial values) in a second run."""
    targets = np.random.default_rng(8).normal(0.3, 0.2, (3, 20, 2))

    def learn():
        objects, params, loss = lif_network()
        rec, out = objects[1], objects[2]
        learner = rb.RTRL(params, loss, engine="compiled", optimizer=rb.optim.Adam(lr=0.02),
                          namespace={})
        learner.trials(20, data=targets, initial={rec.v: 0, out.y: 0})
        monitor = StateMonitor(out, "y", record=True, when="end", name="readout")
        network = Network(*objects, learner, monitor)
        network.run(60 * ms)
        learner.learning = False
        learner.trials(20, initial={rec.v: 0.3, out.y: 0.1})
        network.run(40 * ms)
        if not isinstance(device, RuntimeDevice):
            device.build(directory=str(build_dir), with_output=False)
        return ([learner.gradient(var) for var in params],
                [np.array(var[:], dtype=np.float64) for var in params],
                list(learner.history["trial_loss"]), np.array(monitor.y[:]))

    runtime, binary = runtime_and_binary(build_dir, learn)
    assert len(binary[2]) == len(runtime[2]) == 3
    assert relative_error(np.array(binary[2]), np.array(runtime[2])) < 1e-12
    readout = binary[3]
    assert readout.shape == (2, 100) and relative_error(readout, runtime[3]) < 1e-12
    assert np.all(readout[:, [0, 20, 40]] != 0.1) and np.any(readout[:, 60] != 0)


@pytest.mark.long
def test_a_replay_that_differs_from_the_binary_is_reported(build_dir):
    """Delays cannot be read before the build; the binary's replay check catches them."""
    with standalone(build_dir):
        objects, params, loss = lif_network(delay=1 * ms)
        learner = rb.RTRL(params, loss, optimizer=rb.optim.SGD(lr=0.1), namespace={})
        Network(*objects, learner).run(60 * ms)
        with pytest.raises(RuntimeError, match=r"at step \d+ \(step \d+ of the trial\) the "
                                               r"learner's replay of 'out.y' \(neuron \d\) "
                                               r"differs from what Brian2 computed.*Learning "
                                               r"stopped there in the binary"):
            learner.gradient(params[0])
        stopped = int(learner._standalone_learning.counters()["error_step"])
        assert len(learner.history["loss"]) == stopped  # nothing recorded after it
        assert np.all(np.isfinite(learner.gradient(params[0])))  # reported once


@pytest.mark.long
def test_a_short_target_and_an_infinite_update_are_reported(build_dir):
    """Two learners in one binary: one runs past its target, one's update overflows."""
    initial = run_learner(lif_network, {}, 0 * ms)["parameters"]
    with standalone(build_dir):
        objects, params, loss = lif_network()
        short = rb.RTRL(params, rb.losses.MSE(loss.group.y, loss.target[:10]), name="short",
                        namespace={})
        exploding = rb.RTRL(params, loss, optimizer=rb.optim.SGD(lr=1e308), name="exploding",
                            namespace={})
        Network(*objects, short, exploding).run(60 * ms)
        with pytest.raises(IndexError, match=r"short: at step 10 \(step 10 of the trial\) the "
                                             r"loss's target, labels or mask had no entry"):
            short.gradient(params[0])
        with pytest.raises(FloatingPointError, match=r"exploding: at step \d+ .* the update "
                                                     r"made a parameter not finite"):
            exploding.history
        assert len(short.history["loss"]) == 10
        # the overflowing update was undone: the parameters kept their last finite values
        assert all(np.all(np.isfinite(np.asarray(var[:]))) for var in params)
        assert any(np.max(np.abs(np.asarray(var[:]) - before)) > 1.0
                   for var, before in zip(params, initial))  # after finite (huge) updates


def raster_inputs():
    return SpikeGeneratorGroup(3, [0, 1], [1, 2] * ms, name="inputs")


@implementation("numpy", discard_units=True)
@check_units(t=second, result=1)
def python_only_drive(t):
    """A drive implemented in Python only."""
    return 0.1 * np.ones_like(t)


def small_network(target=None, drive=False, poisson=False, connect_arrays=True,
                  facilitation=False):
    """``drive``: False, or the name of a drive function in the namespace."""
    inputs = PoissonGroup(3, rates="100*Hz", name="inputs") if poisson else raster_inputs()
    eqs = f"dv/dt = (-v + {drive}(t)) / (10*ms) : 1" if drive else "dv/dt = -v / (10*ms) : 1"
    rec = NeuronGroup(3, eqs, threshold="v > 1", reset="v -= 1", method="euler", name="rec",
                      namespace={"timed": TimedArray([0.1, 0.2], dt=5 * ms),
                                 "python": python_only_drive})
    if facilitation:  # per-synapse state
        synapses = Synapses(inputs, rec, "w : 1\ndu/dt = -u / (50*ms) : 1 (event-driven)",
                            on_pre="v_post += w * (1 + u)\nu += 0.2", name="s_in")
    else:
        synapses = Synapses(inputs, rec, "w : 1", on_pre="v_post += w", name="s_in")
    if connect_arrays:
        synapses.connect(i=[0, 1, 2], j=[0, 1, 2])
    else:
        synapses.connect(p=0.5)
    target = np.zeros((10, 3)) if target is None else target
    return synapses, rb.losses.MSE(rec.v, target)


@pytest.mark.codegen_independent
@pytest.mark.parametrize("change, error, message", [
    (lambda: _learner(rb.BPTT, small_network(), namespace={}), UnsupportedConstructError,
     r"'CPPStandaloneDevice' is not supported: BPTT runs as a NetworkOperation"),
    (lambda: _learner(rb.RTRL, small_network(), engine="dense", namespace={}), ValueError,
     r"engine='dense' runs in Python only"),
    (lambda: _learner(rb.RTRL, small_network(connect_arrays=False), namespace={}),
     UnsupportedConstructError, r"'s_in': under a standalone device the number of synapses "
                                r"must be known before the build.*connect\(i=sources"),
    (lambda: _learner(rb.RTRL, small_network(drive="python"), namespace={}),
     UnsupportedConstructError, r"'rec' calls a function without a C\+\+ implementation"),
    (lambda: _learner(rb.RTRL, small_network(facilitation=True), namespace={}),
     UnsupportedConstructError, r"(?s)the learning step runs as generated C, which cannot be "
                                r"generated here: PathwayOp of 's_in' .*per-synapse state"),
], ids=["bptt", "dense", "connect-p", "python-drive", "synaptic-state"])
def test_what_the_binary_cannot_do_is_refused_at_construction(tmp_path, change, error, message):
    with standalone(tmp_path / "build"):
        with pytest.raises(error, match=message):
            change()


@pytest.mark.codegen_independent
def test_a_device_derived_from_cpp_standalone_is_refused():
    class DerivedDevice(CPPStandaloneDevice):
        """As brian2cuda's device: cpp_standalone's interface, code of its own."""

    synapses, loss = small_network()
    with mock.patch("rtrl_brian.observer.get_device", DerivedDevice):
        with pytest.raises(UnsupportedConstructError,
                           match=r"the device 'DerivedDevice' is not supported: it derives from "
                                 r"Brian2's cpp_standalone device but generates code of its own"):
            rb.RTRL([synapses.w], loss, namespace={})


def _learner(kind, network, **options):
    """A learner of the input weights; ``network`` holds the synapses meanwhile (their
    variable refers to them weakly, so a collection could take them)."""
    synapses, loss = network
    return kind([synapses.w], loss, **options)


@pytest.mark.codegen_independent
@pytest.mark.parametrize("change, message", [
    (lambda learner, loss: learner.trials(5, start=lambda trial: None),
     r"a trial start callback"),
    (lambda learner, loss: loss.set_target(TimedArray(np.zeros((2, 3)), dt=1 * ms)),
     r"a TimedArray target"),
    (lambda learner, loss: learner.sparsity.append(lambda learner, step: None),
     r"sparsity controllers"),
], ids=["trial-callback", "timed-array-target", "sparsity"])
def test_what_the_binary_cannot_do_is_refused_before_the_build(tmp_path, change, message):
    with standalone(tmp_path / "build"):
        synapses, loss = small_network()
        learner = rb.RTRL([synapses.w], loss, namespace={})
        change(learner, loss)
        with pytest.raises(Exception) as caught:  # Brian2 wraps errors of before_run
            Network(synapses.source, synapses.target, synapses, learner).run(5 * ms)
        cause = caught.value.__cause__ or caught.value
        assert isinstance(cause, UnsupportedConstructError)
        assert re.search(r"not supported under cpp_standalone: " + message, str(cause))
        assert not (tmp_path / "build" / "main").exists()  # nothing was built


@pytest.mark.codegen_independent
def test_pruning_after_the_first_run_is_refused_in_the_binary(tmp_path):
    with standalone(tmp_path / "build", build_on_run=False):
        synapses, loss = small_network()
        learner = rb.RTRL([synapses.w], loss, namespace={})
        Network(synapses.source, synapses.target, synapses, learner).run(2 * ms)
        with pytest.raises(UnsupportedConstructError, match="prune or regrow before the first "
                                                            "run only"):
            learner.prune(synapses.w, [0])


@pytest.mark.long
def test_pruning_before_the_first_run_in_the_binary_equals_the_compiled_engine(build_dir):
    """Half the recurrent weights pruned before the run: the binary's influence matrix has
    a column per weight kept, and learns as the compiled engine does; pruned weights stay
    at zero."""
    def prune(learner):
        rec_rec = learner.params[1]
        learner.prune(rec_rec, np.arange(0, learner.pruned(rec_rec).size, 2))

    binary, _ = binary_and_compiled(build_dir, lif_network,
                                    dict(optimizer=rb.optim.Adam(lr=1e-2)), 60 * ms, prune)
    recurrent = binary["parameters"][1]
    assert np.all(recurrent[::2] == 0) and np.all(recurrent[1::2] != 0)
    assert np.all(binary["gradients"][1][::2] == 0) and np.any(binary["gradients"][1][1::2])


EVERYDAY = {
    # E/I subgroups as sources and targets, 'ge += w' without suffix, run_regularly on
    # subgroups with their own i and N, refractoriness (tests/test_brian2_constructs.py)
    "subgroups": lambda: test_brian2_constructs.subgroup_run_regularly(),
    # threshold 'True': graded events every step, a learned bias
    "constant-threshold": lambda: test_brian2_constructs.analog_units("True", drive=False),
}


@pytest.mark.long
@pytest.mark.parametrize("case", sorted(EVERYDAY))
def test_everyday_constructs_in_the_binary_equal_the_dense_engine(build_dir, case):
    def make():
        objects, params, group, target = EVERYDAY[case]()
        var = group.y if case == "constant-threshold" else group.v
        return objects, params, rb.losses.MSE(var, target)

    dense = run_learner(make, dict(engine="dense"), 40 * ms)
    with standalone(build_dir):
        binary = run_learner(make, {}, 40 * ms)
    for k, (ours, reference) in enumerate(zip(binary["gradients"], dense["gradients"])):
        assert np.abs(reference).max() > 0, k
        assert relative_error(ours, reference) < 1e-12, k
