"""
The main demo: a recurrent LIF (or ALIF) network learns a pattern online with exact RTRL.
"""

import pathlib

import matplotlib.pyplot as plt
import numpy as np
from brian2 import get_logger, ms, prefs

from .. import plot
from .catalog import TASK_SETTINGS
from .report import write_training_report
from .tasks import PatternGeneration
from .training import RECENT_TRIALS, Training

__all__ = ["run_demo"]

logger = get_logger(__name__)


def run_demo(out_dir="rtrl_demo", trials=200, n_rec=100, steps=200, seed=0,
             neuron_model="lif", bars=False, engine="auto"):
    """
    Train recurrent spiking units online on pattern generation; write figures.

    The settings are `rtrl-brian train pattern`'s (80 % of recurrent synapses
    pruned, Adam, an update every 10 steps). Brian2's own objects run on the
    numpy target (nothing of theirs to compile); the learning step is the
    fastest this machine has (`rtrl_brian.apps.training.fastest_engine`: one
    compilation of the generated step where Cython works, numpy otherwise),
    and the first progress line says which. Progress lines go to Brian2's
    logger (INFO).

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``raster.png``, ``learning_curve.png``, ``readout.png``,
        ``operations.png``, ``dashboard.png``, ``losses.csv``, ``metrics.csv``
        and ``summary.json``.
    trials : int
    n_rec : int
        Recurrent units.
    steps : int
        Steps (ms) per trial.
    seed : int
    neuron_model : {'lif', 'alif'}
        `rtrl_brian.models.lif` or `rtrl_brian.models.alif` recurrent units.
    bars : bool
        Progress bars instead of progress lines (`Training.run`).
    engine : {'auto', 'compiled', 'sparse', 'dense'}
        RTRL engine (``'auto'``: the fastest here).

    Returns
    -------
    losses : ndarray
        Loss summed over each training trial.
    """
    if neuron_model not in ("lif", "alif"):
        raise ValueError(f"Unknown neuron model {neuron_model!r}; choose 'lif' or 'alif'.")
    prefs.codegen.target = "numpy"
    out_dir = pathlib.Path(out_dir)
    settings = dict(TASK_SETTINGS["pattern"], model=neuron_model, neurons=n_rec, trials=trials)
    task = PatternGeneration(steps=steps, seed=seed)
    training = Training(task, neuron_model, n_rec, trials=trials,
                        test_trials=settings["test_trials"], sparsity=settings["sparsity"],
                        seed=seed, lr=settings["lr"], update_every=settings["update_every"],
                        engine=engine)
    logger.info(f"Pattern generation: {n_rec} {neuron_model.upper()} units, "
                f"{training.learner.ir.n_params} synapses ({settings['sparsity']:.0%} of the "
                f"recurrent ones pruned), {trials} trials of {steps} ms, exact online RTRL")
    record = training.run(bars=bars)
    logger.info(f"writing metrics and figures to {out_dir}/ ...")
    write_training_report(training, record, out_dir, settings)
    for name, figure in demo_figures(training, record).items():
        figure.savefig(out_dir / f"{name}.png", dpi=120)
    plt.close("all")
    losses = np.array(record.loss)
    np.savetxt(out_dir / "losses.csv", losses, header="trial_loss", comments="")
    recent = min(RECENT_TRIALS, len(losses))
    logger.info(f"trial loss: first {losses[0]:.4f}, mean of the last {recent} "
                f"{np.mean(losses[-recent:]):.4f} (summary.json: final_loss); held-out NMSE "
                f"{record.test_score:.4f}; figures in {out_dir}/")
    return losses


def demo_figures(training, record):
    """
    The demo's figures: ``raster`` (recurrent spikes in the last held-out trial),
    ``learning_curve`` (loss per training trial), ``readout`` (the readout against
    its target in the first training trial and the last held-out one) and
    ``operations`` (influence-matrix work per step).

    Returns
    -------
    figures : dict
        Name to matplotlib Figure.
    """
    task, steps = training.task, training.task.steps
    dt_ms = float(training.dt / ms)
    times = np.arange(steps) * dt_ms
    last_start = (training.trials + training.test_trials - 1) * steps * dt_ms
    recurrent = training.spikes[1]
    keep = np.asarray(recurrent.t[:] / ms) >= last_start
    ax = plot.raster(np.asarray(recurrent.i[:])[keep],
                     np.asarray(recurrent.t[:] / ms)[keep] - last_start)
    ax.set_title("recurrent spikes, last held-out trial")
    ax.set_xlabel("time in the trial (ms)")
    figures = {"raster": ax.figure}
    ax = plot.learning_curve(record.loss)
    ax.set_title("online RTRL: loss per training trial")
    figures["learning_curve"] = ax.figure
    readout = np.asarray(training.outputs.y).T  # (steps, n_outputs)
    figure, axes = plt.subplots(2, 1, sharex=True, figsize=(6, 5))
    plot.readout_vs_target(times, readout[:steps, 0], task.target[:, 0], ax=axes[0],
                           label="first training trial")
    plot.readout_vs_target(times, readout[-steps:, 0], task.target[:, 0], ax=axes[1],
                           label=f"last held-out trial (held-out NMSE {record.test_score:.3f})")
    axes[0].set_xlabel("")
    axes[1].set_xlabel("time in the trial (ms)")
    figures["readout"] = figure
    ax = plot.operations(training.learner, smooth=steps)
    ax.set_title("influence-matrix work per step", pad=18)
    ax.figure.tight_layout()
    figures["operations"] = ax.figure
    return figures
