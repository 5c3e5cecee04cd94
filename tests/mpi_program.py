"""
A learner on one network, run by tests/test_partition.py as ``mpiexec -n K python
tests/mpi_program.py OUT [--partition] [--engine E] [--fail-rank R] [--cache DIR]``: Adam every step
for 60 steps; rank 0 writes the parameters, gradients and losses to OUT (npz).
"""

import argparse

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--partition", action="store_true")
    parser.add_argument("--engine", default="sparse")
    parser.add_argument("--fail-rank", type=int, default=None)
    parser.add_argument("--cache", default=None, help="Brian2's Cython cache directory")
    args = parser.parse_args(argv)

    from brian2 import Network, NetworkOperation, defaultclock, ms, prefs
    import rtrl_brian as rb
    from rtrl_brian.apps.benchmark import _lif_objects

    prefs.codegen.target = "numpy"
    if args.cache:
        prefs.codegen.runtime.cython.cache_dir = args.cache
    defaultclock.dt = 1 * ms
    objects = _lif_objects(24, 0.3, seed=5, n_inputs=8)  # seeds Brian2: the same on every rank
    s_rec, s_out, out = objects[4], objects[5], objects[2]
    target = np.sin(np.linspace(0, 6, 60))[:, None] * np.array([[0.5, -0.5]])
    learner = rb.RTRL([s_rec.w, s_out.w], rb.losses.MSE(out.y, target),
                      optimizer=rb.optim.Adam(lr=0.01), surrogate=rb.surrogates.Triangle(0.5, 0.3),
                      engine=args.engine, threads=1,
                      partition="mpi" if args.partition else None, namespace={})
    network = Network(*objects, learner)
    if args.fail_rank is not None:
        def fail():
            if learner.partition.rank == args.fail_rank and defaultclock.t >= 20 * ms:
                raise RuntimeError(f"rank {args.fail_rank} failed on purpose")
        network.add(NetworkOperation(fail, when="start"))
    network.run(60 * ms)
    if learner.partition is None or learner.partition.is_root:
        np.savez(args.out, rec=np.array(s_rec.w), out=np.array(s_out.w),
                 grad_rec=learner.gradient(s_rec.w), grad_out=learner.gradient(s_out.w),
                 loss=np.asarray(learner.history["loss"]),
                 columns=learner.engine.n_columns, n_params=learner.ir.n_params,
                 ranks=1 if learner.partition is None else learner.partition.size)


if __name__ == "__main__":
    main()
