"""
A long online run: memory stays flat while exact RTRL learns for 100,000 steps.

100 recurrent LIF units (80 % of the recurrent synapses pruned) learn pattern
generation online, one Adam update every 10 steps, trial after trial in one
Brian2 run, with no monitors. Every ``--every`` steps the script records the
process's resident memory, the influence matrix's bytes and the history's
bytes (bounded by ``history_limit``). Writes ``long_run.json`` and
``long_run.png`` into ``--out``.

Usage::

    python benchmarks/long_run.py --steps 100000 --out docs/long_run
"""

import argparse
import json
import pathlib
import resource
import time

import brian2 as b2
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import rtrl_brian as rb  # noqa: E402
from rtrl_brian.apps.networks import build_network  # noqa: E402


def resident_mb():
    """Resident memory of this process (Linux: current; elsewhere: peak), in MB."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=2_000, help="steps between samples")
    parser.add_argument("--history-limit", type=int, default=10_000)
    parser.add_argument("--target", choices=["numpy", "cython"], default="cython")
    parser.add_argument("--out", default="long_run")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    b2.prefs.codegen.target = args.target
    b2.defaultclock.dt = 1 * b2.ms
    b2.seed(0)
    rng = np.random.default_rng(0)
    task = rb.tasks.PatternGeneration(steps=200, seed=0)
    trials = -(-args.steps // task.steps)
    step_index, indices = np.nonzero(task.raster)
    inputs = b2.SpikeGeneratorGroup(task.n_inputs, indices, step_index * b2.ms,
                                    period=task.steps * b2.ms, name="inputs")  # repeated
    network = build_network("lif", inputs, 1, 100, rng, input_rate=float(task.raster.mean()))
    learner = rb.RTRL(network.params, task.loss(network.readout.y, task.trial(0)),
                      optimizer=rb.optim.Adam(lr=3e-3), update_every=10,
                      surrogate=network.surrogate, history_limit=args.history_limit,
                      namespace={})
    for weight in network.recurrent_weights:
        rb.sparsity.random_prune(learner, weight, 0.8, seed=0)
    samples = []
    started = time.time()

    def start(trial):
        network.reset_state()
        steps = trial * task.steps
        if steps % args.every == 0:
            history_bytes = sum(getattr(r, "nbytes", 0) for r in learner.history.values())
            samples.append(dict(step=steps, rss_mb=resident_mb(),
                                influence_mb=learner.engine.nbytes / 1e6,
                                history_mb=history_bytes / 1e6,
                                trial_loss=float(learner.history["trial_loss"][-1])
                                if learner.history["trial_loss"] else float("nan"),
                                seconds=time.time() - started))
            print(f"step {steps:7d}  RSS {samples[-1]['rss_mb']:7.1f} MB  "
                  f"M {samples[-1]['influence_mb']:.2f} MB  history "
                  f"{samples[-1]['history_mb']:.2f} MB  loss {samples[-1]['trial_loss']:.3f}  "
                  f"{samples[-1]['seconds']:.0f} s", flush=True)

    learner.trials(task.steps, start)
    net = b2.Network(*network.objects, learner)
    net.run(trials * task.steps * b2.ms)
    start(trials)
    (out / "long_run.json").write_text(json.dumps(dict(vars(args), samples=samples), indent=1))
    steps = [s["step"] for s in samples]
    figure, (memory, loss) = plt.subplots(1, 2, figsize=(10, 3.5))
    memory.plot(steps, [s["rss_mb"] for s in samples], label="process (resident)")
    memory.plot(steps, [s["influence_mb"] for s in samples], label="influence matrix")
    memory.plot(steps, [s["history_mb"] for s in samples], label="history (bounded)")
    memory.set_xlabel("time step")
    memory.set_ylabel("MB")
    memory.set_ylim(0, None)
    memory.legend(frameon=False)
    loss.plot(steps[1:], [s["trial_loss"] for s in samples[1:]])
    loss.set_yscale("log")
    loss.set_xlabel("time step")
    loss.set_ylabel("loss of the trial just ended")
    for ax in (memory, loss):
        ax.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    figure.savefig(out / "long_run.png", dpi=120)
    first, last = samples[1], samples[-1]
    print(f"RSS {first['rss_mb']:.1f} MB at step {first['step']}, {last['rss_mb']:.1f} MB at "
          f"step {last['step']}; figure: {out / 'long_run.png'}")


if __name__ == "__main__":
    main()
