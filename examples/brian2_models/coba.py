"""
COBA: conductance-based leaky integrate-and-fire network (Vogels & Abbott 2005), as
in Brian2's documentation and the benchmark of Brette et al. (2007): one population
split into excitatory and inhibitory subgroups ``Pe = P[:n_e]``, ``Pi = P[n_e:]``,
synapses from the subgroups onto the whole population, conductances relative to the
leak. Reduced from 4,000 to 50 neurons.

As written there, with the synaptic weights as learned variables (``w : 1``; the
original uses the constants ``we`` and ``wi``), kept non-negative while learning.

Usage::

    python examples/brian2_models/coba.py --out docs/gallery/brian2_models
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
    namespace = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV,
                     El=-60 * mV, Ee=0 * mV, Ei=-80 * mV)
    if smooth:
        namespace["Vt"] = 100 * mV
    eqs = """
    dv/dt  = (ge*(Ee-v)+gi*(Ei-v)-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : 1
    dgi/dt = -gi/taui : 1
    """
    P = NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms,
                    method="euler", name="P", namespace=namespace)
    P.v = -60 * mV + rng.random(n) * 10 * mV
    n_e = int(0.8 * n)
    Pe, Pi = P[:n_e], P[n_e:]
    Ce = Synapses(Pe, P, "w : 1", on_pre="ge += w", name="Ce")
    Ci = Synapses(Pi, P, "w : 1", on_pre="gi += w", name="Ci")
    for synapses, size, weight in ((Ce, n_e, 6 / 10 * 4), (Ci, n - n_e, 67 / 10 * 4)):
        pre, post = np.nonzero(rng.random((size, n)) < 0.2)
        synapses.connect(i=pre, j=post)
        synapses.w = weight
    steps = 500
    inputs, to_P = pattern_input(Pe, "ge += w_in", lambda k: rng.uniform(0, 0.5, k), "1",
                                 steps)
    out, to_out = readout(Pe)
    return Model([P, Ce, Ci, inputs, to_P, out, to_out],
                 [to_P.w_in, Ce.w, Ci.w, to_out.w_out], out.y, steps,
                 rates={to_P.w_in: 2e-3, Ce.w: 1e-3, Ci.w: 1e-3},
                 bounds={to_P.w_in: (0, None), Ce.w: (0, None), Ci.w: (0, None)},
                 surrogate=rb.surrogates.Triangle(width=2 * mV, gain=0.3 / (2 * mV)),
                 state=P.v)


if __name__ == "__main__":
    main("coba", build)
