"""Trials inside one run; the spiral task; the spiral experiment runs end to end."""

import brian2
import numpy as np
import pytest
from brian2 import Network, ms

import rtrl_brian as rb
from rtrl_brian.apps.experiments import train_spiral
from rtrl_brian.apps.tasks import Spiral
from helpers import relative_error
from test_sparse_engine import build


@pytest.mark.codegen_independent
def test_trials_in_one_run_equal_separate_runs():
    objects, params, loss = build("adaptive-rk2", seed=5)
    rec = objects[1]
    initial = {name: np.array(rec.variables[name].get_value()) for name in ("v", "a")}

    def restart(trial=None):
        for name, value in initial.items():
            rec.variables[name].get_value()[:] = value

    one_run = rb.RTRL(params, loss)
    calls = []
    one_run.trials(10, lambda trial: (calls.append(trial), restart()))
    network = Network(*objects, one_run)
    network.store()
    brian2.seed(7)  # the same Poisson input in both runs
    network.run(30 * ms)
    one_run.reset_state()  # records the last trial's loss
    losses = list(one_run.history["trial_loss"])
    gradients = [one_run.gradient(var) for var in params]
    network.restore()  # rewinds the network and one_run alike
    assert one_run.history["trial_loss"] == []
    network.remove(one_run)
    separate = rb.RTRL(params, loss)
    network.add(separate)
    brian2.seed(7)
    for _ in range(3):
        restart()
        separate.reset_state()
        network.run(10 * ms)
    separate.reset_state()
    assert calls == [0, 1, 2]
    assert np.allclose(losses, separate.history["trial_loss"], rtol=1e-12)
    for var, gradient in zip(params, gradients):
        assert relative_error(gradient, separate.gradient(var)) < 1e-12


@pytest.mark.codegen_independent
def test_learning_off_skips_steps_but_keeps_trials():
    objects, params, loss = build("adaptive-rk2", seed=6)
    paused, reference = rb.RTRL(params, loss, name="paused"), rb.RTRL(params, loss, name="ref")
    calls = []
    paused.trials(5, calls.append)
    reference.trials(5)
    network = Network(*objects, paused, reference)
    paused.learning = False
    network.run(15 * ms)
    assert calls == [0, 1, 2]  # trials went on
    assert all(np.all(paused.gradient(var) == 0) for var in params)
    assert len(paused.history["loss"]) == 0 and paused.history["trial_loss"] == []
    paused.learning = True
    reference.zero_grad()
    network.run(10 * ms)  # two trials, both learners from zero influence at step 15
    assert calls == [0, 1, 2, 3, 4]
    assert len(paused.history["loss"]) == 10
    for var in params:
        assert np.abs(reference.gradient(var)).max() > 0
        assert relative_error(paused.gradient(var), reference.gradient(var)) < 1e-12, var.name


def test_bad_trial_length_is_refused():
    objects, params, loss = build("lif-refractory", seed=0)
    learner = rb.RTRL(params, loss)
    with pytest.raises(ValueError, match="trial 'steps' must be a positive integer, got 2.5"):
        learner.trials(2.5)


def test_spiral_task_shapes_split_and_directions():
    task = Spiral(sequences=200, steps=17, seed=3)
    assert task.inputs.shape == (200, 17, 2) and task.steps == 17
    assert len(task.train) == 140 and len(task.validation) == 30 and len(task.test) == 30
    assert len(np.unique(np.concatenate([task.train, task.validation, task.test]))) == 200
    x, y = task.inputs[..., 0], task.inputs[..., 1]
    turning = np.sign(np.sum(x[:, :-1] * y[:, 1:] - y[:, :-1] * x[:, 1:], axis=1))
    assert np.all(turning[task.labels == 1] == turning[task.labels == 1][0])
    assert np.all(turning[task.labels == 0] == -turning[task.labels == 1][0])


@pytest.mark.codegen_independent
@pytest.mark.parametrize("model", ["egru", "sparse_rnn", "lif"])
def test_spiral_experiment_runs_and_records(model):
    run = train_spiral(model, units=6, sparsity=0.5, sequences=20, test_sequences=5,
                       task=Spiral(sequences=100))
    assert len(run.loss) == 20 and np.all(np.isfinite(run.loss))
    assert len(run.active_fraction) == len(run.influence_density) == 20
    assert np.sum(run.multiply_adds) < np.sum(run.multiply_adds_dense)
    assert 0.0 <= run.test_score <= 1.0


def test_spiral_control_exists_for_graded_units_only():
    with pytest.raises(ValueError, match="exists for 'egru' and 'sparse_rnn' units only"):
        train_spiral("lif", units=4, sequences=2, test_sequences=1,
                     task=Spiral(sequences=20), activity_sparse=False)
