"""
The main demo: a recurrent LIF (or ALIF) network learns a pattern online with exact RTRL.
"""

import pathlib
import time

import numpy as np
import brian2
from brian2 import (Network, SpikeGeneratorGroup, SpikeMonitor, StateMonitor, Synapses,
                    defaultclock, ms, prefs)

from . import losses, optim
from .models import alif, leaky_readout, lif
from .rtrl import RTRL
from .surrogates import Triangle
from .tasks import pattern_generation

__all__ = ["run_demo"]


#: Recurrent units the demo can use.
NEURON_MODELS = {"lif": lif, "alif": alif}


def _build(task, n_rec, seed, neuron_model):
    rng = np.random.default_rng(seed)
    brian2.seed(seed)  # connect(p=...) draws from Brian2's generator
    inp = SpikeGeneratorGroup(task.n_inputs, task.indices, task.step_index * defaultclock.dt,
                              period=task.steps * defaultclock.dt, name="inputs")
    rec = NEURON_MODELS[neuron_model](n_rec, tau=20 * ms, name="recurrent")
    out = leaky_readout(1, tau=20 * ms, name="readout")
    s_in = Synapses(inp, rec, "w : 1", on_pre="v_post += w", name="s_in")
    s_in.connect(p=0.5)
    s_in.w = rng.normal(0.5, 0.2, len(s_in))
    s_rec = Synapses(rec, rec, "w : 1", on_pre="v_post += w", name="s_rec")
    s_rec.connect("i != j", p=0.2)
    s_rec.w = rng.normal(0.0, 0.2, len(s_rec))
    s_out = Synapses(rec, out, "w : 1", on_pre="y_post += w", name="s_out")
    s_out.connect()
    s_out.w = rng.normal(0.0, 0.05, len(s_out))
    return inp, rec, out, s_in, s_rec, s_out


def run_demo(out_dir="rtrl_demo", trials=150, n_rec=40, steps=200, seed=0, log=print,
             neuron_model="lif"):
    """
    Train a recurrent LIF network online on pattern generation; write figures.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``raster.png``, ``learning_curve.png``, ``readout.png``,
        ``operations.png`` and ``losses.csv``.
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

    Returns
    -------
    losses : ndarray
        Loss summed over each trial.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plot

    prefs.codegen.target = "numpy"
    defaultclock.dt = 1 * ms
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    task = pattern_generation(steps=steps, seed=seed)
    if neuron_model not in NEURON_MODELS:
        raise ValueError(f"Unknown neuron model {neuron_model!r}; choose one of "
                         f"{sorted(NEURON_MODELS)}.")
    inp, rec, out, s_in, s_rec, s_out = _build(task, n_rec, seed, neuron_model)
    learner = RTRL([s_in.w, s_rec.w, s_out.w], losses.MSE(out.y, task.target),
                   optimizer=optim.Adam(lr=1e-3), surrogate=Triangle(width=0.5, gain=0.3),
                   update_every=10, namespace={})
    spikes = SpikeMonitor(rec)
    readout = StateMonitor(out, "y", record=0, when="after_end")
    net = Network(inp, rec, out, s_in, s_rec, s_out, learner, spikes, readout)

    log(f"Pattern generation: {n_rec} {neuron_model.upper()} units, {len(s_in) + len(s_rec) + len(s_out)} "
        f"learned synapses, {trials} trials of {steps} ms, exact online RTRL")
    started = time.time()

    def start(trial):
        """Between trials: report the one that ended, then reset the network's state."""
        if trial:
            elapsed = time.time() - started
            left = elapsed / trial * (trials - trial)
            log(f"trial {trial:4d}/{trials}  loss {learner.trial_loss:9.4f}  "
                f"active {np.mean(learner.history['active_fraction'][-steps:]):5.1%}  "
                f"time left {left:5.0f} s")
        for group in (rec, out):
            for name in group.equations.diff_eq_names:
                group.variables[name].get_value()[:] = 0.0

    learner.trials(steps, start)
    net.run(trials * steps * defaultclock.dt)
    start(trials)
    learner.reset_state()
    first_readout = np.array(readout.y[0])[:steps]
    last_readout = np.array(readout.y[0])[-steps:]
    trial_losses = np.array(learner.history["trial_loss"])
    times = np.arange(steps) * 1.0

    final_spikes = spikes.t[:] / ms >= (trials - 1) * steps
    ax = plot.raster(spikes.i[:][final_spikes], spikes.t[:][final_spikes] / ms - (trials - 1) * steps)
    ax.set_title("Recurrent spikes, last trial")
    ax.figure.savefig(out_dir / "raster.png", dpi=120)
    ax = plot.learning_curve(trial_losses)
    ax.set_title("Online RTRL: loss per trial")
    ax.figure.savefig(out_dir / "learning_curve.png", dpi=120)
    fig, axes = plt.subplots(2, 1, sharex=True, figsize=(6, 5))
    plot.readout_vs_target(times, first_readout[:steps], task.target[:, 0], ax=axes[0],
                           label="before learning")
    plot.readout_vs_target(times, last_readout, task.target[:, 0], ax=axes[1],
                           label="after learning")
    fig.savefig(out_dir / "readout.png", dpi=120)
    ax = plot.operations(learner, smooth=steps)
    ax.set_title("Influence-matrix work per step")
    ax.figure.tight_layout()
    ax.figure.savefig(out_dir / "operations.png", dpi=120)
    plt.close("all")
    np.savetxt(out_dir / "losses.csv", trial_losses, header="trial_loss", comments="")
    log(f"first trial loss {trial_losses[0]:.4f}, last {trial_losses[-1]:.4f} "
        f"({trial_losses[-1] / trial_losses[0]:.1%} of the first); figures in {out_dir}/")
    return trial_losses
