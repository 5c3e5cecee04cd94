"""
A recurrent LIF network written in plain Brian2 syntax learns a pattern online.

Everything is ordinary Brian2 (a `SpikeGeneratorGroup`, `rtrl_brian.models.lif`
neurons, `Synapses` with ``on_pre``); rtrl_brian adds the learner and the plots.
Writes ``lif_pattern.png`` (spikes, readout against target, learning curve and
the work done on the influence matrix) into ``--out``.

Usage::

    python examples/lif_pattern_generation.py --out docs/gallery/lif_pattern
"""

import argparse
import pathlib

import brian2 as b2
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import rtrl_brian as rb  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--neurons", type=int, default=100)
    parser.add_argument("--out", default="lif_pattern")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    b2.defaultclock.dt = 1 * b2.ms
    b2.seed(1)
    rng = np.random.default_rng(1)
    task = rb.tasks.PatternGeneration(steps=200, n_inputs=20, rate=0.1, seed=1)
    steps = task.steps
    step_index, indices = np.nonzero(task.raster)
    inputs = b2.SpikeGeneratorGroup(task.n_inputs, indices, step_index * b2.ms,
                                    period=steps * b2.ms)
    rec = rb.models.lif(args.neurons, tau=20 * b2.ms, reset="subtract")
    out_group = rb.models.leaky_readout(1, tau=20 * b2.ms)
    s_in = b2.Synapses(inputs, rec, "w : 1", on_pre="v_post += w")
    s_in.connect()
    s_in.w = rng.normal(0.03, 0.15, len(s_in))
    s_rec = b2.Synapses(rec, rec, "w : 1", on_pre="v_post += w")
    s_rec.connect("i != j", p=0.2)  # parameter sparsity: only these synapses are parameters
    s_rec.w = rng.normal(0.0, 0.1, len(s_rec))
    s_out = b2.Synapses(rec, out_group, "w : 1", on_pre="y_post += w")
    s_out.connect()
    s_out.w = rng.normal(0.0, 0.02, len(s_out))

    learner = rb.RTRL([s_in.w, s_rec.w, s_out.w], rb.losses.MSE(out_group.y, task.target),
                      optimizer=rb.optim.Adam(lr=3e-3), update_every=10,
                      surrogate=rb.surrogates.Triangle(width=0.5, gain=0.3))
    spikes = b2.SpikeMonitor(rec)
    readout = b2.StateMonitor(out_group, "y", record=0, when="end")

    def start(trial):
        """At each trial start: clear the network's state (the learner resets itself)."""
        rec.v = 0
        out_group.y = 0
        if trial and trial % 20 == 0:
            print(f"trial {trial}: loss {learner.history['trial_loss'][-1]:.3f}", flush=True)

    learner.trials(steps, start)
    b2.run(args.trials * steps * b2.ms)
    learner.reset_state()

    figure, axes = plt.subplots(2, 2, figsize=(11, 6.5))
    last = args.trials - 1
    rb.plot.spikes([spikes], ax=axes[0, 0], start=last * steps * b2.ms)
    axes[0, 0].set_title("recurrent spikes, last trial")
    times = np.arange(steps)
    y = np.asarray(readout.y[0])
    rb.plot.readout_vs_target(times, y[:steps], task.target[:, 0], ax=axes[0, 1],
                              label="first trial")
    axes[0, 1].plot(times, y[-steps:], label="last trial")
    axes[0, 1].legend(frameon=False)
    rb.plot.learning_curve(learner, ax=axes[1, 0])
    rb.plot.operations(learner, ax=axes[1, 1], smooth=steps)
    figure.tight_layout()
    figure.savefig(out / "lif_pattern.png", dpi=110)
    losses = learner.history["trial_loss"]
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; figure: {out / 'lif_pattern.png'}")


if __name__ == "__main__":
    main()
