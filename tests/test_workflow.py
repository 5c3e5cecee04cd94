"""Built-in tasks, training from the command line, `rtrl-brian check`, and the plots."""

import json
import re
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
from brian2 import Network, NeuronGroup, StateMonitor, defaultclock, get_device, ms
from brian2.devices.device import RuntimeDevice
from brian2.utils.logger import BrianLogger

from rtrl_brian import plot
from rtrl_brian.apps.catalog import MODEL_SUMMARIES, TASK_SETTINGS, TASK_SUMMARIES
from rtrl_brian.apps.cli import main
from rtrl_brian.apps.networks import MODELS
from rtrl_brian.apps.report import write_training_report
from rtrl_brian.apps.tasks import TASKS, DelayedRecall, EvidenceAccumulation, PatternGeneration, Spiral
from rtrl_brian.apps.training import Training

from helpers import library_log
from test_docs import metrics
from test_standalone import standalone


@pytest.mark.parametrize("name", sorted(TASKS))
def test_tasks_are_deterministic_and_shaped(name):
    task = TASKS[name](seed=3) if name != "spiral" else Spiral(sequences=100, seed=3)
    first, again = task.trial(4), task.trial(4)
    held_out = task.trial(4, "test")
    assert first.inputs.shape == (task.steps, task.n_inputs)
    assert np.array_equal(first.inputs, again.inputs)
    assert first.mask.shape == (task.steps,) and first.mask.any()
    if task.classification:
        assert first.labels.shape == (task.steps,)
        assert set(np.unique(first.labels[first.mask])) <= set(range(task.n_outputs))
    else:
        assert first.target.shape == (task.steps, task.n_outputs)
    if name in ("evidence", "recall"):
        assert not np.array_equal(first.inputs, held_out.inputs)
    with pytest.raises(ValueError, match="split must be one of"):
        task.trial(0, "validation")


def test_evidence_label_is_the_majority_side():
    task = EvidenceAccumulation(n_cues=5, population=50, cue_rate=0.3, background_rate=0.0)
    for k in range(10):
        trial = task.trial(k)
        cue_period = task.n_cues * (task.cue_steps + task.gap_steps)
        left = trial.inputs[:cue_period, :50].sum()
        right = trial.inputs[:cue_period, 50:100].sum()
        assert trial.labels[-1] == int(right > left)
        assert not trial.mask[:task.recall_start].any() and trial.mask[task.recall_start:].all()
    with pytest.raises(ValueError, match="n_cues must be odd"):
        EvidenceAccumulation(n_cues=4)


def test_scores_count_decisions_and_normalised_error():
    recall = DelayedRecall(n_items=3, item_steps=4, delay_steps=2, seed=1)
    trial = recall.trial(0)
    perfect = np.zeros((recall.steps, 2))
    perfect[np.arange(recall.steps), trial.labels] = 1.0
    assert len(recall.decision_windows(trial)) == 3  # equal neighbouring bits are two decisions
    assert recall.score(perfect, trial) == 1.0
    assert recall.score(perfect[:, ::-1], trial) == 0.0
    one_wrong = perfect.copy()
    first = recall.decision_windows(trial)[0]
    one_wrong[first] = one_wrong[first][:, ::-1]
    assert recall.score(one_wrong, trial) == pytest.approx(2 / 3)
    pattern = PatternGeneration(steps=50)
    target = pattern.trial(0).target
    assert pattern.score(target, pattern.trial(0)) == 0.0
    assert pattern.score(np.zeros_like(target), pattern.trial(0)) == pytest.approx(
        np.mean(target ** 2) / np.var(target))
    with pytest.raises(ValueError, match="outputs must have shape"):
        pattern.score(np.zeros((3, 1)), pattern.trial(0))


@pytest.mark.codegen_independent
def test_training_records_every_trial_and_learns_the_pattern():
    task = PatternGeneration(steps=60, n_inputs=10, rate=0.2, seed=2)
    training = Training(task, "lif", 16, trials=30, test_trials=1, sparsity=0.5, lr=1e-2,
                        update_every=10, seed=1)
    with library_log() as records:
        record = training.run(report_seconds=0.0)
    assert {(level, name) for level, name, _ in records} == {("INFO", "rtrl_brian.apps.training")}
    lines = [message for _, _, message in records]
    assert len(record.loss) == len(record.score) == len(record.multiply_adds) == 30
    assert np.mean(record.score[-5:]) < 0.5 * np.mean(record.score[:5])
    assert 0 < np.mean(record.active_fraction) < 1
    assert np.sum(record.multiply_adds) < np.sum(record.multiply_adds_dense)
    assert np.isfinite(record.test_score)
    assert lines[0].startswith("preparing 30 trials of 60 steps")
    assert any("trial    30/30" in line for line in lines) and "held-out nmse" in lines[-1]
    assert np.mean(training.learner.pruned(training.network.s_rec.w)) == pytest.approx(0.5,
                                                                                        abs=0.01)


def test_train_command_writes_metrics_summary_and_dashboard(tmp_path, capsys):
    out = tmp_path / "run"
    console_level = BrianLogger.console_handler.level
    main(["train", "recall", "--neurons", "8", "--trials", "3", "--test-trials", "2",
          "--out", str(out)])
    printed = capsys.readouterr().out
    assert "trial     3/3" in printed and "held-out accuracy over 2 trials" in printed
    # the library's INFO lines come plain (not in Brian2's console format), and Brian2's
    # console handler is as it was
    assert "preparing 3 trials" in printed and "INFO" not in printed
    # the fastest engine by default, and the line says so
    assert "engine=compiled: the learning step compiled from generated C" in printed
    assert "Brian2's objects on the numpy target" in printed
    assert BrianLogger.console_handler.level == console_level
    assert "held-out trial     2/2" in printed  # scoring is not silent
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("trial,loss,score") and len(rows) == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["model"] == "alif" and summary["settings"]["neurons"] == 8
    assert 0.0 <= summary["results"]["test_score"] <= 1.0
    # the console's last line and the summary report the same figures
    results = summary["results"]
    last = next(line for line in printed.splitlines() if line.startswith("trial     3/3"))
    assert results["final_trials"] == 3
    assert f"mean of the last  3: loss {results['final_loss']:.4f}, accuracy " \
           f"{results['final_score']:.1%}" in last
    assert (out / "dashboard.png").stat().st_size > 10_000


def test_train_command_takes_another_surrogate(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "recall", "--neurons", "6", "--trials", "1", "--test-trials", "0",
          "--engine", "sparse", "--surrogate", "fast_sigmoid", "--out", str(out)])
    assert "surrogate=fast_sigmoid" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["settings"]["surrogate"] == \
        "fast_sigmoid"


@pytest.mark.codegen_independent
def test_training_takes_a_surrogate_by_name_at_the_models_width_and_gain():
    from rtrl_brian.surrogates import FastSigmoid

    model = Training(DelayedRecall(seed=0), "alif", 6, trials=1, test_trials=0)
    named = Training(DelayedRecall(seed=0), "alif", 6, trials=1, test_trials=0,
                     surrogate="fast_sigmoid")
    assert type(named.learner.surrogate) is FastSigmoid
    assert (named.learner.surrogate.width, named.learner.surrogate.gain) == \
        (model.learner.surrogate.width, model.learner.surrogate.gain)
    with pytest.raises(ValueError, match="Unknown surrogate 'boxcar'; choose one of triangle"):
        Training(DelayedRecall(seed=0), "alif", 6, trials=1, test_trials=0, surrogate="boxcar")


@pytest.mark.parametrize("arguments, message", [
    (["train", "digits"], "invalid choice: 'digits'"),
    (["train", "pattern", "--sparsity", "1.5"], "must lie in \\[0, 1\\)"),
    (["train", "pattern", "--neurons", "0"], "must be positive"),
    (["train", "pattern", "--test-trials", "-1"], "must be at least 0, got -1"),
    (["train", "evidence", "--adaptive-fraction", "2"], "must lie in \\[0, 1\\], got 2"),
])
def test_train_command_refuses_bad_arguments(arguments, message, capsys):
    with pytest.raises(SystemExit):
        main(arguments)
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.long
@pytest.mark.standalone
def test_train_command_in_the_binary_equals_the_runtime_device(tmp_path):
    """Training and held-out trials in one build: the same per-trial losses and scores as
    on the runtime device (the compiled engine), half the recurrent synapses pruned."""
    arguments = ["train", "recall", "--neurons", "8", "--trials", "4", "--test-trials", "2",
                 "--sparsity", "0.5", "--engine", "compiled"]
    main(arguments + ["--out", str(tmp_path / "runtime")])
    main(arguments + ["--target", "cpp_standalone", "--out", str(tmp_path / "binary")])
    runtime, binary = (metrics(tmp_path / name / "metrics.csv") for name in ("runtime", "binary"))
    assert len(binary["loss"]) == 4
    for key in ("loss", "score", "active_fraction", "multiply_adds"):
        np.testing.assert_allclose(binary[key], runtime[key], rtol=1e-9, err_msg=key)
    assert np.all(np.isnan(binary["influence_density"]))  # the binary does not keep it
    summaries = [json.loads((tmp_path / name / "summary.json").read_text())
                 for name in ("runtime", "binary")]
    assert summaries[1]["results"]["test_score"] == summaries[0]["results"]["test_score"]
    assert summaries[1]["settings"]["target"] == "cpp_standalone"
    assert isinstance(get_device(), RuntimeDevice)  # the command put the device back


@pytest.mark.long
@pytest.mark.standalone
def test_training_in_the_binary_prints_progress_as_it_runs(tmp_path, capfd):
    with standalone(tmp_path / "build", build_on_run=False, with_output=True):
        training = Training(DelayedRecall(seed=0), "lif", 6, trials=3, test_trials=0)
        record = training.run(report_seconds=0)
    printed = capfd.readouterr().out
    assert "trial      1/3  loss" in printed and "trial      2/3  loss" in printed
    assert len(record.loss) == 3 and np.isnan(record.test_score)


@pytest.mark.standalone
def test_training_in_the_binary_needs_one_build_for_every_run(tmp_path):
    with standalone(tmp_path / "build", build_on_run=True):
        training = Training(DelayedRecall(seed=0), "lif", 6, trials=1, test_trials=1)
        with pytest.raises(ValueError, match=r"set_device\('cpp_standalone', "
                                             r"build_on_run=False\)"):
            training.run()
        assert not (tmp_path / "build" / "main").exists()


CHECKED_SCRIPT = """
import numpy as np
from brian2 import NeuronGroup, PoissonGroup, Synapses, Hz, ms
import rtrl_brian as rb

rng = np.random.default_rng(0)
inputs = PoissonGroup(5, rates=200 * Hz)
rec = NeuronGroup(6, "dv/dt = -v / (15*ms) : 1", threshold="v > 0.6", reset="v -= 0.6",
                  method="exact")
out = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact")
synapses = []
for source, target, on_pre in ((inputs, rec, "v_post += w"), (rec, rec, "v_post += w"),
                               (rec, out, "y_post += w")):
    s = Synapses(source, target, "w : 1", on_pre=on_pre)
    s.connect()
    s.w = rng.normal(0.3, 0.2, len(s))
    synapses.append(s)
params = [s.w for s in synapses]
loss = rb.losses.MSE(out.y, np.zeros((30, 2)) + 0.2)
duration = 30 * ms
"""


@pytest.mark.codegen_independent
def test_check_command_runs_a_users_script(tmp_path, capsys):
    script = tmp_path / "net.py"
    script.write_text(CHECKED_SCRIPT)
    assert main(["check", str(script)]) == 0
    printed = capsys.readouterr().out
    assert "relative error (RTRL vs BPTT)" in printed and ": OK" in printed


@pytest.mark.codegen_independent
@pytest.mark.parametrize("text, message", [
    ("x = 1\n", r"ValueError: check: '.*net.py' must define 'params' and 'loss'"),
    ("from brian2 import NeuronGroup\nG = NeuronGroup(2, 'dv/dt = : 1')\n",
     r"EquationError: Parsing failed"),
    ("params = [\n", "SyntaxError: "),
    (None, r"FileNotFoundError: check: no script at '.*net.py'"),
], ids=["no-params", "brian2-error", "syntax-error", "no-file"])
def test_check_command_reports_a_users_mistake_in_two_lines(tmp_path, capsys, text, message):
    """No traceback and no Brian2 'please report' banner: the error's first line, exit
    status 2; with --traceback, the exception itself."""
    script = tmp_path / "net.py"
    if text is not None:
        script.write_text(text)
    assert main(["check", str(script)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in captured.err, captured.err
    assert re.match(rf"rtrl-brian check: {message}", lines[0]), lines[0]
    with pytest.raises(Exception):
        main(["--traceback", "check", str(script)])


@pytest.mark.codegen_independent
def test_plots_return_axes_and_dashboard_has_every_panel():
    task = PatternGeneration(steps=40, n_inputs=10, rate=0.2)
    training = Training(task, "lif", 10, trials=4, test_trials=1, sparsity=0.5)
    record = training.run()
    learner = training.learner
    _, ax = plt.subplots()
    assert plot.spikes(training.spikes, ax=ax, start=0 * ms) is ax
    assert len(ax.lines) == 2
    assert plot.learning_curve(record.loss, against=np.cumsum(record.multiply_adds),
                               xlabel="multiply-adds").get_xlabel() == "multiply-adds"
    with pytest.raises(ValueError, match="'against' has 2 values for 4 trials"):
        plot.learning_curve(record.loss, against=[1, 2])
    assert plot.activity(record).get_ylabel() == "%"
    s_rec = training.network.s_rec
    image = np.ma.filled(plot.weights(s_rec).images[0].get_array(), np.nan)
    assert np.isnan(image[np.arange(10), np.arange(10)]).all()  # no self-connections
    assert np.isfinite(image).sum() == len(s_rec)
    heat = np.ma.filled(plot.influence(learner).images[0].get_array(), np.nan)
    assert heat.shape == (10, learner.ir.n_params)
    figure = plot.dashboard(learner, training.spikes + [training.outputs], record=record,
                            target=task.target, weights_before=training.initial_recurrent)
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    for expected in ("spikes", "readout.y (dashed: target)", "loss per trial", "nmse per training trial",
                     "multiply-adds on the influence matrix", "s_rec.w before learning",
                     "s_rec.w after learning"):
        assert expected in titles
    assert any(title.startswith("influence matrix, recurrent.v") for title in titles)
    heat_map = next(ax for ax in figure.axes if ax.get_title().startswith("influence matrix"))
    assert [label.get_text() for label in heat_map.get_xticklabels()] == [
        "s_in.w (inputs -> recurrent)", "s_rec.w (recurrent -> recurrent)",
        "s_out.w (recurrent -> readout)"]
    plt.close("all")


def panel(figure, title):
    return next(ax for ax in figure.axes if ax.get_title() == title
                or ax.get_title().startswith(title + " "))


def test_dashboard_shows_what_its_titles_say(tmp_path):
    """Found by a new user: an empty influence panel, a shifted rolling mean, times
    since the run began (40,000 ms), a legend over the curve it omits, before/after
    weight maps on different scales, an empty slot. Each panel's data checked."""
    task = PatternGeneration(steps=40, n_inputs=10, rate=0.2)
    training = Training(task, "lif", 10, trials=12, test_trials=2, sparsity=0.5)
    record = training.run()
    write_training_report(training, record, tmp_path)
    figure = plot.dashboard(training.learner, training.spikes + [training.outputs],
                            record=record, target=task.target,
                            weights_before=training.initial_recurrent,
                            influence_block=training.trained_influence,
                            window=task.steps * ms)
    # the influence matrix as training left it (held-out trials reset the learner's)
    heat = panel(figure, "influence matrix, recurrent.v rows")
    shown = np.ma.filled(heat.images[0].get_array(), np.nan)
    assert np.isfinite(shown).any(axis=1).all()  # every unit depends on some weight
    assert "(0.0% non-zero)" not in heat.get_title()
    # rolling means end at the last trial, placed at the end of their window
    activity = panel(figure, "activity and influence-matrix density")
    for line in activity.lines:
        trials = line.get_xdata()
        assert trials[0] == 10 and trials[-1] == 12  # mean of 10 trials, trials 1..12
    expected = 100 * np.convolve(record.active_fraction, np.ones(10) / 10, mode="valid")
    assert np.allclose(activity.lines[0].get_ydata(), expected)
    # spikes and traces: time within the shown window (the last trial), not since t = 0
    for title in ("spikes", "readout.y"):
        for line in panel(figure, title).lines:
            times = np.asarray(line.get_xdata(), dtype=float)
            assert times.size == 0 or (times.min() >= 0 and times.max() < 40), title
    assert panel(figure, "spikes").get_xlabel().startswith("time from ")
    # the operations legend names all three curves and sits above the axes
    operations = panel(figure, "multiply-adds on the influence matrix")
    legend = operations.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == [
        "dense engine", "sparse engine", "active units (right)"]
    assert legend.get_bbox_to_anchor().y0 >= operations.get_window_extent().y1 - 1
    # before and after on one colour scale, colour bars labelled
    before, after = (panel(figure, f"s_rec.w {when} learning") for when in ("before", "after"))
    assert before.images[0].get_clim() == after.images[0].get_clim()
    bars = [ax for ax in figure.axes if ax.get_ylabel() == "s_rec.w"]
    assert len(bars) == 2
    # no empty slot: every axes shows something
    assert all(ax.get_visible() and (ax.lines or ax.images or ax.collections)
               for ax in figure.axes)
    plt.close("all")


def test_many_traces_get_no_legend():
    """A legend of forty entries covered the panel."""
    group = NeuronGroup(40, "dv/dt = -v / (10*ms) : 1", method="exact")
    monitor = StateMonitor(group, "v", record=True)
    Network(group, monitor).run(5 * ms)
    _, ax = plt.subplots()
    plot._traces(monitor, ax, 0 * ms, None)
    assert ax.get_legend() is None and len(ax.lines) == 40
    plt.close("all")


def test_help_answers_without_importing_brian2():
    """`rtrl-brian --help` and `train --help` list every task and model with the task's
    settings, without waiting for Brian2's import (seconds)."""
    code = ("import sys, contextlib, io\n"
            "from rtrl_brian.apps.cli import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try:\n        main(['train', '--help'])\n"
            "    except SystemExit:\n        pass\n"
            "print('brian2' in sys.modules)\n"
            "print(out.getvalue())\n")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout
    assert printed.splitlines()[0] == "False"
    for name in list(TASKS) + list(MODELS):
        assert re.search(rf"^  {name} +\S", printed, re.MULTILINE), name
    assert "adaptive_fraction=0.5" in printed and "(default: numpy)" in printed


def test_catalog_names_every_task_and_model():
    assert set(TASK_SUMMARIES) == set(TASKS) == set(TASK_SETTINGS)
    assert set(MODEL_SUMMARIES) == set(MODELS)


@pytest.mark.codegen_independent
def test_training_leaves_brian2s_defaultclock_alone():
    """Training gives its objects their own dt (1 ms) instead of setting Brian2's
    defaultclock; the learner steps with them."""
    def losses():
        task = PatternGeneration(steps=20, n_inputs=5, rate=0.2)
        training = Training(task, "lif", 6, trials=2, test_trials=1)
        record = training.run()
        assert len(training.learner.history["loss"]) == 2 * 20
        return record.loss

    defaultclock.dt = 0.1 * ms
    on_their_own = losses()
    assert defaultclock.dt == 0.1 * ms
    defaultclock.dt = 1 * ms
    assert losses() == on_their_own


def test_progress_bars_stand_in_for_progress_lines(capsys):
    """In a terminal, tqdm bars for training and held-out trials (on stderr) take the
    place of the progress lines; the last lines still say what came out."""
    task = PatternGeneration(steps=20, n_inputs=5, rate=0.2)
    with library_log() as records:
        Training(task, "lif", 6, trials=3, test_trials=2).run(bars=True)
    lines = [message for _, _, message in records]
    bars = capsys.readouterr().err
    assert "training: 100%" in bars and "3/3" in bars and "held-out: 100%" in bars
    assert "mean of the last 3: loss" in bars
    assert not any(line.startswith(("trial ", "held-out trial")) for line in lines)
    assert lines[-1].startswith("held-out nmse over 2 trials: ")
