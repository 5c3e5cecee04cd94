"""
Izhikevich's simple model (Izhikevich 2003): 80 % regular-spiking excitatory and 20 %
inhibitory neurons with heterogeneous ``a, b, c, d``, quadratic membrane, reset
``v = c; u += d`` at 30 mV, random recurrent weights, as in the paper's network
(reduced from 1,000 to 40 neurons), with the recurrent weights learned
(``w : volt``).
The paper's thalamic noise input is replaced by the task's frozen input pattern.
(The polychronization model, Izhikevich 2006, adds synaptic delays of 1 to 20 ms per
synapse: rtrl_brian learns through those too, see brunel2000.py.)

Usage::

    python examples/brian2_models/izhikevich.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import NeuronGroup, Synapses, defaultclock, mV, ms

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402


def build(n=40, smooth=False, seed=0):
    """The network, its readout and what is learned; ``smooth``: inputs too weak to
    reach the spike cut-off (for finite-difference checks)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    n_e = int(0.8 * n)
    re, ri = rng.random(n_e), rng.random(n - n_e)
    eqs = """
    dv/dt = (0.04*v**2/mV + 5*v + 140*mV - u + I)/ms : volt
    du/dt = a*(b*v - u)/ms : volt
    a : 1
    b : 1
    c : volt
    d : volt
    I : volt
    """
    G = NeuronGroup(n, eqs, threshold="v >= 30*mV", reset="v = c; u += d", method="euler",
                    name="G")
    G.a = np.concatenate([0.02 * np.ones(n_e), 0.02 + 0.08 * ri])
    G.b = np.concatenate([0.2 * np.ones(n_e), 0.25 - 0.05 * ri])
    G.c = np.concatenate([-65 + 15 * re ** 2, -65 * np.ones(n - n_e)]) * mV
    G.d = np.concatenate([8 - 6 * re ** 2, 2 * np.ones(n - n_e)]) * mV
    G.v = -65 * mV
    G.u = G.b[:] * G.v[:]
    S = Synapses(G, G, "w : volt", on_pre="v += w", name="S")
    pre, post = np.nonzero(rng.random((n, n)) < 0.3)
    S.connect(i=pre, j=post)
    S.w = np.where(pre < n_e, 0.5 * rng.random(len(pre)), -rng.random(len(pre))) * mV * 4
    steps = 500
    inputs, to_G = pattern_input(G, "v += w_in",
                                 lambda k: rng.uniform(0, 0.5 if smooth else 10, k) * mV,
                                 "volt", steps)
    out, to_out = readout(G)
    return Model([G, S, inputs, to_G, out, to_out], [S.w, to_G.w_in, to_out.w_out], out.y,
                 steps, rates={S.w: 0.01 * mV, to_G.w_in: 0.01 * mV}, lr=1e-3,
                 bounds={to_G.w_in: (0 * mV, None)},
                 surrogate=rb.surrogates.Triangle(width=10 * mV, gain=0.3 / (10 * mV)),
                 state=G.v)


if __name__ == "__main__":
    main("izhikevich", build)
