"""
Files a training run leaves behind: per-trial metrics, a summary and the dashboard.
"""

import csv
import json
import pathlib
from dataclasses import asdict

import matplotlib.pyplot as plt
import numpy as np

from ..plot import dashboard
from .training import RECENT_TRIALS

__all__ = ["write_training_report"]

#: Per-trial columns of ``metrics.csv``.
COLUMNS = ("loss", "score", "active_fraction", "influence_density", "multiply_adds",
           "multiply_adds_dense")


def write_training_report(training, record, out, settings=None):
    """
    Write ``metrics.csv`` (one row per training trial), ``summary.json``
    (settings and results) and ``dashboard.png`` into ``out``.

    Parameters
    ----------
    training : Training
    record : TrainingRun
    out : str or Path
    settings : dict, optional
        What the run was asked for (stored in the summary).

    Returns
    -------
    paths : list of Path
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = out / "metrics.csv"
    with metrics.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(("trial",) + COLUMNS)
        for trial, row in enumerate(zip(*(getattr(record, key) for key in COLUMNS)), start=1):
            writer.writerow((trial,) + tuple(f"{value:.8g}" for value in row))
    summary = out / "summary.json"
    results = {key: value for key, value in asdict(record).items() if key not in COLUMNS}
    recent = min(RECENT_TRIALS, len(record.loss))
    results.update({f"final_{key}": float(np.mean(getattr(record, key)[-recent:]))
                    for key in ("loss", "score", "active_fraction")})
    results["final_trials"] = recent  # the final_* figures are means over these last trials
    results["multiply_adds_vs_dense"] = (float(np.sum(record.multiply_adds))
                                         / max(1.0, float(np.sum(record.multiply_adds_dense))))
    summary.write_text(json.dumps({"settings": settings or {}, "results": results}, indent=2,
                                  default=str))
    figure_path = out / "dashboard.png"
    task = training.task
    target = training.held_out[-1].target if training.held_out else None
    figure = dashboard(training.learner, training.spikes + [training.outputs], record=record,
                       target=target, weights_before=training.initial_recurrent,
                       influence_block=training.trained_influence,
                       window=task.steps * training.dt)
    figure.savefig(figure_path, dpi=110)
    plt.close(figure)
    return [metrics, summary, figure_path]
