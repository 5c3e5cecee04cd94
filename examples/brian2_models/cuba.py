"""
CUBA: current-based leaky integrate-and-fire network (Vogels & Abbott 2005), as in
Brian2's documentation and the benchmark of Brette et al. (2007), reduced from 4,000
to 50 neurons (weights scaled up so the small network stays active).

The model as written there, with the synaptic weights as learned variables
(``w : volt``; the original uses the constants ``we`` and ``wi``) and ``on_pre='ge += w'``
without a suffix, as Brian2's documentation writes it. The excitatory weights stay
positive and the inhibitory ones negative while learning (Dale's law, as bounds).

Usage::

    python examples/brian2_models/cuba.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import NeuronGroup, Synapses, defaultclock, mV, ms

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402


def build(n=50, smooth=False, seed=0):
    """The network, its readout and what is learned; ``smooth``: no unit reaches
    threshold (for finite-difference checks)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
    Vt, Vr, El = -50 * mV, -60 * mV, -49 * mV
    if smooth:
        Vt = 100 * mV
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms,
                    method="exact", name="P",
                    namespace=dict(taum=taum, taue=taue, taui=taui, Vt=Vt, Vr=Vr, El=El))
    P.v = Vr + rng.random(n) * (-50 * mV - Vr)
    n_e = int(0.8 * n)
    Ce = Synapses(P, P, "w : volt", on_pre="ge += w", name="Ce")
    Ci = Synapses(P, P, "w : volt", on_pre="gi += w", name="Ci")
    for synapses, sources, weight in ((Ce, np.arange(n_e), 60 * 0.27 / 10 * mV * 8),
                                      (Ci, np.arange(n_e, n), -20 * 4.5 / 10 * mV * 8)):
        pre, post = np.nonzero(rng.random((len(sources), n)) < 0.2)
        synapses.connect(i=sources[pre], j=post)
        synapses.w = weight
    steps = 500
    inputs, to_P = pattern_input(P, "ge += w_in", lambda k: rng.uniform(0, 4, k) * mV, "volt",
                                 steps)
    out, to_out = readout(P)
    return Model([P, Ce, Ci, inputs, to_P, out, to_out],
                 [to_P.w_in, Ce.w, Ci.w, to_out.w_out], out.y, steps,
                 rates={to_P.w_in: 0.01 * mV, Ce.w: 0.002 * mV, Ci.w: 0.002 * mV},
                 bounds={Ce.w: (0 * mV, None), Ci.w: (None, 0 * mV)},
                 surrogate=rb.surrogates.Triangle(width=2 * mV, gain=0.3 / (2 * mV)),
                 state=P.v)


if __name__ == "__main__":
    main("cuba", build)
