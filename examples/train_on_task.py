"""
Train any model on any built-in task with the Python API, then draw the dashboard.

The same as ``rtrl-brian train``, written out: a task from `rtrl_brian.apps.tasks`,
a `rtrl_brian.Training` (network, loss, learner), a run with progress lines,
and the report (``metrics.csv``, ``summary.json``, ``dashboard.png``).

Usage (EGRU units on the spiral task, ALIF units on evidence accumulation)::

    python examples/train_on_task.py spiral --model egru --units 16 --trials 1000
    python examples/train_on_task.py evidence --model alif --units 100 --sparsity 0.9 --trials 2000
"""

import argparse

import rtrl_brian as rb
from rtrl_brian.apps.report import write_training_report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(rb.tasks.TASKS))
    parser.add_argument("--model", default="alif", choices=["lif", "alif", "egru", "sparse_rnn"])
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--test-trials", type=int, default=100)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    task = rb.tasks.TASKS[args.task](seed=0)
    training = rb.Training(task, args.model, args.units, trials=args.trials,
                           test_trials=args.test_trials, sparsity=args.sparsity, lr=3e-3,
                           update_every=1 if task.analog else 10, adaptive_fraction=0.5)
    record = training.run()  # progress lines through Brian2's logger
    for path in write_training_report(training, record, args.out or f"{args.task}_{args.model}"):
        print("wrote", path)


if __name__ == "__main__":
    main()
