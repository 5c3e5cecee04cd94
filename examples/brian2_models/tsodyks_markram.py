"""
Dynamic synapses (Tsodyks, Pawelzik & Markram 1998): each synapse has recovered,
active and inactive resources (``x``, ``y``, ``z = 1 - x - y``) and a facilitation
variable ``u``; a presynaptic spike moves ``u*x`` of the recovered resources to the
active state, whose current ``A_SE*y`` the synapses sum into the neuron. Written as
in Brian2's documentation (clock-driven synaptic equations, ``exponential_euler``,
``I_syn_post = A_SE*y : ampere (summed)``), onto 30 integrate-and-fire neurons with
a threshold (15 mV, reset to 13.5 mV, 3 ms refractory, as in the paper's network)
and recurrent dynamic synapses among them. Brian2 allows one summed variable per
target, so the neuron's ``I_syn`` is the sum of an input and a recurrent current.

The synaptic state ``x``, ``y``, ``u`` of every synapse has rows in the influence
matrix. The absolute synaptic strengths ``A_SE`` of the input and recurrent synapses
are learned (kept non-negative).

Usage::

    python examples/brian2_models/tsodyks_markram.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import Gohm, NeuronGroup, Synapses, defaultclock, mV, ms, pA

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402

#: The dynamic synapse with facilitation, as Brian2's documentation writes it, summed
#: into the neuron's current ``{current}``.
SYNAPSES = """
dx/dt =  z/tau_rec   : 1 (clock-driven) # recovered
dy/dt = -y/tau_inact : 1 (clock-driven) # active
du/dt = -u/tau_facil : 1 (clock-driven)
A_SE : ampere
U_SE : 1
tau_inact : second
tau_rec : second
tau_facil : second
z = 1 - x - y : 1 # inactive
{current}_post = A_SE*y : ampere (summed)
"""
ON_PRE = """
u += U_SE*(1-u)
y += u*x # important: update y first
x += -u*x
"""


def dynamic_synapses(synapses, A_SE):
    """Start fully recovered, with the paper's facilitating parameters."""
    synapses.x = 1
    synapses.A_SE = A_SE
    synapses.U_SE = 0.1
    synapses.tau_inact = 3 * ms
    synapses.tau_rec = 130 * ms
    synapses.tau_facil = 530 * ms


def build(n=30, smooth=False, seed=0):
    """The network, its readout and what is learned; ``smooth``: thresholds out of
    reach (for finite-difference checks)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    neurons = NeuronGroup(n, """
                          tau_mem : second
                          I_in : ampere
                          I_rec : ampere
                          R_in : ohm
                          I_syn = I_in + I_rec : ampere
                          dv/dt = -v/tau_mem + (R_in*I_syn)/tau_mem : volt (unless refractory)
                          """, threshold="v > v_th", reset="v = 13.5*mV", refractory=3 * ms,
                          method="exact", name="neurons",
                          namespace={"v_th": (15 if not smooth else 1000) * mV})
    neurons.tau_mem = 30 * ms
    neurons.R_in = 1 * Gohm
    neurons.v = rng.uniform(0, 14, n) * mV
    recurrent = Synapses(neurons, neurons, SYNAPSES.format(current="I_rec"), on_pre=ON_PRE, method="exponential_euler",
                         name="recurrent")
    pre, post = np.nonzero((rng.random((n, n)) < 0.2) & ~np.eye(n, dtype=bool))
    recurrent.connect(i=pre, j=post)
    dynamic_synapses(recurrent, rng.uniform(15, 45, len(pre)) * pA)
    steps = 500
    inputs, stimulus = pattern_input(neurons, ON_PRE, lambda k: rng.uniform(15, 45, k) * pA,
                                     "ampere", steps, model=SYNAPSES.format(current="I_in"), weight="A_SE",
                                     method="exponential_euler")
    dynamic_synapses(stimulus, stimulus.A_SE[:])
    out, to_out = readout(neurons)
    return Model([neurons, recurrent, inputs, stimulus, out, to_out],
                 [stimulus.A_SE, recurrent.A_SE, to_out.w_out], out.y, steps,
                 rates={stimulus.A_SE: 1 * pA, recurrent.A_SE: 1 * pA},
                 bounds={stimulus.A_SE: (0 * pA, None), recurrent.A_SE: (0 * pA, None)},
                 surrogate=rb.surrogates.Triangle(width=2 * mV, gain=0.3 / (2 * mV)),
                 state=neurons.v, checked=stimulus.A_SE)


if __name__ == "__main__":
    main("tsodyks_markram", build)
