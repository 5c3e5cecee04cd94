"""
The sparse and the compiled engine on the model library, side by side.

Each built-in model (LIF, ALIF, EGRU, thresholded tanh) learns the spiral task
online (Adam, 50 % of the recurrent synapses pruned) for ``--sequences``
sequences of 17 steps, once per engine, on the cython target, one after the
other in one process. Reports the learner's time per step (replay, Jacobians,
influence matrix, optimizer: ``history['step_seconds']``), the engine's share
(``history['engine_seconds']``), the whole wall time per sequence (Brian2's
simulation included) and the largest relative difference between the two
engines' per-sequence losses. Writes ``engines_on_models.json`` and
``engines_on_models.md`` into ``--out``.

Usage::

    python benchmarks/engines_on_models.py --units 16 64 --sequences 40 --out /tmp/engines
"""

import argparse
import json
import pathlib
import time

import brian2 as b2
import numpy as np

from rtrl_brian.apps.tasks import Spiral
from rtrl_brian.apps.training import Training

MODELS = ("lif", "alif", "egru", "sparse_rnn")


def measure(model, units, engine, sequences):
    """One training run; its per-step costs and per-sequence losses."""
    training = Training(Spiral(seed=0), model, units, trials=sequences, test_trials=1,
                        sparsity=0.5, engine=engine, adaptive_fraction=0.5)
    started = time.perf_counter()
    run = training.run()
    seconds = time.perf_counter() - started
    history = training.learner.history
    return {"model": model, "units": units, "engine": engine,
            "learner_ms": 1e3 * float(np.mean(history["step_seconds"])),
            "engine_ms": 1e3 * float(np.mean(history["engine_seconds"])),
            "seconds_per_sequence": seconds / (sequences + 1), "loss": list(run.loss)}


def table(rows):
    lines = ["| model | units | engine | learner ms/step | engine ms/step | s per sequence "
             "| learner speed-up | loss difference |", "|---|---|---|---|---|---|---|---|"]
    for sparse, compiled in zip(rows[::2], rows[1::2]):
        difference = float(np.max(np.abs(np.subtract(compiled["loss"], sparse["loss"]))
                                  / np.abs(sparse["loss"])))
        for row in (sparse, compiled):
            lines.append(f"| {row['model']} | {row['units']} | {row['engine']} | "
                         f"{row['learner_ms']:.2f} | {row['engine_ms']:.3f} | "
                         f"{row['seconds_per_sequence']:.3f} | "
                         f"{sparse['learner_ms'] / row['learner_ms']:.1f}x | "
                         f"{difference if row is compiled else 0:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--sequences", type=int, default=40)
    parser.add_argument("--out", default="engines_on_models")
    args = parser.parse_args(argv)
    b2.prefs.codegen.target = "cython"
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for model in args.models:  # compile everything once, outside the measurements
        for engine in ("sparse", "compiled"):
            for units in args.units:
                measure(model, units, engine, 1)
    rows = []
    for units in args.units:
        for model in args.models:
            for engine in ("sparse", "compiled"):
                rows.append(measure(model, units, engine, args.sequences))
                print(f"{model} {units} {engine}: {rows[-1]['learner_ms']:.2f} ms per step",
                      flush=True)
    (out / "engines_on_models.json").write_text(json.dumps(rows, indent=1))
    (out / "engines_on_models.md").write_text(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
