"""
The spiral study of Subramoney (2023, arXiv:2303.05641), online with exact RTRL.

EGRU, thresholded-tanh or spiking (LIF, ALIF) units classify the direction of
17-step spirals (binary cross-entropy on the last step, Adam lr 3e-3) at several
recurrent parameter sparsities and seeds, plus (EGRU, thresholded tanh) a control
without activity sparsity. Writes to ``--out``:

- ``runs/*.json.gz``: every run's per-sequence records (six significant digits),
  one file per run, written as soon as the run ends; a run already recorded there is
  not made again, so a study interrupted goes on where it stopped;
- ``spiral_study.md``: the summary table;
- ``spiral_loss.png``: loss against sequences and against compute-adjusted
  sequences (multiply-adds done, in units of one dense RTRL sequence);
- ``spiral_sparsity.png``: activity sparsity, influence-matrix sparsity and
  multiply-adds relative to dense, per sparsity level.

The runs go through `rtrl_brian.sweep`: on a Dask LocalCluster (one worker per core)
where Dask is installed (``pip install 'rtrl_brian[distributed]'``), on a running
cluster with ``--scheduler tcp://host:8786``, or one after the other in this process
with ``--workers 0`` (or without Dask).

Usage (the paper's scale: 16 units, sparsity 0 to 0.9, five seeds, 7000 training
sequences each; several hours on 2 cores)::

    python examples/spiral_study.py --out docs/spiral

and a reduced run::

    python examples/spiral_study.py --levels 0 0.5 0.9 --seeds 0 1 --sequences 1500 --out docs/spiral
"""

import argparse
import json
import pathlib

import numpy as np

from rtrl_brian.apps.sweep import Study, read_record, sweep
from rtrl_brian.apps.training import TrainingRun


def summarize(runs):
    """One table row per (activity_sparse, sparsity) over seeds."""
    rows = {}
    for run in runs:
        rows.setdefault((run.activity_sparse, run.sparsity), []).append(run)
    table = []
    for (activity_sparse, level), group in sorted(rows.items(), key=lambda kv: (not kv[0][0],
                                                                                 kv[0][1])):
        table.append({
            "activity_sparse": activity_sparse, "sparsity": level, "seeds": len(group),
            "test_accuracy": float(np.mean([r.test_score for r in group])),
            "activity_sparsity": float(1 - np.mean([np.mean(r.active_fraction) for r in group])),
            "influence_sparsity": float(1 - np.mean([np.mean(r.influence_density)
                                                     for r in group])),
            "multiply_adds_vs_dense": float(np.mean([np.sum(r.multiply_adds)
                                                     / np.sum(r.multiply_adds_dense)
                                                     for r in group])),
            "multiply_adds_vs_unpruned_dense": float(np.mean(
                [np.mean(r.multiply_adds) for r in group]) / _unpruned_dense(runs)),
            "final_loss": float(np.mean([np.mean(r.loss[-200:]) for r in group])),
        })
    return table


def _unpruned_dense(runs):
    """Multiply-adds per sequence of dense RTRL on the unpruned network (NaN: not run)."""
    unpruned = [np.mean(r.multiply_adds_dense) for r in runs if r.sparsity == 0]
    return max(unpruned) if unpruned else float("nan")


def _or_not_run(value):
    return f"{value:.3f}" if np.isfinite(value) else "not run"


def table_markdown(table):
    lines = ["| recurrent sparsity | activity sparsity on | seeds | test accuracy | "
             "mean activity sparsity | mean influence-matrix sparsity | multiply-adds vs dense "
             "RTRL of the same network | vs dense RTRL unpruned | final loss (last 200) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in table:
        lines.append(f"| {row['sparsity']:.1f} | {'yes' if row['activity_sparse'] else 'no (control)'}"
                     f" | {row['seeds']} | {row['test_accuracy']:.1%} | "
                     f"{row['activity_sparsity']:.1%} | {row['influence_sparsity']:.1%} | "
                     f"{row['multiply_adds_vs_dense']:.3f} | "
                     f"{_or_not_run(row['multiply_adds_vs_unpruned_dense'])} | "
                     f"{row['final_loss']:.2e} |")
    return "\n".join(lines) + "\n"


def plot(runs, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = sorted({r.sparsity for r in runs if r.activity_sparse})
    colours = plt.cm.viridis(np.linspace(0, 0.9, max(1, len(levels))))
    fig, (by_sequence, by_compute) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    dense_per_sequence, reference = _unpruned_dense(runs), "unpruned dense RTRL"
    if not np.isfinite(dense_per_sequence):  # no unpruned run: the densest network run
        dense_per_sequence = max(np.mean(r.multiply_adds_dense) for r in runs)
        reference = "dense RTRL, same network"
    for run in runs:
        colour = "k" if not run.activity_sparse else colours[levels.index(run.sparsity)]
        width = min(50, len(run.loss))  # moving average over 50 sequences (fewer if short)
        smooth = np.convolve(run.loss, np.ones(width) / width, mode="valid")
        label = (f"sparsity {run.sparsity:.1f}" if run.activity_sparse else "no activity sparsity")
        label = label if run.seed == min(r.seed for r in runs) else None
        by_sequence.plot(np.arange(len(smooth)) + width, smooth, color=colour, alpha=0.7,
                         label=label)
        compute = np.cumsum(run.multiply_adds)[width - 1:] / dense_per_sequence
        by_compute.plot(compute, smooth, color=colour, alpha=0.7)
    by_sequence.set_xlabel("training sequences")
    by_compute.set_xlabel(f"compute-adjusted sequences\n(multiply-adds / one sequence of "
                          f"{reference})")
    by_sequence.set_ylabel("cross-entropy (mean of 50)")
    by_sequence.set_yscale("log")
    by_sequence.legend(frameon=False, fontsize=8)
    for ax in (by_sequence, by_compute):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(out / "spiral_loss.png", dpi=120)

    table = summarize(runs)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    sparse_rows = [row for row in table if row["activity_sparse"]]
    x = [row["sparsity"] for row in sparse_rows]
    for ax, key, title in zip(axes, ("activity_sparsity", "influence_sparsity",
                                     "multiply_adds_vs_unpruned_dense"),
                              ("activity sparsity", "influence-matrix sparsity",
                               "multiply-adds / unpruned dense RTRL")):
        ax.plot(x, [row[key] for row in sparse_rows], "o-")
        control = [row[key] for row in table if not row["activity_sparse"]]
        if control:
            ax.axhline(control[0], color="k", linestyle="--", label="no activity sparsity")
        ax.set_xlabel("recurrent parameter sparsity")
        ax.set_title(title)
        ax.spines[["top", "right"]].set_visible(False)
    if any(not row["activity_sparse"] for row in table):
        axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "spiral_sparsity.png", dpi=120)
    plt.close("all")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["egru", "sparse_rnn", "lif", "alif"], default="egru",
                        help="units (lif/alif: no control run, spikes have no threshold to "
                             "lower)")
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--levels", type=float, nargs="+",
                        default=[round(0.1 * k, 1) for k in range(10)])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sequences", type=int, default=None,
                        help="training sequences per run (default: all 7000)")
    parser.add_argument("--test-sequences", type=int, default=None)
    parser.add_argument("--out", default="spiral_study")
    parser.add_argument("--no-control", action="store_true",
                        help="skip the control run without activity sparsity (egru, "
                             "sparse_rnn)")
    parser.add_argument("--replot", action="store_true",
                        help="redraw the table and figures from the records in OUT")
    parser.add_argument("--scheduler", default=None,
                        help="a running Dask cluster's scheduler address (default: a "
                             "LocalCluster where Dask is installed)")
    parser.add_argument("--workers", type=int, default=None,
                        help="workers of the LocalCluster (default: one per core; 0: the runs "
                             "one after the other in this process)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    if not args.replot:
        result = sweep(study(args), scheduler=args.scheduler, workers=args.workers)
        for name, record in ((name, result.records[name]) for name in result.ran):
            print(f"{name}: test accuracy {record['test_score']:.1%} in "
                  f"{record['seconds']:.0f} s", flush=True)
        if result.failed:
            raise RuntimeError(f"runs failed: {result.failed}")
    report(load_runs(out), out)


def study(args):
    """The study's runs (seed by seed, so that an interrupted study has every level for
    its first seeds; the control after the first seed's levels)."""
    configurations = [(level, seed, True) for seed in args.seeds for level in args.levels]
    if args.model in ("egru", "sparse_rnn") and not args.no_control:
        configurations.insert(len(args.levels), (0.0, args.seeds[0], False))
    runs = {run_name(args.model, args.units, level, seed, activity_sparse): dict(
        model=args.model, units=args.units, sparsity=level, seed=seed,
        sequences=args.sequences, activity_sparse=activity_sparse,
        test_sequences=args.test_sequences)
        for level, seed, activity_sparse in configurations}
    return Study("rtrl_brian.apps.experiments:train_spiral", runs, args.out)


def run_name(model, units, sparsity, seed, activity_sparse):
    """File name (without suffix) of one run's records."""
    return (f"{model}{units}_sparsity{sparsity:.2f}_seed{seed}"
            f"{'' if activity_sparse else '_control'}")


def load_runs(out):
    """Every run recorded in ``out``: ``runs/*.json.gz`` and a legacy ``spiral_study.json``."""
    records = []
    legacy = out / "spiral_study.json"
    if legacy.exists():
        records.extend(json.loads(legacy.read_text()))
    records.extend(read_record(path) for path in sorted((out / "runs").glob("*.json.gz")))
    return [TrainingRun(**record) for record in records]


def report(runs, out):
    (out / "spiral_study.md").write_text(table_markdown(summarize(runs)))
    plot(runs, out)
    print((out / "spiral_study.md").read_text())


if __name__ == "__main__":
    main()
