"""
Online training of a ready network on a built-in task, trial after trial.

`Training` builds the task's input group, a `RecurrentNetwork`, the loss and
an `RTRL` learner; `Training.run` trains on the training trials in one Brian2
run (`RTRL.trials`), reports progress, then scores held-out trials with
learning switched off. The command line (``rtrl-brian train``), the demo and
the experiments use it.

Progress lines go to Brian2's logger (``rtrl_brian.apps.training``, level INFO), so
that they are shown, hidden or written to Brian2's log file as Brian2's own
messages are (``BrianLogger.log_level_warn()`` silences them).
"""

import shutil
import time
from dataclasses import dataclass, field

import numpy as np
from brian2 import Network, SpikeMonitor, StateMonitor, device, get_logger, ms, prefs, second
from tqdm import tqdm

from .. import optim, sparsity as sparsity_tools
from .catalog import TASK_SETTINGS
from .networks import build_network
from ..losses import ActivityRegularizer
from ..rtrl import RTRL
from ..surrogates import surrogate_named
from ..targets import CythonTarget

__all__ = ["Training", "TrainingRun", "TASK_SETTINGS", "fastest_engine", "describe_engine"]

logger = get_logger(__name__)


def fastest_engine():
    """
    The fastest RTRL engine on this machine: ``'compiled'`` (the whole step
    as generated C, compiled with Cython whatever target Brian2's objects
    run on) where Cython compiles, else ``'sparse'``.
    """
    return "compiled" if CythonTarget.is_available() else "sparse"


def describe_engine(engine, target):
    """One line saying how a training run computes, for its first progress line."""
    learner = {"compiled": "the learning step compiled from generated C (Cython)",
               "sparse": "the sparse engine (Python around numpy or Cython kernels)",
               "dense": "the dense reference engine (numpy)"}[engine]
    if target == "cpp_standalone":
        threads = max(1, prefs.devices.cpp_standalone.openmp_threads)
        return (f"engine={engine}: Brian2's objects and the learning step inside the C++ "
                f"standalone binary (one build, no Python during the run, {threads} "
                f"thread{'s' if threads > 1 else ''})")
    brian = {"numpy": "Brian2's objects on the numpy target (nothing of theirs to compile)",
             "cython": "Brian2's objects on the cython target (compiled on the first run, "
                       "about a minute on a cold cache)"}.get(target, f"the {target} target")
    return f"engine={engine}: {learner}; {brian}"


@dataclass
class TrainingRun:
    """
    What a `Training` recorded (per training trial unless noted).

    ``score`` is accuracy for classification tasks and normalised mean
    squared error for regression tasks (``score_name`` says which).
    """

    units: int
    sparsity: float
    seed: int
    activity_sparse: bool = True
    model: str = "lif"
    task: str = ""
    engine: str = "sparse"
    score_name: str = "accuracy"
    activity_weight: float = 0.0
    thresholds: str = "constant"
    surrogate_width: float = None  # None: the model's
    loss: list = field(default_factory=list)
    score: list = field(default_factory=list)
    active_fraction: list = field(default_factory=list)
    influence_density: list = field(default_factory=list)
    multiply_adds: list = field(default_factory=list)
    multiply_adds_dense: list = field(default_factory=list)
    test_score: float = float("nan")
    seconds: float = 0.0


class Training:
    """
    A network of ``model`` units learning ``task`` online with exact RTRL.

    Parameters
    ----------
    task : Task
        A `rtrl_brian.apps.tasks` task.
    model : {'lif', 'alif', 'egru', 'sparse_rnn'}
    units : int
        Recurrent units.
    trials : int
        Training trials (one optimizer step per ``update_every`` steps).
    test_trials : int
        Held-out trials scored after training, with learning off.
    sparsity : float
        Fraction of recurrent synapses pruned (a static random mask).
    engine : {'sparse', 'dense', 'compiled', 'auto'}
        RTRL engine; ``'auto'``: `fastest_engine` (the compiled engine where
        Cython compiles, else the sparse one). Results equal to rounding.
    seed : int
        Seeds the weights, the mask, Brian2 and the order of trials.
    lr : float
        Adam learning rate.
    update_every : int
        Steps per parameter update.
    theta : float
        Initial threshold of EGRU and thresholded-tanh units (a large
        negative value disables activity sparsity: every unit sends an event
        every step).
    tau_a : Quantity, optional
        ALIF adaptation time constant (default: the trial's duration).
    adaptive_fraction : float
        ALIF: fraction of units that adapt.
    dtype : {numpy.float64, numpy.float32}
        Precision of the influence matrix.
    dt : Quantity, optional
        One step of the task, every object's time step (default 1 ms, the
        step the models' time constants are chosen for); Brian2's
        ``defaultclock`` is left as it is.
    surrogate : str or Surrogate, optional
        The spike's pseudo-derivative: a `rtrl_brian.surrogates.Surrogate`, or
        the name of one (`rtrl_brian.surrogates.SURROGATES`) at the model's
        width and gain (default: the model's, a `Triangle`).
    surrogate_width : float, optional
        The width of the surrogate named (or the model's), in place of the
        model's: a narrower support holds fewer units (more activity sparsity).
    activity_weight : float
        EGRU: the weight of an activity regulariser on the units' events
        (`rtrl_brian.losses.ActivityRegularizer`, added to the task's loss;
        0: none). The recorded losses include it.
    thresholds : {'constant', 'beta'}
        EGRU: initial thresholds all ``theta``, or drawn from a Beta
        distribution of mean ``theta`` (`rtrl_brian.models.beta_thresholds`).

    Attributes
    ----------
    network : RecurrentNetwork
    learner : RTRL
    outputs : StateMonitor
        The readout at the end of every step.
    spikes : list of SpikeMonitor
        Input and recurrent events during the held-out trials (empty until then).
    trained_influence : (tuple, ndarray)
        The influence matrix's recurrent rows at the end of training
        (`RTRL.influence_rows`), after `run`.
    initial_recurrent : (Synapses, str, ndarray)
        The recurrent synapses, their first weight variable and its values
        before learning (after pruning).
    """

    def __init__(self, task, model="lif", units=100, trials=100, test_trials=20, sparsity=0.0,
                 engine="sparse", seed=0, lr=3e-3, update_every=1, theta=0.2, tau_a=None,
                 adaptive_fraction=1.0, dtype=np.float64, dt=None, surrogate=None,
                 activity_weight=0.0, thresholds="constant", surrogate_width=None):
        if int(trials) != trials or trials < 1:
            raise ValueError(f"'trials' must be a positive integer, got {trials!r}.")
        if int(test_trials) != test_trials or test_trials < 0:
            raise ValueError(f"'test_trials' must be a non-negative integer, got {test_trials!r}.")
        if not (np.isfinite(activity_weight) and activity_weight >= 0):
            raise ValueError(f"'activity_weight' must be finite and non-negative (0: no "
                             f"regulariser), got {activity_weight!r}.")
        self.task, self.trials, self.test_trials = task, int(trials), int(test_trials)
        engine = fastest_engine() if engine == "auto" else engine
        #: One step of the task (every object's ``dt``).
        self.dt = 1 * ms if dt is None else dt
        rng = np.random.default_rng(seed)
        self.order = task.training_order(self.trials, rng)
        self.train_trials = [task.trial(k, "train") for k in self.order]
        self.held_out = [task.trial(k, "test") for k in range(self.test_trials)]
        every = self.train_trials + self.held_out
        inputs = task.input_group(every, name="inputs", dt=self.dt)
        # mean |value| an input sends per step: the spike rate, or analog magnitudes
        rate = float(np.mean([np.mean(np.abs(trial.inputs)) for trial in every[:20]]))
        duration = task.steps * self.dt
        self.network = build_network(model, inputs, task.n_outputs, units, rng,
                                     input_value=task.input_value, input_rate=max(rate, 1e-3),
                                     theta=theta, tau_a=duration if tau_a is None else tau_a,
                                     adaptive_fraction=adaptive_fraction, dt=self.dt,
                                     thresholds=thresholds, events=activity_weight > 0)
        self.loss = task.loss(self.network.readout.y, self.train_trials[0])
        self.activity_weight = float(activity_weight)
        if self.activity_weight:
            self.loss = self.loss + ActivityRegularizer(self.network.group.event,
                                                        self.activity_weight)
        model_surrogate = self.network.surrogate
        if isinstance(surrogate, str):
            surrogate = surrogate_named(surrogate, like=model_surrogate, width=surrogate_width)
        elif surrogate is None:
            surrogate = model_surrogate if surrogate_width is None else type(model_surrogate)(
                width=surrogate_width, gain=model_surrogate.gain)
        elif surrogate_width is not None:
            raise ValueError("'surrogate_width' sets the width of a surrogate named (or of "
                             "the model's); give the surrogate itself that width instead.")
        self.learner = RTRL(self.network.params, self.loss, optimizer=optim.Adam(lr=lr),
                            surrogate=surrogate,
                            engine=engine, dtype=dtype, update_every=update_every, namespace={})
        for weight in self.network.recurrent_weights:
            sparsity_tools.random_prune(self.learner, weight, sparsity, seed=seed)
        first = self.network.weights[0]
        drawn = self.network.drawn_recurrent.copy()  # Brian2's arrays: not before a build
        drawn[self.learner.pruned(getattr(self.network.s_rec, first))] = 0.0
        self.trained_influence = None
        self.initial_recurrent = (self.network.s_rec, first, drawn)
        self.outputs = StateMonitor(self.network.readout, "y", record=True, when="end",
                                    name="outputs", dt=self.dt)
        self.spikes = []
        self.net = Network(*self.network.objects, self.learner, self.outputs)
        self.record = TrainingRun(units, float(sparsity), seed, bool(theta > -1e5), model,
                                  type(task).__name__, engine, task.score_name,
                                  self.activity_weight, thresholds, surrogate_width)

    def _trial_ends(self, finished):
        """
        A `RTRL.trials` callback: ``finished(k - 1)`` for the trial that ended
        (the learner has already set the network and the loss up for trial
        ``k``: ``initial`` and ``data``). Called once more with the number of
        trials after the run, it reports the last one.
        """
        def start(k):
            if k:
                finished(k - 1)
        return start

    def _trial_outputs(self, trial=None):
        """
        The readout over one trial, ``(steps, n_outputs)``: the one that just
        ended, or trial ``trial`` of everything recorded.
        """
        recorded = self.outputs.variables["y"].get_value()
        steps = self.task.steps
        if trial is None:
            return np.array(recorded[-steps:])
        return np.array(recorded[trial * steps:(trial + 1) * steps])

    def run(self, report_seconds=2.0, bars=False):
        """
        Train on the training trials, then score the held-out ones.

        Progress lines (Brian2's logger, INFO) come after a trial at most every
        ``report_seconds`` (and after the last), and during long trials. Under
        ``set_device('cpp_standalone', build_on_run=False)`` training and
        held-out trials run in one build of the binary, which prints the
        progress lines itself; the records are read from its results.

        Parameters
        ----------
        report_seconds : float
        bars : bool
            Progress bars (tqdm) instead of progress lines, for a terminal.

        Returns
        -------
        record : TrainingRun
        """
        logger.info(f"preparing {self.trials} trials of {self.task.steps} steps; "
                    f"{describe_engine(self.learner.engine_name, self._target())}")
        if self.learner.standalone:
            return self._run_in_binary(report_seconds)
        progress = _Progress(report_seconds, self.trials, self.task.score_name, bars)
        learner, record, steps = self.learner, self.record, self.task.steps

        def record_trial(trial):
            history = learner.history
            record.loss.append(float(learner.trial_loss))
            record.score.append(self.task.score(self._trial_outputs(), self.train_trials[trial]))
            record.active_fraction.append(float(np.mean(history["active_fraction"][-steps:])))
            record.multiply_adds.append(float(np.sum(history["multiply_adds"][-steps:])))
            record.multiply_adds_dense.append(float(np.sum(history["multiply_adds_dense"][-steps:])))
            record.influence_density.append(learner.engine.density())
            progress.trial_done(len(record.loss), record.loss, record.score)

        end_training_trial = self._trial_ends(record_trial)
        started = time.time()
        self._training_trials(end_training_trial)
        progress.start(self.trials, "training")
        self.net.run(self.trials * steps * self.dt, report=progress.brian_report,
                     report_period=report_seconds * second)
        end_training_trial(self.trials)
        record.seconds = time.time() - started
        self.trained_influence = learner.influence_rows()  # held-out trials reset it
        if self.test_trials:
            scores = []

            def score(trial):
                scores.append(self.task.score(self._trial_outputs(), self.held_out[trial]))
                progress.held_out_done(len(scores), self.test_trials)

            end_test_trial = self._trial_ends(score)
            self._held_out_trials(end_test_trial)
            progress.start(self.test_trials, "held-out")
            self.net.run(self.test_trials * steps * self.dt, report=progress.brian_report,
                         report_period=progress.every * second)
            end_test_trial(self.test_trials)
            self.learner.learning = True
            self._report_test(float(np.mean(scores)))
        return record

    def _target(self):
        return "cpp_standalone" if self.learner.standalone else prefs.codegen.target

    def _training_trials(self, start=None):
        """The learner set up for the training trials (their targets or labels)."""
        self.learner.trials(self.task.steps, start,
                            data=[self._loss_data(trial) for trial in self.train_trials],
                            initial=self.network.initial_state())

    def _loss_data(self, trial):
        """One training trial's data for the loss (the regulariser, where there is one,
        takes none)."""
        data = self.task.loss_data(trial)
        return (data, None) if self.activity_weight else data

    def _held_out_trials(self, start=None):
        """Spike monitors added, learning off, trials that start where training trials do."""
        self.spikes = [SpikeMonitor(self.network.inputs, name="input_spikes"),
                       SpikeMonitor(self.network.group, name="recurrent_spikes")]
        self.net.add(*self.spikes)
        self.learner.learning = False  # held-out trials: simulation only
        self.learner.trials(self.task.steps, start, initial=self.network.initial_state())

    def _report_test(self, score):
        self.record.test_score = score
        trials = "1 trial" if self.test_trials == 1 else f"{self.test_trials} trials"
        logger.info(f"held-out {self.task.score_name} over {trials}: "
                    f"{_format_score(self.task.score_name, score)}")

    def _run_in_binary(self, report_seconds):
        """Training and held-out trials in one build; the records from its results."""
        if device.build_on_run:
            raise ValueError("Training under cpp_standalone runs the training and the "
                             "held-out trials in one build: set_device('cpp_standalone', "
                             "build_on_run=False).")
        learner, record, steps = self.learner, self.record, self.task.steps
        started = time.time()
        learner.binary_progress = (report_seconds, self.trials)
        self._training_trials()
        self.net.run(self.trials * steps * self.dt)
        if self.test_trials:
            self._held_out_trials()
            self.net.run(self.test_trials * steps * self.dt)
        logger.info("building and running the binary (the first build compiles Brian2's "
                    "library: about a minute on a cold start) ...")
        device.build(**device.build_options)
        record.seconds = time.time() - started
        history = {key: np.asarray(learner.history[key]).reshape(self.trials, steps)
                   for key in ("active_fraction", "multiply_adds", "multiply_adds_dense")}
        losses = list(learner.history["trial_loss"])[:self.trials]
        record.loss = losses + [float(learner.trial_loss)] * (self.trials - len(losses))
        record.score = [self.task.score(self._trial_outputs(k), trial)
                        for k, trial in enumerate(self.train_trials)]
        record.active_fraction = history["active_fraction"].mean(axis=1).tolist()
        record.multiply_adds = history["multiply_adds"].sum(axis=1).tolist()
        record.multiply_adds_dense = history["multiply_adds_dense"].sum(axis=1).tolist()
        record.influence_density = [float("nan")] * self.trials  # not kept by the binary
        recent, figures = _recent_figures(self.task.score_name, record.loss, record.score)
        logger.info(f"trial {self.trials:5d}/{self.trials}  mean of the last {recent:2d}: "
                    f"{figures}  build and run {_clock(record.seconds)}")
        if self.test_trials:
            self._report_test(float(np.mean([
                self.task.score(self._trial_outputs(self.trials + k), trial)
                for k, trial in enumerate(self.held_out)])))
        return record


def _recent_figures(score_name, losses, scores):
    """The mean loss and score over the last `RECENT_TRIALS` trials: ``(trials, text)``."""
    recent = min(RECENT_TRIALS, len(losses))
    return recent, (f"loss {float(np.mean(losses[-recent:])):.4f}, {score_name} "
                    f"{_format_score(score_name, float(np.mean(scores[-recent:])))}")


def _format_score(name, value):
    return f"{value:.1%}" if name == "accuracy" else f"{value:.4f}"


#: Trials the progress lines and the summary's ``final_*`` figures average over.
RECENT_TRIALS = 50


class _Progress:
    """
    Progress lines: trial, loss and score (means over the last `RECENT_TRIALS`
    trials, as the summary reports them), time left; and a heartbeat inside long
    trials. Time left is estimated from the trials after the first, which also
    generated and compiled code. With ``bars``, tqdm progress bars (for a
    terminal) take the place of the lines.
    """

    def __init__(self, every_seconds, trials, score_name, bars=False):
        self.every, self.trials, self.score_name = every_seconds, trials, score_name
        self.started = self.last = time.time()
        self.first_done = None
        self.bars, self.bar = bars, None

    def start(self, trials, what):
        """Before a run of ``trials`` (``what``: 'training' or 'held-out')."""
        if self.bars:
            width = shutil.get_terminal_size((100, 24)).columns  # (a terminal of width 0)
            self.bar = tqdm(total=trials, desc=what, unit="trial", ncols=width)

    def _advance(self, trial, trials, postfix=""):
        """Move the bar; whether it stood in for a line."""
        if self.bar is None:
            return False
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(1)
        if trial >= trials:
            self.bar.close()
            self.bar = None
        return True

    def _line_due(self, now, trial, trials, postfix=""):
        """Whether a line is due after ``trial`` of ``trials`` (the bar moved instead, or
        at most one every ``every`` seconds, always at the last); it counts as written."""
        if self._advance(trial, trials, postfix) or \
                (now - self.last < self.every and trial < trials):
            return False
        self.last = now
        return True

    def trial_done(self, trial, losses, scores):
        now = time.time()
        if self.first_done is None:
            self.first_done = now
        recent, figures = _recent_figures(self.score_name, losses, scores)
        if not self._line_due(now, trial, self.trials,
                              f"mean of the last {recent}: {figures}"):
            return
        line = (f"trial {trial:5d}/{self.trials}  mean of the last {recent:2d}: {figures}  "
                f"elapsed {_clock(now - self.started)}")
        if trial > 1:
            per_trial = (now - self.first_done) / (trial - 1)
            line += f"  left {_clock(per_trial * (self.trials - trial))}"
        logger.info(line)

    def held_out_done(self, trial, trials):
        """After each held-out trial: a line at most every ``every_seconds``."""
        now = time.time()
        if not self._line_due(now, trial, trials):
            return
        logger.info(f"held-out trial {trial:5d}/{trials}  elapsed {_clock(now - self.started)}")

    def brian_report(self, elapsed, completed, start, duration):
        """Brian2's ``report`` callback: speaks only when no trial ended for a while
        (code generation and compilation, long trials)."""
        if self.bar is not None:
            self.bar.refresh()  # its clock goes on
            return
        now = time.time()
        if now - self.last < 2 * self.every or completed >= 1.0:
            return
        self.last = now
        doing = "running" if completed == 0 else f"{completed:.1%} of the simulated time"
        logger.info(f"  ... {doing}, elapsed {_clock(now - self.started)}")


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
