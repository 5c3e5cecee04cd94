"""
The main demo: a recurrent LIF (or ALIF) network learns a pattern online with exact RTRL.
"""

import pathlib

import matplotlib.pyplot as plt
import numpy as np
from brian2 import ms, prefs

from . import plot
from .catalog import TASK_SETTINGS
from .report import write_training_report
from .tasks import PatternGeneration
from .training import RECENT_TRIALS, Training

__all__ = ["run_demo"]


def run_demo(out_dir="rtrl_demo", trials=200, n_rec=100, steps=200, seed=0, log=print,
             neuron_model="lif", bars=False):
    """
    Train recurrent spiking units online on pattern generation; write figures.

    The settings are `rtrl-brian train pattern`'s (80 % of recurrent synapses
    pruned, Adam, an update every 10 steps), on the numpy target so that no
    compiler is needed.

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
    log : callable
        Receives progress lines.
    neuron_model : {'lif', 'alif'}
        `rtrl_brian.models.lif` or `rtrl_brian.models.alif` recurrent units.
    bars : bool
        Progress bars instead of progress lines (`Training.run`).

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
    training = Training(task, neuron_model, n_rec, trials=trials, test_trials=1,
                        sparsity=settings["sparsity"], seed=seed, lr=settings["lr"],
                        update_every=settings["update_every"])
    log(f"Pattern generation: {n_rec} {neuron_model.upper()} units, "
        f"{training.learner.ir.n_params} synapses ({settings['sparsity']:.0%} of the recurrent "
        f"ones pruned), {trials} trials of {steps} ms, exact online RTRL")
    record = training.run(log=log, bars=bars)
    log(f"writing metrics and figures to {out_dir}/ ...")
    write_training_report(training, record, out_dir, settings)

    losses = np.array(record.loss)
    readout = np.asarray(training.outputs.y).T  # (steps, n_outputs)
    times = np.arange(steps) * 1.0
    last = training.spikes[1]
    ax = plot.raster(last.i[:], last.t[:] / ms - trials * steps)
    ax.set_title("Recurrent spikes, held-out trial after learning")
    ax.figure.savefig(out_dir / "raster.png", dpi=120)
    ax = plot.learning_curve(losses)
    ax.set_title("Online RTRL: loss per trial")
    ax.figure.savefig(out_dir / "learning_curve.png", dpi=120)
    fig, axes = plt.subplots(2, 1, sharex=True, figsize=(6, 5))
    plot.readout_vs_target(times, readout[:steps, 0], task.target[:, 0], ax=axes[0],
                           label="first trial")
    plot.readout_vs_target(times, readout[-steps:, 0], task.target[:, 0], ax=axes[1],
                           label=f"after learning (NMSE {record.test_score:.3f})")
    fig.savefig(out_dir / "readout.png", dpi=120)
    ax = plot.operations(training.learner, smooth=steps)
    ax.set_title("Influence-matrix work per step")
    ax.figure.tight_layout()
    ax.figure.savefig(out_dir / "operations.png", dpi=120)
    plt.close("all")
    np.savetxt(out_dir / "losses.csv", losses, header="trial_loss", comments="")
    recent = min(RECENT_TRIALS, len(losses))
    log(f"trial loss: first {losses[0]:.4f}, mean of the last {recent} "
        f"{np.mean(losses[-recent:]):.4f} (summary.json: final_loss); held-out NMSE "
        f"{record.test_score:.4f}; figures in {out_dir}/")
    return losses
