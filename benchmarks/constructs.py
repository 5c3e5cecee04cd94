"""
What the everyday constructs cost per step, against the same network without them.

One recurrent LIF network (sparse engine, numpy target, gradients only) in variants
that differ by one construct each: the plain network; white noise ``xi`` in the
membrane equation; a ``PoissonInput`` onto it; the same population split into
excitatory and inhibitory subgroups (synapses from the subgroups); a
``run_regularly`` block on a subgroup; recurrent synaptic delays of 1 to 5 steps; gap
junctions (a ``(summed)`` variable) on 10 % of the pairs, learned; per-synapse state
on the recurrent synapses: Tsodyks-Markram short-term plasticity (event-driven ``u``,
``x``), or a clock-driven trace. The variants run in interleaved rounds in one
process (this machine is noisy), and the report gives the minimum and median of the
learner's time per step (``history['step_seconds']``) and the whole step (Brian2's
simulation included), the ratio to the plain network, and the memory of the
influence matrix.

Usage::

    python benchmarks/constructs.py --neurons 100 --steps 300 --rounds 5 --out /tmp/constructs
"""

import argparse
import json
import pathlib
import time

import brian2 as b2
import numpy as np

import rtrl_brian as rb

VARIANTS = ("plain", "white noise", "PoissonInput", "E/I subgroups", "run_regularly on subgroup",
            "delays 1-5 ms per synapse", "gap junctions (summed)",
            "short-term plasticity (event-driven)", "synaptic trace (clock-driven)")

#: Recurrent synapses with per-synapse state: equations, ``on_pre``, initial values.
SYNAPTIC_STATE = {
    "short-term plasticity (event-driven)": (
        """w : 1
        du/dt = (0.2 - u) / (50*ms) : 1 (event-driven)
        dx/dt = (1 - x) / (100*ms) : 1 (event-driven)""",
        "v += w * u * x\nx -= u * x\nu += 0.2 * (1 - u)", {"u": 0.2, "x": 1.0}),
    "synaptic trace (clock-driven)": (
        "w : 1\ndc/dt = -c / (20*ms) : 1 (clock-driven)", "v += w * (1 + c)\nc += 0.5", {}),
}


def build(variant, n, steps, seed=0):
    """The network of ``variant``; its objects and learner."""
    b2.start_scope()
    b2.defaultclock.dt = 1 * b2.ms
    rng = np.random.default_rng(seed)
    noise = " + 0.05*xi/sqrt(ms)" if variant == "white noise" else ""
    gap = variant == "gap junctions (summed)"
    eqs = f"dv/dt = ({'Igap ' if gap else ''}- v) / (20*ms){noise} : 1" + "\nIgap : 1" * gap
    rec = b2.NeuronGroup(n, eqs, threshold="v > 1", reset="v -= 1",
                         method="euler" if noise else "exact", name="rec")
    step, neuron = np.nonzero(rng.random((steps, 20)) < 0.05)
    inp = b2.SpikeGeneratorGroup(20, neuron, step * b2.ms, name="inp")
    objects = [rec, inp]
    sources = [rec[:int(0.8 * n)], rec[int(0.8 * n):]] if variant == "E/I subgroups" else [rec]
    params = []
    for k, source in enumerate([inp] + sources):
        model, on_pre, initial = SYNAPTIC_STATE.get(variant, ("w : 1", "v += w", {})) \
            if k else ("w : 1", "v += w", {})
        synapses = b2.Synapses(source, rec, model, on_pre=on_pre, name=f"s{k}")
        pre, post = np.nonzero(rng.random((source.N, n)) < (0.3 if k == 0 else 0.1))
        synapses.connect(i=pre, j=post)
        synapses.w = rng.normal(0.3 if k == 0 else 0.0, 0.2, len(pre))
        for name, value in initial.items():
            setattr(synapses, name, value)
        if k and variant == "delays 1-5 ms per synapse":
            synapses.delay = rng.integers(1, 6, len(pre)) * b2.ms
        objects.append(synapses)
        params.append(synapses.w)
    if gap:  # electrical coupling on 10 % of the pairs, every synapse every step
        junctions = b2.Synapses(rec, rec, "w : 1\nIgap_post = w * (v_pre - v_post) : 1 (summed)",
                                name="gap")
        pre, post = np.nonzero(rng.random((n, n)) < 0.1)
        junctions.connect(i=pre, j=post)
        junctions.w = rng.uniform(0, 0.05, len(pre))
        objects.append(junctions)
        params.append(junctions.w)
    if variant == "PoissonInput":
        objects.append(b2.PoissonInput(rec, "v", 10, 50 * b2.Hz, weight=0.05))
    if variant == "run_regularly on subgroup":
        rec[:n // 2].run_regularly("v *= 0.99", name="leak")
    out = b2.NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact", name="out")
    readout = b2.Synapses(rec, out, "w : 1", on_pre="y += w", name="readout")
    readout.connect()
    readout.w = rng.normal(0, 0.1, 2 * n)
    learner = rb.RTRL(params + [readout.w],
                      rb.losses.MSE(out.y, rng.normal(0, 0.3, (steps, 2))), namespace={})
    return [*objects, out, readout, learner], learner


def measure(variant, n, steps):
    """Seconds per step (the learner's and the whole step's) and bytes of the
    influence matrix."""
    objects, learner = build(variant, n, steps)
    network = b2.Network(*objects)
    network.run(2 * b2.ms)  # the first steps carry one-off costs
    started = time.perf_counter()
    network.run((steps - 2) * b2.ms)
    whole = (time.perf_counter() - started) / (steps - 2)
    return float(np.median(learner.history["step_seconds"][2:])), whole, learner.engine.nbytes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neurons", type=int, default=100, help="recurrent units (default "
                                                                 "%(default)s)")
    parser.add_argument("--steps", type=int, default=300, help="steps per measurement "
                                                               "(default %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default "
                                                              "%(default)s)")
    parser.add_argument("--out", default="constructs", help="folder for constructs.json and "
                                                            "constructs.md")
    args = parser.parse_args(argv)
    b2.prefs.codegen.target = "numpy"
    times = {variant: [] for variant in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            times[variant].append(measure(variant, args.neurons, args.steps))
    plain = np.median([learner for learner, _, _ in times["plain"]])
    rows = ["| construct | learner ms/step (min / median) | whole step ms (min / median) "
            "| learner vs plain | influence matrix MB |", "|---|---|---|---|---|"]
    for variant, values in times.items():
        learner, whole, nbytes = np.array(values).T
        learner, whole = learner * 1e3, whole * 1e3
        rows.append(f"| {variant} | {learner.min():.2f} / {np.median(learner):.2f} | "
                    f"{whole.min():.2f} / {np.median(whole):.2f} | "
                    f"{np.median(learner) / (plain * 1e3):.2f}x | {nbytes[0] / 1e6:.1f} |")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "constructs.json").write_text(json.dumps(
        {"neurons": args.neurons, "steps": args.steps, "rounds": args.rounds,
         "seconds": times}, indent=1))
    table = "\n".join(rows)
    (out / "constructs.md").write_text(table + "\n")
    print(table)
    return times


if __name__ == "__main__":
    main()
