"""
Gap junctions: neurons driven above threshold (``v0 = 1.05``) and coupled electrically
through a ``(summed)`` variable, ``Igap_post = w * (v_pre - v_post)``, as in Brian2's
documentation; 20 neurons instead of 10, the junction conductances learned
(``w : 1``, kept non-negative).

Usage::

    python examples/brian2_models/gap_junctions.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import NeuronGroup, Synapses, defaultclock, ms

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402


def build(n=20, smooth=False, seed=0):
    """The network, its readout and what is learned; ``smooth``: below threshold (for
    finite-difference checks)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    namespace = dict(v0=1.05 if not smooth else 0.5, tau=10 * ms)
    eqs = """
    dv/dt = (v0 - v + Igap) / tau : 1
    Igap : 1 # gap junction current
    """
    neurons = NeuronGroup(n, eqs, threshold="v > 1", reset="v = 0", method="exact",
                          name="neurons", namespace=namespace)
    neurons.v = np.arange(n) * 1.0 / (n - 1) * (0.5 if smooth else 1)
    S = Synapses(neurons, neurons, """
                 w : 1 # gap junction conductance
                 Igap_post = w * (v_pre - v_post) : 1 (summed)
                 """, name="S")
    pre, post = np.nonzero(~np.eye(n, dtype=bool))
    S.connect(i=pre, j=post)
    S.w = 0.02
    steps = 500
    inputs, to_neurons = pattern_input(neurons, "v += w_in",
                                       lambda k: rng.uniform(0, 0.02 if smooth else 0.2, k),
                                       "1", steps)
    out, to_out = readout(neurons)
    return Model([neurons, S, inputs, to_neurons, out, to_out],
                 [S.w, to_neurons.w_in, to_out.w_out], out.y, steps,
                 rates={S.w: 1e-4, to_neurons.w_in: 1e-3}, bounds={S.w: (0, None)}, lr=1e-3,
                 surrogate=rb.surrogates.Triangle(width=0.1, gain=0.3 / 0.1),
                 state=neurons.v)


if __name__ == "__main__":
    main("gap_junctions", build)
