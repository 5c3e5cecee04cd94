"""
A recurrent LIF network written in plain Brian2 syntax learns a pattern online.

Everything is ordinary Brian2 (a `SpikeGeneratorGroup`, `rtrl_brian.models.lif`
neurons, `Synapses` with ``on_pre``); rtrl_brian adds the learner and the plots.
Writes ``lif_pattern.png`` (spikes, readout against target, learning curve and
the work done on the influence matrix) into ``--out``.

With ``--standalone``, the same kind of network (its connectivity drawn with
numpy) and the learner run inside Brian2's cpp_standalone binary (the learning
step, the loss and Adam included). No Python runs there, so between trials only
the learner restarts (its influence matrix); the network's state runs on instead
of being cleared by a trial callback.

Usage::

    python examples/lif_pattern_generation.py --out docs/gallery/lif_pattern
    python examples/lif_pattern_generation.py --standalone --out docs/gallery/lif_pattern_standalone
"""

import argparse
import pathlib
import tempfile

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
    parser.add_argument("--standalone", action="store_true",
                        help="run inside Brian2's cpp_standalone binary (built in a "
                             "temporary folder)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.standalone:
        learn_pattern(args, out)
        return
    with tempfile.TemporaryDirectory() as build:
        b2.set_device("cpp_standalone", directory=build, build_on_run=True)
        try:
            learn_pattern(args, out)
        finally:  # back to the runtime device (for callers in the same process)
            b2.device.reinit()
            b2.set_device("runtime")
            b2.device.reinit()
            b2.device.activate()


def connect(synapses, rng, standalone, p=1.0, self_connections=True):
    """
    Connect with probability ``p``: by Brian2, or from pairs drawn with numpy under
    cpp_standalone (where the number of synapses must be known before the build).
    """
    if not standalone:
        synapses.connect(condition=None if self_connections else "i != j", p=p)
        return
    pre, post = np.nonzero(rng.random((len(synapses.source), len(synapses.target))) < p)
    keep = np.ones(len(pre), dtype=bool) if self_connections else pre != post
    synapses.connect(i=pre[keep], j=post[keep])


def learn_pattern(args, out):
    """Build, learn online, plot."""
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
    connect(s_in, rng, args.standalone)
    s_in.w = rng.normal(0.03, 0.15, len(s_in))
    s_rec = b2.Synapses(rec, rec, "w : 1", on_pre="v_post += w")
    # parameter sparsity: only these synapses are parameters
    connect(s_rec, rng, args.standalone, p=0.2, self_connections=False)
    s_rec.w = rng.normal(0.0, 0.1, len(s_rec))
    s_out = b2.Synapses(rec, out_group, "w : 1", on_pre="y_post += w")
    connect(s_out, rng, args.standalone)
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

    learner.trials(steps, None if args.standalone else start)
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
