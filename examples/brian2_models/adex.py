"""
AdEx: adaptive exponential integrate-and-fire neurons (Brette & Gerstner 2005), as in
Brian2's documentation (regular spiking parameters of the paper), here 20 of them
with the injected current ``I : amp`` learned per neuron. The neurons' adaptation
variable is called ``w``, as in the paper; the input synapses' weights are
``w_in``, so ``vm += w_in`` in ``on_pre`` reads the neuron's ``vm`` without suffix.

Usage::

    python examples/brian2_models/adex.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import NeuronGroup, defaultclock, mV, ms, nA, nS, pA, pF

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402


def build(n=20, smooth=False, seed=0):
    """The neurons, their readout and what is learned; ``smooth``: currents too weak
    to reach the cut-off (for finite-difference checks)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    C, gL = 281 * pF, 30 * nS
    EL, VT, DeltaT = -70.6 * mV, -50.4 * mV, 2 * mV
    tauw, a, b, Vr = 144 * ms, 4 * nS, 0.0805 * nA, -70.6 * mV  # regular spiking
    namespace = dict(C=C, gL=gL, EL=EL, VT=VT, DeltaT=DeltaT, Vcut=VT + 5 * DeltaT,
                     tauw=tauw, a=a, b=b, Vr=Vr)
    eqs = """
    dvm/dt = (gL*(EL - vm) + gL*DeltaT*exp((vm - VT)/DeltaT) + I - w)/C : volt
    dw/dt = (a*(vm - EL) - w)/tauw : amp
    I : amp
    """
    neuron = NeuronGroup(n, model=eqs, threshold="vm>Vcut", reset="vm=Vr; w+=b",
                         method="euler", name="neuron", namespace=namespace)
    neuron.vm = EL
    neuron.I = rng.uniform(0.2, 0.5, n) * nA if not smooth else rng.uniform(0, 0.1, n) * nA
    steps = 500
    inputs, to_neuron = pattern_input(neuron, "vm += w_in",
                                      lambda k: rng.uniform(0, 0.5 if smooth else 4, k) * mV,
                                      "volt", steps)
    out, to_out = readout(neuron)
    return Model([neuron, inputs, to_neuron, out, to_out],
                 [neuron.I, to_neuron.w_in, to_out.w_out], out.y, steps,
                 rates={neuron.I: 2 * pA, to_neuron.w_in: 0.02 * mV},
                 surrogate=rb.surrogates.Triangle(width=5 * mV, gain=0.3 / (5 * mV)),
                 state=neuron.vm, checked=neuron.I)


if __name__ == "__main__":
    main("adex", build)
