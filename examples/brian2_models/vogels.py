"""
Inhibitory plasticity (Vogels, Sprekeler, Zenke, Clopath & Gerstner 2011): conductance-
based neurons driven above threshold by a background current, excitatory and
inhibitory populations as subgroups, and inhibitory synapses onto the excitatory
neurons whose strengths ``w`` follow a symmetric STDP rule with presynaptic and
postsynaptic traces (event-driven ``Apre``, ``Apost``; ``on_pre`` and ``on_post``), as
in Brian2's documentation; 24 neurons instead of 10,000, connection probability 0.5
instead of 0.02, excitatory and inhibitory weights scaled up by the ratio.

The plastic weights ``w`` are per-synapse state here (the plasticity rule owns them,
not the optimizer): with their traces they have rows in the influence matrix, and the
gradient follows the rule through ``clip``. The excitatory weights (Brian2's constant
``0.3*nS``, here ``w_e : siemens``) are learned, kept non-negative.

Usage::

    python examples/brian2_models/vogels.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import Hz, NeuronGroup, Synapses, defaultclock, mV, ms, nS, pA, pF

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402


def build(n=24, smooth=False, seed=0):
    """The network, its readout and what is learned; ``smooth``: thresholds out of
    reach (for finite-difference checks)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    tau_stdp = 20 * ms
    namespace = dict(tau_ampa=5 * ms, tau_gaba=10 * ms, gl=10 * nS, el=-60 * mV,
                     er=-80 * mV, vt=(-50 if not smooth else 1000) * mV, memc=200 * pF,
                     bgcurrent=200 * pA, tau_stdp=tau_stdp, eta=1e-2,
                     alpha=3 * Hz * tau_stdp * 2, gmax=100)
    eqs_neurons = """
    dv/dt=(-gl*(v-el)-(g_ampa*v+g_gaba*(v-er))+bgcurrent)/memc : volt (unless refractory)
    dg_ampa/dt = -g_ampa/tau_ampa : siemens
    dg_gaba/dt = -g_gaba/tau_gaba : siemens
    """
    neurons = NeuronGroup(n, eqs_neurons, threshold="v > vt", reset="v=el", refractory=5 * ms,
                          method="euler", name="neurons", namespace=namespace)
    neurons.v = -60 * mV + rng.random(n) * 10 * mV
    n_e = int(0.8 * n)
    Pe, Pi = neurons[:n_e], neurons[n_e:]
    scale = 0.02 / 0.5 * 10_000 / n  # fewer, stronger synapses
    con_e = Synapses(Pe, neurons, "w_e : siemens", on_pre="g_ampa += w_e", name="con_e",
                     namespace=namespace)
    pre, post = np.nonzero(rng.random((n_e, n)) < 0.5)
    con_e.connect(i=pre, j=post)
    con_e.w_e = 0.3 * nS * scale
    con_ii = Synapses(Pi, Pi, on_pre=f"g_gaba += {3 * scale}*nS", name="con_ii")
    pre, post = np.nonzero(rng.random((n - n_e, n - n_e)) < 0.5)
    con_ii.connect(i=pre, j=post)
    eqs_stdp_inhib = """
    w : 1
    dApre/dt=-Apre/tau_stdp : 1 (event-driven)
    dApost/dt=-Apost/tau_stdp : 1 (event-driven)
    """
    con_ie = Synapses(Pi, Pe, model=eqs_stdp_inhib,
                      on_pre="""Apre += 1.
                             w = clip(w+(Apost-alpha)*eta, 0, gmax)
                             g_gaba += w*nS""",
                      on_post="""Apost += 1.
                              w = clip(w+Apre*eta, 0, gmax)""",
                      name="con_ie", namespace=namespace)
    pre, post = np.nonzero(rng.random((n - n_e, n_e)) < 0.5)
    con_ie.connect(i=pre, j=post)
    con_ie.w = 1e-10
    steps = 500
    inputs, to_neurons = pattern_input(neurons, "g_ampa += w_in",
                                       lambda k: rng.uniform(0, 2, k) * nS, "siemens", steps)
    out, to_out = readout(neurons)
    return Model([neurons, con_e, con_ii, con_ie, inputs, to_neurons, out, to_out],
                 [con_e.w_e, to_neurons.w_in, to_out.w_out], out.y, steps,
                 rates={con_e.w_e: 0.05 * nS, to_neurons.w_in: 0.05 * nS},
                 bounds={con_e.w_e: (0 * nS, None), to_neurons.w_in: (0 * nS, None)},
                 surrogate=rb.surrogates.Triangle(width=2 * mV, gain=0.3 / (2 * mV)),
                 state=neurons.v)


if __name__ == "__main__":
    main("vogels", build)
