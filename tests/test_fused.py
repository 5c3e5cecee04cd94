"""
The learner's whole step in one C call (rtrl_brian.fused) against the same learner with
its bookkeeping in Python (``fuse_step = False``): gradients, parameters, per-step figures,
trial losses and error messages.
"""

import logging

import numpy as np
import pytest
from brian2 import Network, NetworkOperation, TimedArray, ms

import rtrl_brian as rb
from helpers import library_log, lif_network, relative_error

#: Figures that count: the same either way.
COUNTS = ("multiply_adds", "multiply_adds_dense", "bytes", "M_bytes")


def learn(fuse, duration=60 * ms, network=None, trials=None, sparsity=None):
    """The test network learning with Adam (every 3 steps) for ``duration``; ``trials``:
    a function of the learner and the network's objects that sets its trials;
    ``sparsity``: of the network's parameters, the learner's controllers."""
    objects, params, loss = (network or lif_network)()
    learner = rb.RTRL(params, loss, engine="compiled", update_every=3, namespace={},
                      optimizer=rb.optim.Adam(lr=1e-2), name="learner",
                      sparsity=None if sparsity is None else sparsity(params))
    learner.fuse_step = fuse
    if trials is not None:
        trials(learner, objects)
    network = Network(*objects, learner)
    network.run(duration)
    return learner, params, network


def assert_same_learning(fused, python, params_fused, params_python):
    """Bitwise the same gradients, parameters and counts; the loss and the active
    fraction to rounding (numpy and C, with Brian2's -ffast-math, round differently)."""
    assert fused.step_fused and not python.step_fused
    for var_fused, var_python in zip(params_fused, params_python):
        assert np.array_equal(fused.gradient(var_fused), python.gradient(var_python))
        assert np.array_equal(var_fused[:], var_python[:])
    assert relative_error(fused.history["loss"], python.history["loss"]) < 1e-13
    assert relative_error(fused.history["active_fraction"],
                          python.history["active_fraction"]) < 1e-15
    for key in COUNTS:
        assert np.array_equal(fused.history[key], python.history[key]), key
    assert len(fused.history["step_seconds"]) == len(python.history["loss"])
    assert relative_error(fused.history["trial_loss"], python.history["trial_loss"]) < 1e-13
    assert fused.trial_loss == pytest.approx(python.trial_loss, rel=1e-13)


def test_the_fused_step_learns_as_the_python_bookkeeping():
    """Refractoriness, spike sources, Adam every 3 steps, two runs with zero_grad and
    reset_state between them."""
    results = {}
    for fuse in (True, False):
        learner, params, network = learn(fuse, duration=30 * ms)
        learner.zero_grad()
        learner.reset_state()
        network.run(30 * ms)
        results[fuse] = learner, params
    (fused, params_fused), (python, params_python) = results[True], results[False]
    assert len(fused.history["loss"]) == 60
    assert_same_learning(fused, python, params_fused, params_python)


def test_trials_with_data_and_pruning_in_the_start_callback():
    """trials(data=...) (each trial's target bound at its start), initial values, and a
    start callback that prunes a weight (the influence matrix replaced mid-run)."""
    rng = np.random.default_rng(5)
    targets = [rng.normal(0.3, 0.2, (60, 2)) for _ in range(3)]  # the network's sizes

    def trials(learner, objects):
        rec, synapses = objects[1], objects[4]
        learner.trials(20, data=targets, initial={rec.v: 0.1},
                       start=lambda trial: learner.prune(synapses.w, [trial]))

    results = {fuse: learn(fuse, trials=trials) for fuse in (True, False)}
    (fused, params_fused, _), (python, params_python, _) = results[True], results[False]
    assert len(fused.history["trial_loss"]) == 2
    assert fused.pruned(params_fused[1])[:3].all()
    assert_same_learning(fused, python, params_fused, params_python)


def test_history_read_during_the_run_is_complete():
    """A NetworkOperation reading the history in the middle of a run sees every step
    so far (the fused step's buffered figures are flushed when read)."""
    lengths = []

    def read():
        lengths.append(len(learner.history["loss"]))

    objects, params, loss = lif_network()
    learner = rb.RTRL(params, loss, engine="compiled", namespace={})
    Network(*objects, learner, NetworkOperation(read, when="start")).run(10 * ms)
    assert learner.step_fused
    assert lengths == list(range(10))


def _failure(fuse, duration=70 * ms, **changes):
    with pytest.raises(Exception) as raised:
        learn(fuse, duration=duration, **changes)
    return type(raised.value), str(raised.value)


@pytest.mark.parametrize("case", ["replay", "not finite", "target too short"])
def test_failures_read_as_in_the_python_bookkeeping(case):
    """What changes the network behind the learner's back, NaN in the state, a target
    shorter than the run: the same exception and message either way."""
    def network():
        objects, params, loss = lif_network()
        rec = objects[1]
        if case == "replay":
            objects.append(NetworkOperation(lambda: rec.v.__setitem__(0, 0.5), when="end",
                                            order=-5))
        elif case == "not finite":
            def poison():
                if rec.t >= 5 * ms:
                    rec.v[1] = np.nan
            objects.append(NetworkOperation(poison, when="end", order=-5))
        return objects, params, loss  # "target too short": 60 steps, a run of 70

    fused, python = (_failure(fuse, network=network) for fuse in (True, False))
    assert fused == python
    assert {"replay": RuntimeError, "not finite": FloatingPointError,
            "target too short": IndexError}[case] is fused[0]


def test_a_timed_array_drive_is_evaluated_before_the_call():
    """A current from a two-dimensional TimedArray (a function without a C form on the
    runtime device, of Brian2's t and i): numpy before each C call, the same learning."""
    results = {fuse: learn(fuse, network=lambda: lif_network(drive=True))
               for fuse in (True, False)}
    (fused, params_fused, _), (python, params_python, _) = results[True], results[False]
    assert fused.engine.program.calls  # the drive is such a function
    assert_same_learning(fused, python, params_fused, params_python)


def test_what_keeps_the_bookkeeping_in_python_is_logged():
    """A loss without a C form (a TimedArray target), a sparsity controller: the engine
    offers no fused step, and the log says why (the learner asks at every run)."""
    def learner(timed_target=False, pruning=False):
        objects, params, loss = lif_network()
        if timed_target:
            loss = rb.losses.MSE(objects[2].y, TimedArray(np.zeros((60, 2)), dt=1 * ms))
        sparsity = [rb.sparsity.MagnitudePruning(params[1], 0.5, start=0, end=4,
                                                 every=2)] if pruning else None
        return rb.RTRL(params, loss, engine="compiled", sparsity=sparsity, namespace={})

    for options, reason in (({"timed_target": True}, "a TimedArray target"),
                            ({"pruning": True}, "sparsity controllers")):
        with library_log(logging.DEBUG) as records:
            refused = learner(**options)
            assert refused.engine.whole_step(refused) is None
        messages = [message for _, _, message in records
                    if "bookkeeping runs in Python" in message]
        assert len(messages) == 1 and messages[0].split(": ", 2)[-1].startswith(reason)
    plain = learner()
    assert plain.engine.whole_step(plain) is not None


def test_a_trial_whose_data_changes_size_continues_in_python():
    """Trial data of another length changes the loss's C code: from that trial on the
    bookkeeping is Python (logged), with the same results."""
    rng = np.random.default_rng(7)
    targets = [rng.normal(0.3, 0.2, (steps, 2)) for steps in (60, 80)]

    def trials(learner, objects):
        learner.trials(60, data=targets)

    with library_log(logging.DEBUG) as records:
        fused, params_fused, _ = learn(True, duration=80 * ms, trials=trials)
    python, params_python, _ = learn(False, duration=80 * ms, trials=trials)
    assert not fused.step_fused
    assert any("changed sizes" in message for _, _, message in records)
    for var_fused, var_python in zip(params_fused, params_python):
        assert np.array_equal(fused.gradient(var_fused), python.gradient(var_python))
    assert relative_error(fused.history["loss"], python.history["loss"]) < 1e-13
    assert len(fused.history["M_bytes"]) == 80
