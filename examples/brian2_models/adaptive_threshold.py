"""
Adaptive threshold: integrate-and-fire neurons whose threshold ``vt`` rises by 3 mV at
every spike and relaxes to 10 mV, driven by a Poisson group, as in Brian2's
documentation; here 20 neurons (the original has one), the input weights learned
(``w : volt``; the original adds ``3*mV``).

Usage::

    python examples/brian2_models/adaptive_threshold.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import Hz, NeuronGroup, PoissonGroup, Synapses, defaultclock, mV, ms

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402


def build(n=20, smooth=False, seed=0):
    """The neurons, their readout and what is learned; ``smooth``: thresholds out of
    reach (for finite-difference checks)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    eqs = """
    dv/dt = -v/(10*ms) : volt
    dvt/dt = (10*mV-vt)/(15*ms) : volt
    """
    reset = """
    v = 0*mV
    vt += 3*mV
    """
    IF = NeuronGroup(n, model=eqs, reset=reset, threshold="v>vt", method="exact", name="IF")
    IF.vt = 10 * mV if not smooth else 1000 * mV
    PG = PoissonGroup(n, 500 * Hz, name="PG")
    C = Synapses(PG, IF, "w : volt", on_pre="v += w", name="C")
    C.connect(i=np.arange(n), j=np.arange(n))
    C.w = 3 * mV
    steps = 500
    inputs, to_IF = pattern_input(IF, "v += w_in", lambda k: rng.uniform(0, 2, k) * mV,
                                  "volt", steps)
    out, to_out = readout(IF)
    return Model([IF, PG, C, inputs, to_IF, out, to_out], [C.w, to_IF.w_in, to_out.w_out],
                 out.y, steps, rates={C.w: 0.02 * mV, to_IF.w_in: 0.02 * mV},
                 bounds={C.w: (0 * mV, None)},
                 surrogate=rb.surrogates.Triangle(width=2 * mV, gain=0.3 / (2 * mV)),
                 state=IF.v)


if __name__ == "__main__":
    main("adaptive_threshold", build)
