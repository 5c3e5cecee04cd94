"""
One network's influence matrix across MPI ranks (`RTRL(partition='mpi')`): memory and
time per rank against the number of ranks.

For each network size and each number of ranks K, runs the benchmark network of
`rtrl_brian.apps.benchmark` (90 % of the recurrent synapses pruned, 5 % of the units in
the surrogate's support; the compiled engine, Brian2 on cython) under ``mpiexec -n K``,
every rank on ``--threads`` threads, and reports per rank the influence matrix held
(``engine.nbytes``), the median learner time per step over ``--steps`` steps after
``--warmup``, and the bytes each rank sends per step in one ring ``Allreduce`` of the
float64 gradient (it receives as much). K = 1 without a partition is the reference. Writes
``partition.json`` and ``partition.md`` into ``--out``.

Usage (needs the ``distributed`` extra: mpi4py and MPICH's mpiexec)::

    python benchmarks/partition.py --sizes 512 1024 --ranks 1 2 --out /tmp/partition
"""

import argparse
import json
import pathlib
import subprocess
import sys


def rank_measure(n, steps, warmup, threads, partition):
    """On every rank: the benchmark network, learned on; rank 0 returns every rank's
    figures (None elsewhere)."""
    import numpy as np
    from brian2 import defaultclock

    from rtrl_brian.apps.benchmark import benchmark_network, calibrate_width
    from rtrl_brian.apps.benchmark import use_benchmark_settings

    use_benchmark_settings("cython")
    width = calibrate_width(n, 0.1, 0.05, seed=0)
    network, learner = benchmark_network(n, 0.1, width, engine="compiled", threads=threads,
                                         partition="mpi" if partition else None)
    network.run((warmup + steps) * defaultclock.dt)
    seconds = np.asarray(learner.history["step_seconds"][warmup:])
    mine = {"columns": learner.engine.n_columns, "M_bytes": learner.engine.nbytes,
            "step_ms": 1e3 * float(np.median(seconds)),
            "n_params": learner.ir.n_params}
    if learner.partition is None:
        return [mine]
    everyone = learner.partition.comm.gather(mine, root=0)
    return everyone if learner.partition.is_root else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="threads per rank")
    parser.add_argument("--out", default="partition")
    parser.add_argument("--rank-run", nargs=2, metavar=("N", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--partition", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rank_run:  # inside mpiexec
        figures = rank_measure(int(args.rank_run[0]), args.steps, args.warmup, args.threads,
                               args.partition)
        if figures is not None:
            pathlib.Path(args.rank_run[1]).write_text(json.dumps(figures))
        return
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mpiexec = pathlib.Path(sys.executable).parent / "mpiexec"
    rows = []
    for n in args.sizes:
        for ranks in args.ranks:
            partition = ranks > 1
            file = out / f"n{n}_k{ranks}.json"
            launcher = [str(mpiexec), "-n", str(ranks)] if partition else []
            subprocess.run(launcher + [sys.executable, __file__, "--rank-run", str(n), str(file),
                                       "--steps", str(args.steps), "--warmup", str(args.warmup),
                                       "--threads", str(args.threads)]
                           + ["--partition"] * partition, check=True)
            for rank, figures in enumerate(json.loads(file.read_text())):
                rows.append({"n": n, "ranks": ranks, "rank": rank, "threads": args.threads,
                             **figures,
                             # ring Allreduce: each rank sends 2 (K-1)/K vectors (and
                             # receives as much)
                             "bytes_per_step": 2 * (ranks - 1) / ranks * 8 * figures["n_params"]})
                print(rows[-1], flush=True)
    (out / "partition.json").write_text(json.dumps(rows, indent=1))
    lines = ["| n | ranks | rank | columns | M per rank | learner ms/step (median) | "
             "sent per step (as much received) |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['n']} | {r['ranks']} | {r['rank']} | {r['columns']} | "
              f"{r['M_bytes'] / 1e6:.1f} MB | {r['step_ms']:.2f} | "
              f"{r['bytes_per_step'] / 1e6:.2f} MB |" for r in rows]
    (out / "partition.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
