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


def setting(run):
    """How a run made its units sparse in activity: the table's and figures' key."""
    return (run.activity_sparse, run.activity_weight, run.thresholds,
            -1.0 if run.surrogate_width is None else run.surrogate_width)


def setting_name(key):
    activity_sparse, weight, thresholds, width = key
    if not activity_sparse:
        return "no (control)"
    parts = ([f"regulariser {weight:g}"] if weight else []) + \
        (["Beta thresholds"] if thresholds == "beta" else []) + \
        ([f"surrogate width {width:g}"] if width >= 0 else [])
    return "yes" + (f" ({', '.join(parts)})" if parts else "")


def _grouped(runs, key, order):
    """``(key, runs)`` pairs: the runs grouped by ``key(run)``, sorted by ``order(key)``."""
    groups = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    return sorted(groups.items(), key=lambda item: order(item[0]))


def _setting_order(key):
    """Settings with activity sparsity on first, then by their values."""
    return not key[0], key[1:]


def _means(group):
    """Held-out accuracy, activity sparsity and multiply-adds per sequence, over runs."""
    return {"test_accuracy": float(np.mean([r.test_score for r in group])),
            "activity_sparsity": float(1 - np.mean([np.mean(r.active_fraction) for r in group])),
            "multiply_adds": float(np.mean([np.mean(r.multiply_adds) for r in group]))}


def summarize(runs):
    """One table row per setting and sparsity, over seeds."""
    table = []
    for (key, level), group in _grouped(runs, lambda r: (setting(r), r.sparsity),
                                        lambda k: (*_setting_order(k[0]), k[1])):
        means = _means(group)
        table.append({
            "activity_sparse": key[0], "setting": setting_name(key), "sparsity": level,
            "seeds": len(group),
            "test_accuracy": means["test_accuracy"],
            "activity_sparsity": means["activity_sparsity"],
            "influence_sparsity": float(1 - np.mean([np.mean(r.influence_density)
                                                     for r in group])),
            "multiply_adds_vs_dense": float(np.mean([np.sum(r.multiply_adds)
                                                     / np.sum(r.multiply_adds_dense)
                                                     for r in group])),
            "multiply_adds_vs_unpruned_dense": means["multiply_adds"] / _unpruned_dense(
                [r for r in runs if setting(r) == key]),
            "final_loss": float(np.mean([np.mean(r.loss[-200:]) for r in group])),
        })
    return table


def _unpruned_dense(runs):
    """Multiply-adds per sequence of dense RTRL on the unpruned network (NaN: not run; the
    table asks per setting: an event variable adds rows)."""
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
        lines.append(f"| {row['sparsity']:.1f} | {row['setting']}"
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
    names = list(dict.fromkeys(row["setting"] for row in table if row["activity_sparse"]))
    for ax, key, title in zip(axes, ("activity_sparsity", "influence_sparsity",
                                     "multiply_adds_vs_unpruned_dense"),
                              ("activity sparsity", "influence-matrix sparsity",
                               "multiply-adds / unpruned dense RTRL")):
        for name in names:  # one line per setting
            rows = [row for row in table if row["setting"] == name]
            ax.plot([row["sparsity"] for row in rows], [row[key] for row in rows], "o-",
                    label=name if len(names) > 1 else None)
        control = [row[key] for row in table if not row["activity_sparse"]]
        if control:
            ax.axhline(control[0], color="k", linestyle="--", label="no activity sparsity")
        ax.set_xlabel("recurrent parameter sparsity")
        ax.set_title(title)
        ax.spines[["top", "right"]].set_visible(False)
    if len(names) > 1 or any(not row["activity_sparse"] for row in table):
        axes[0].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "spiral_sparsity.png", dpi=120)
    plt.close("all")


def plot_settings(runs, out):
    """
    ``spiral_settings.png``: held-out accuracy against multiply-adds (one point per
    run), activity sparsity and influence-matrix density over training (means over
    seeds, moving averages of 50 sequences), one colour per setting, one line style
    per parameter sparsity.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = sorted({setting(run) for run in runs}, key=lambda key: (not key[0], key[1:]))
    levels = sorted({run.sparsity for run in runs})
    colours = {key: ("k" if not key[0] else plt.cm.tab10(k % 10))
               for k, key in enumerate(settings)}
    styles = {level: style for level, style in zip(levels, ("-", "--", ":", "-."))}
    markers = {level: marker for level, marker in zip(levels, "osD^v<>p*h")}
    fig, (accuracy, activity, density) = plt.subplots(1, 3, figsize=(13, 3.8))
    for run in runs:
        accuracy.scatter(np.mean(run.multiply_adds), run.test_score,
                         color=colours[setting(run)], marker=markers[run.sparsity], alpha=0.7)
    for key in settings:
        for level in levels:
            group = [run for run in runs if setting(run) == key and run.sparsity == level]
            if not group:
                continue
            label = f"{setting_name(key)}, sparsity {level:g}"
            for ax, values in ((activity, [1 - np.asarray(r.active_fraction) for r in group]),
                               (density, [np.asarray(r.influence_density) for r in group])):
                mean = np.mean([v[:min(map(len, values))] for v in values], axis=0)
                width = min(50, len(mean))
                smooth = np.convolve(mean, np.ones(width) / width, mode="valid")
                ax.plot(np.arange(len(smooth)) + width, smooth, color=colours[key],
                        linestyle=styles.get(level, "-"), label=label)
    for level in levels:  # the markers' key
        accuracy.scatter([], [], color="grey", marker=markers[level], label=f"sparsity {level:g}")
    accuracy.legend(frameon=False, fontsize=7)
    accuracy.set_xscale("log")
    accuracy.set_xlabel("multiply-adds per training sequence")
    accuracy.set_ylabel("held-out accuracy")
    activity.set_ylabel("activity sparsity")
    density.set_ylabel("influence-matrix density")
    for ax in (activity, density):
        ax.set_xlabel("training sequences")
    for ax in (accuracy, activity, density):
        ax.spines[["top", "right"]].set_visible(False)
    density.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(out / "spiral_settings.png", dpi=120)
    plt.close(fig)


def cost_by_size(runs):
    """
    Rows of the cost curve: per model, setting and parameter sparsity, for each
    network size, the mean multiply-adds per training sequence (sparse engine and
    dense RTRL of the same network), activity sparsity and held-out accuracy.
    """
    return [{"model": model, "setting": setting_name(key), "sparsity": level, "units": units,
             "runs": len(group), **_means(group),
             "multiply_adds_dense": float(np.mean([np.mean(r.multiply_adds_dense)
                                                   for r in group]))}
            for (model, key, level, units), group in _grouped(
                runs, lambda r: (r.model, setting(r), r.sparsity, r.units),
                lambda k: (k[0], *_setting_order(k[1]), k[2], k[3]))]


def plot_cost_curve(runs, out):
    """``spiral_cost.md`` (every model, setting, parameter sparsity and size) and
    ``spiral_cost.png`` (multiply-adds per sequence against the number of units, one line
    per model, setting and parameter sparsity run at several sizes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cost_by_size(runs)
    lines = ["| model | activity sparsity on | recurrent sparsity | units | runs | multiply-adds "
             "per sequence | dense RTRL, same network | ratio | mean activity sparsity | "
             "test accuracy |", "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['setting']} | {r['sparsity']:.1f} | {r['units']} | "
              f"{r['runs']} | {r['multiply_adds']:.3g} | {r['multiply_adds_dense']:.3g} | "
              f"{r['multiply_adds'] / r['multiply_adds_dense']:.3f} | "
              f"{r['activity_sparsity']:.1%} | {r['test_accuracy']:.1%} |" for r in rows]
    (out / "spiral_cost.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    curves = {}
    for r in rows:
        curves.setdefault((r["model"], r["setting"], r["sparsity"]), []).append(r)
    spanning = {key: points for key, points in curves.items() if len(points) > 1}
    curves = spanning or curves  # the lines across sizes (points where there are none)
    kinds = list(dict.fromkeys(key[:2] for key in curves))  # a colour per model and setting
    styles = dict(zip(sorted({key[2] for key in curves}), ("-", "--", ":", "-.")))
    for (model, name, level), points in curves.items():
        ax.plot([p["units"] for p in points], [p["multiply_adds"] for p in points], "o",
                linestyle=styles[level], color=plt.cm.tab10(kinds.index((model, name)) % 10),
                label=f"{model}, activity sparsity {name}, sparsity {level:g}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("recurrent units")
    ax.set_ylabel("multiply-adds per training sequence")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(out / "spiral_cost.png", dpi=120)
    plt.close(fig)


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
    parser.add_argument("--activity-weight", type=float, default=0.0,
                        help="egru: weight of the activity regulariser on events (default 0: "
                             "none)")
    parser.add_argument("--thresholds", choices=["constant", "beta"], default="constant",
                        help="egru: initial thresholds all THETA, or drawn from a Beta "
                             "distribution of mean THETA (the EGRU papers')")
    parser.add_argument("--theta", type=float, default=0.2,
                        help="egru, sparse_rnn: initial threshold (mean, for beta)")
    parser.add_argument("--surrogate-width", type=float, default=None,
                        help="the surrogate's width (default: the model's; narrower: fewer "
                             "units in its support)")
    parser.add_argument("--compare", nargs="*", default=[],
                        help="folders of other studies whose runs at the same units join "
                             "the table and figures (e.g. the runs without the regulariser)")
    parser.add_argument("--cost-curve", nargs="+", default=None, metavar="FOLDER",
                        help="write OUT/spiral_cost.md and .png, the cost against the number "
                             "of units, from the runs recorded in these folders (no training)")
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
    if args.cost_curve:
        out.mkdir(parents=True, exist_ok=True)
        plot_cost_curve([run for folder in args.cost_curve
                         for run in load_runs(pathlib.Path(folder))], out)
        print((out / "spiral_cost.md").read_text())
        return
    if not args.replot:
        result = sweep(study(args), scheduler=args.scheduler, workers=args.workers)
        for name, record in ((name, result.records[name]) for name in result.ran):
            print(f"{name}: test accuracy {record['test_score']:.1%} in "
                  f"{record['seconds']:.0f} s", flush=True)
        if result.failed:
            raise RuntimeError(f"runs failed: {result.failed}")
    runs = load_runs(out)
    for folder in args.compare:
        runs += [run for run in load_runs(pathlib.Path(folder))
                 if run.units == args.units and run.model == args.model
                 and run.sparsity in args.levels and len(run.loss) == len(runs[0].loss)]
    report(runs, out)


def study(args):
    """The study's runs (seed by seed, so that an interrupted study has every level for
    its first seeds; the control after the first seed's levels)."""
    configurations = [(level, seed, True) for seed in args.seeds for level in args.levels]
    if args.model in ("egru", "sparse_rnn") and not args.no_control:
        configurations.insert(len(args.levels), (0.0, args.seeds[0], False))
    runs = {}
    for level, seed, activity_sparse in configurations:
        sparse = {} if not activity_sparse else dict(
            theta=args.theta, activity_weight=args.activity_weight, thresholds=args.thresholds,
            surrogate_width=args.surrogate_width)
        runs[run_name(args.model, args.units, level, seed, activity_sparse, **sparse)] = dict(
            model=args.model, units=args.units, sparsity=level, seed=seed,
            sequences=args.sequences, activity_sparse=activity_sparse,
            test_sequences=args.test_sequences, **sparse)
    return Study("rtrl_brian.apps.experiments:train_spiral", runs, args.out)


def run_name(model, units, sparsity, seed, activity_sparse, theta=0.2, activity_weight=0.0,
             thresholds="constant", surrogate_width=None):
    """File name (without suffix) of one run's records (settings other than the
    defaults named)."""
    settings = ((f"_theta{theta:g}" if theta != 0.2 else "")
                + (f"_activity{activity_weight:g}" if activity_weight else "")
                + ("_beta" if thresholds == "beta" else "")
                + (f"_width{surrogate_width:g}" if surrogate_width is not None else ""))
    return (f"{model}{units}_sparsity{sparsity:.2f}_seed{seed}{settings}"
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
    if len({setting(run) for run in runs}) > 1:
        plot_settings(runs, out)
    print((out / "spiral_study.md").read_text())


if __name__ == "__main__":
    main()
