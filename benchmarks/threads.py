"""
Learner step time against the number of threads, alone (without the rest of the suite).

The thread study of ``rtrl-brian bench`` (`rtrl_brian.apps.benchmark.thread_study`):
on the benchmark network (LIF, 90 % of the recurrent synapses pruned, about 5 % of the
units in the surrogate's support), for each size and engine, the learner's time per
step on 1 to every core; rounds alternate the thread counts on one network (the binary:
one build per count). The report gives per-step min and median of the engine and of
the whole learner step, the speed-up (learner, median), Amdahl's serial fraction and
the speed-up it projects for 16 and 64 cores. Repeat it: on this machine the speed-up
moves by 0.1-0.3 between runs.

Usage::

    python benchmarks/threads.py --sizes 256 1024 --steps 100 --rounds 5 --out /tmp/threads
"""

import argparse
import json
import pathlib
from dataclasses import asdict

from brian2 import prefs

from rtrl_brian.apps.benchmark import thread_study, thread_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--engines", nargs="+", default=["compiled", "binary"],
                        choices=["compiled", "sparse", "binary"])
    parser.add_argument("--steps", type=int, default=100,
                        help="measured steps per round (the binary: at least 200,000 / n)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="threads")
    args = parser.parse_args(argv)
    prefs.codegen.target = "cython"
    costs = [asdict(cost) for cost in thread_study(args.sizes, args.steps, args.rounds,
                                                   engines=tuple(args.engines))]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "threads.json").write_text(json.dumps(costs, indent=1))
    table = "\n".join(thread_table(costs)) + "\n"
    (out / "threads.md").write_text(table)
    print(table)
    return costs


if __name__ == "__main__":
    main()
