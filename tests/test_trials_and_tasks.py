"""Trials inside one run; the spiral task; the spiral experiment runs end to end."""

import brian2
import numpy as np
import pytest
from brian2 import Network, ms

import rtrl_brian as rb
from rtrl_brian.apps.experiments import train_spiral
from rtrl_brian.apps.tasks import Spiral
from rtrl_brian.apps.training import Training
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


def test_trial_data_and_initial_values_equal_a_start_callback():
    """trials(data=, initial=) (what the binary runs too) does what a start callback that
    resets the state and sets the trial's target does, bit for bit."""
    objects, params, loss = build("adaptive-rk2", seed=5)
    rec, out = objects[1], objects[2]
    targets = np.random.default_rng(3).normal(0, 0.5, (3, 10, 2))
    network = Network(*objects)
    network.store()
    results = []
    for kind in ("data", "callback"):
        network.restore()
        learner = rb.RTRL(params, loss, name=f"learner_{kind}")
        if kind == "data":
            learner.trials(10, data=targets, initial={rec.v: 0, rec.a: 0, out.y: 0})
        else:
            def start(trial):
                for group, name in ((rec, "v"), (rec, "a"), (out, "y")):
                    group.variables[name].get_value()[:] = 0.0
                loss.set_target(targets[trial])
            learner.trials(10, start)
        network.add(learner)
        brian2.seed(7)
        rec.v = 0.5  # not where a trial starts: initial values apply
        network.run(30 * ms)
        learner.reset_state()
        results.append((list(learner.history["trial_loss"]),
                        [learner.gradient(var) for var in params]))
        network.remove(learner)
    (losses, gradients), (reference_losses, reference_gradients) = results
    assert len(losses) == 3 and losses == reference_losses
    for gradient, reference in zip(gradients, reference_gradients):
        assert np.abs(reference).max() > 0
        np.testing.assert_array_equal(gradient, reference)
    np.testing.assert_array_equal(loss.target, targets[2])


@pytest.mark.codegen_independent
def test_bad_trial_data_and_initial_values_are_refused_and_change_nothing():
    objects, params, loss = build("adaptive-rk2", seed=5)
    rec, s_rec = objects[1], objects[4]
    learner = rb.RTRL(params, loss)
    before = loss.target.copy()
    with pytest.raises(ValueError, match=r"trials\(data=\.\.\.\), trial 1: MSE target for "
                                         r"'.*' must have shape \(steps, 2\)"):
        learner.trials(10, data=[np.zeros((10, 2)), np.zeros((10, 3))])
    np.testing.assert_array_equal(loss.target, before)
    with pytest.raises(ValueError, match=r"sets state variables of the learned groups; "
                                         r"'.*\.w' is not one"):
        learner.trials(10, initial={s_rec.w: 0})
    with pytest.raises(TypeError, match="one value per variable"):
        learner.trials(10, initial={rec.v: np.zeros(len(rec))})
    assert learner.trial_schedule.steps is None  # nothing changed
    regularized = rb.RTRL(params, loss + rb.losses.RateRegularizer(rec.v, 0.5), name="sum")
    with pytest.raises(ValueError, match="give each trial's data as a tuple"):
        regularized.trials(10, data=[np.zeros((10, 2))])
    with pytest.raises(NotImplementedError, match="RateRegularizer takes no per-trial data"):
        regularized.trials(10, data=[(np.zeros((10, 2)), 1.0)])
    regularized.trials(10, data=[(np.zeros((10, 2)), None)])


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


@pytest.mark.codegen_independent
def test_spiral_experiment_with_the_egru_papers_activity_settings():
    """The activity regulariser on events and Beta-drawn thresholds (EGRU only)."""
    task = Spiral(sequences=100)
    training = Training(task, "egru", units=6, trials=4, test_trials=0, seed=3,
                        activity_weight=0.5, thresholds="beta", theta=0.3)
    task_loss, regulariser = training.learner.loss.parts
    assert isinstance(regulariser, rb.losses.ActivityRegularizer)
    assert (regulariser.group.name, regulariser.name, regulariser.weight) == \
        ("recurrent", "event", 0.5)
    theta = np.array(training.network.group.theta[:])
    assert np.all((theta > 0) & (theta < 1)) and len(np.unique(theta)) == 6
    run = training.run()
    assert (run.activity_weight, run.thresholds) == (0.5, "beta")
    assert len(run.loss) == 4 and np.all(np.isfinite(run.loss))
    assert np.abs(training.learner.gradient(training.network.group.theta)).max() > 0
    with pytest.raises(ValueError, match="'activity_weight' must be finite and non-negative"):
        Training(task, "egru", units=4, trials=1, test_trials=0, activity_weight=-0.1)
    with pytest.raises(ValueError, match="exist for 'egru' units only, not 'lif'"):
        Training(task, "lif", units=4, trials=1, test_trials=0, activity_weight=0.1)


def test_spiral_control_exists_for_graded_units_only():
    with pytest.raises(ValueError, match="exists for 'egru' and 'sparse_rnn' units only"):
        train_spiral("lif", units=4, sequences=2, test_sequences=1,
                     task=Spiral(sequences=20), activity_sparse=False)
