"""
The compiled engine's learner step with its bookkeeping in Python against the whole step
in one C call (`rtrl_brian.fused`), side by side.

On the benchmark network (LIF, 90 % of the recurrent synapses pruned, about 5 % of the
units in the surrogate's support), one network per size; rounds alternate
``learner.fuse_step`` between runs, so that both see the same activity and the
machine's drifts. Prints the learner's median step (``history['step_seconds']``) and
the engine's either way, their ratio, and the whole step with Brian2's simulation (time
from one step's start to the next's, median).

Usage::

    python benchmarks/bookkeeping.py --sizes 64 256 --steps 100 --rounds 5 --threads 1
"""

import argparse
import time

import numpy as np
from brian2 import NetworkOperation, defaultclock, prefs

from rtrl_brian.apps.benchmark import benchmark_network, calibrate_width


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--steps", type=int, default=100, help="measured steps per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    prefs.codegen.target = "cython"
    rows = ["| n | Python bookkeeping: learner / engine ms per step (median) | one C call: "
            "learner / engine | learner speed-up | whole step with Brian2: Python "
            "bookkeeping / one C call |", "|---|---|---|---|---|"]
    for n in args.sizes:
        width = calibrate_width(n, 0.1, 0.05, skip=20, steps=args.steps)
        network, learner = benchmark_network(n, 0.1, width, "compiled", threads=args.threads)
        starts = []  # when each step starts: before any other object of the step
        network.add(NetworkOperation(lambda: starts.append(time.perf_counter()),
                                     when="before_start", order=-(2 ** 63)))
        network.run(20 * defaultclock.dt)  # warm-up, compilation
        samples = {fuse: ([], [], []) for fuse in (False, True)}
        for _ in range(args.rounds):
            for fuse in (False, True):
                learner.fuse_step = fuse
                start = len(learner.history["step_seconds"])
                del starts[:]
                network.run(args.steps * defaultclock.dt)
                samples[fuse][2].extend(np.diff(starts))
                assert learner.step_fused == fuse
                samples[fuse][0].extend(learner.history["step_seconds"][start:])
                samples[fuse][1].extend(learner.history["engine_seconds"][start:])
        median = {fuse: [1e3 * float(np.median(values)) for values in samples[fuse]]
                  for fuse in samples}
        rows.append(f"| {n} | {median[False][0]:.4f} / {median[False][1]:.4f} | "
                    f"{median[True][0]:.4f} / {median[True][1]:.4f} | "
                    f"{median[False][0] / median[True][0]:.2f}x | "
                    f"{median[False][2]:.4f} / {median[True][2]:.4f} |")
    print("\n".join(rows))
    return rows


if __name__ == "__main__":
    main()
