"""
Synfire chain (Diesmann, Gewaltig & Aertsen 1999): groups of integrate-and-fire
neurons with an alpha-shaped synaptic current (``x``, ``y``) driven by white noise,
each group projecting onto the next, as in Brian2's documentation; 6 groups of 20
neurons instead of 10 of 100, a pulse packet of 30 spikes around 5 ms onto the first
group instead of 85 around 50 ms, repeated every trial (50 ms). Weights are scaled up by the same factors, so a
group passes the packet on as in the original. The chain's connections are learned:
Brian2's example adds the constant ``weight``, here each synapse has its own
``w : volt``.

The noise ``(39.24*mV/ms**0.5)*xi`` is differentiated pathwise (the realised samples
are held fixed, see docs/supported.md).

Usage::

    python examples/brian2_models/synfire.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import NeuronGroup, SpikeGeneratorGroup, Synapses, defaultclock, mV, ms

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402


def build(n_groups=6, group_size=20, smooth=False, seed=0):
    """The chain, its readout and what is learned; ``smooth``: thresholds out of reach
    (for finite-difference checks, with the same random numbers every run)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    namespace = dict(Vr=-70 * mV, Vt=(-55 if not smooth else 1000) * mV, taum=10 * ms,
                     taupsp=0.325 * ms)
    eqs = """
    dV/dt = (-(V-Vr)+x)*(1./taum) : volt
    dx/dt = (-x+y)*(1./taupsp) : volt
    dy/dt = -y*(1./taupsp)+25.27*mV/ms+
            (39.24*mV/ms**0.5)*xi : volt
    """
    P = NeuronGroup(n_groups * group_size, eqs, threshold="V>Vt", reset="V=Vr",
                    refractory=1 * ms, method="euler", name="P", namespace=namespace)
    P.V = -70 * mV + rng.random(len(P)) * 15 * mV
    steps = 500
    Pinput = SpikeGeneratorGroup(30, np.arange(30), rng.normal(5, 1, 30).clip(0.5) * ms,
                                 period=steps * defaultclock.dt, name="Pinput")  # every trial
    S = Synapses(P, P, "w : volt", on_pre="y += w", name="S")
    S.connect(j="k for k in range((int(i/group_size)+1)*group_size, "
                "(int(i/group_size)+2)*group_size) if i<N_pre-group_size",
              namespace={"group_size": group_size})
    S.w = 4.86 * mV * 100 / group_size  # as many volts per group as with 100 neurons
    Sinput = Synapses(Pinput, P[:group_size], "w : volt", on_pre="y += w", name="Sinput")
    Sinput.connect()
    Sinput.w = 4.86 * mV * 85 / 30
    inputs, to_P = pattern_input(P, "y += w_in", lambda k: rng.uniform(0, 2, k) * mV,
                                 "volt", steps)
    out, to_out = readout(P)
    return Model([P, Pinput, S, Sinput, inputs, to_P, out, to_out],
                 [S.w, to_P.w_in, to_out.w_out], out.y, steps,
                 rates={S.w: 0.05 * mV, to_P.w_in: 0.02 * mV},
                 bounds={S.w: (0 * mV, None)},
                 surrogate=rb.surrogates.Triangle(width=2 * mV, gain=0.3 / (2 * mV)),
                 state=P.V)


if __name__ == "__main__":
    main("synfire", build)
