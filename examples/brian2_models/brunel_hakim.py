"""
A noisy network: sparsely connected inhibitory integrate-and-fire neurons driven by
white noise (Brunel & Hakim 1999), as in Brian2's documentation, reduced from 5,000
to 50 neurons (each with 10 instead of 1,000 inputs, weights scaled up).

The noise term ``sigmaext*sqrt(tau)*xi`` is differentiated pathwise: the realised
samples are read back from Brian2 and held fixed, so the gradient is that of the run
Brian2 computed (see docs/supported.md). The synaptic delay of 2 ms is kept: the
spikes still on their way are state of the learner. The inhibitory weights are
learned (``w : volt``, kept non-positive).

Usage::

    python examples/brian2_models/brunel_hakim.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import NeuronGroup, Synapses, defaultclock, mV, ms

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402


def build(n=50, smooth=False, seed=0):
    """The network, its readout and what is learned; ``smooth``: thresholds out of
    reach (for finite-difference checks, with the same random numbers every run)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    namespace = dict(Vr=10 * mV, theta=20 * mV if not smooth else 1000 * mV, tau=20 * ms,
                     muext=25 * mV, sigmaext=1 * mV)
    eqs = """
    dV/dt = (-V+muext + sigmaext * sqrt(tau) * xi)/tau : volt
    """
    group = NeuronGroup(n, eqs, threshold="V>theta", reset="V=Vr", refractory=2 * ms,
                        method="euler", name="group", namespace=namespace)
    group.V = 10 * mV + rng.random(n) * 10 * mV
    conn = Synapses(group, group, "w : volt", on_pre="V += w", delay=2 * ms, name="conn")
    pre, post = np.nonzero(rng.random((n, n)) < 10 / n)
    conn.connect(i=pre, j=post)
    conn.w = -0.1 * mV * 100 / 10 * 0.2
    steps = 500
    inputs, to_group = pattern_input(group, "V += w_in", lambda k: rng.uniform(0, 2, k) * mV,
                                     "volt", steps)
    out, to_out = readout(group)
    return Model([group, conn, inputs, to_group, out, to_out],
                 [conn.w, to_group.w_in, to_out.w_out], out.y, steps,
                 rates={conn.w: 0.01 * mV, to_group.w_in: 0.02 * mV},
                 bounds={conn.w: (None, 0 * mV)},
                 surrogate=rb.surrogates.Triangle(width=2 * mV, gain=0.3 / (2 * mV)),
                 state=group.V)


if __name__ == "__main__":
    main("brunel_hakim", build)
