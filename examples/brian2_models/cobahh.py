"""
COBAHH: Hodgkin-Huxley neurons with exponential synaptic conductances (benchmark 3
of Brette et al. 2007, after Traub & Miles 1991), as in Brian2's documentation:
``exponential_euler`` integration, a threshold on the action potential and a
refractory period without reset, excitatory and inhibitory subgroups. Reduced from
4,000 to 40 neurons.

As written there, with the synaptic conductances as learned variables
(``w : siemens``; the original uses the constants ``we`` and ``wi``).

Usage::

    python examples/brian2_models/cobahh.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import (Equations, NeuronGroup, Synapses, cm, defaultclock, mV, ms, msiemens, nS,
                    siemens, ufarad, umetre)

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402


def build(n=40, smooth=False, seed=0):
    """The network, its readout and what is learned; ``smooth``: inputs too weak for
    action potentials (for finite-difference checks)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    area = 20000 * umetre ** 2
    namespace = dict(Cm=(1 * ufarad * cm ** -2) * area, gl=(5e-5 * siemens * cm ** -2) * area,
                     El=-60 * mV, EK=-90 * mV, ENa=50 * mV,
                     g_na=(100 * msiemens * cm ** -2) * area,
                     g_kd=(30 * msiemens * cm ** -2) * area, VT=-63 * mV, taue=5 * ms,
                     taui=10 * ms, Ee=0 * mV, Ei=-80 * mV)
    eqs = Equations("""
    dv/dt = (gl*(El-v)+ge*(Ee-v)+gi*(Ei-v)-
             g_na*(m*m*m)*h*(v-ENa)-
             g_kd*(n*n*n*n)*(v-EK))/Cm : volt
    dm/dt = alpha_m*(1-m)-beta_m*m : 1
    dn/dt = alpha_n*(1-n)-beta_n*n : 1
    dh/dt = alpha_h*(1-h)-beta_h*h : 1
    dge/dt = -ge*(1./taue) : siemens
    dgi/dt = -gi*(1./taui) : siemens
    alpha_m = 0.32*(mV**-1)*(13*mV-v+VT)/
             (exp((13*mV-v+VT)/(4*mV))-1.)/ms : Hz
    beta_m = 0.28*(mV**-1)*(v-VT-40*mV)/
            (exp((v-VT-40*mV)/(5*mV))-1)/ms : Hz
    alpha_h = 0.128*exp((17*mV-v+VT)/(18*mV))/ms : Hz
    beta_h = 4./(1+exp((40*mV-v+VT)/(5*mV)))/ms : Hz
    alpha_n = 0.032*(mV**-1)*(15*mV-v+VT)/
             (exp((15*mV-v+VT)/(5*mV))-1.)/ms : Hz
    beta_n = .5*exp((10*mV-v+VT)/(40*mV))/ms : Hz
    """)
    P = NeuronGroup(n, model=eqs, threshold="v>-20*mV", refractory=3 * ms,
                    method="exponential_euler", name="P", namespace=namespace)
    P.v = (-60 * mV + rng.standard_normal(n) * 5 * mV - 5 * mV) if not smooth else -80 * mV
    if smooth:  # gates near rest: no action potential from the initial transient
        P.m, P.n, P.h = 0.01, 0.3, 0.9
    P.ge = (rng.standard_normal(n) * 1.5 + 4) * 1 * nS * (0 if smooth else 1)
    P.gi = (rng.standard_normal(n) * 12 + 20) * 1 * nS * (3 if smooth else 1)
    n_e = int(0.8 * n)
    Pe, Pi = P[:n_e], P[n_e:]
    Ce = Synapses(Pe, P, "w : siemens", on_pre="ge+=w", name="Ce")
    Ci = Synapses(Pi, P, "w : siemens", on_pre="gi+=w", name="Ci")
    for synapses, size, weight in ((Ce, n_e, 6 * nS), (Ci, n - n_e, 67 * nS)):
        pre, post = np.nonzero(rng.random((size, n)) < 0.2)
        synapses.connect(i=pre, j=post)
        synapses.w = weight
    steps = 500
    scale = 0.2 if smooth else 40
    inputs, to_P = pattern_input(P, "ge += w_in", lambda k: rng.uniform(0, scale, k) * nS,
                                 "siemens", steps)
    out, to_out = readout(P)
    return Model([P, Ce, Ci, inputs, to_P, out, to_out],
                 [to_P.w_in, Ce.w, Ci.w, to_out.w_out], out.y, steps,
                 rates={to_P.w_in: 0.2 * nS, Ce.w: 0.05 * nS, Ci.w: 0.05 * nS},
                 bounds={to_P.w_in: (0 * nS, None), Ce.w: (0 * nS, None), Ci.w: (0 * nS, None)},
                 lr=1e-3,
                 surrogate=rb.surrogates.Triangle(width=10 * mV, gain=0.3 / (10 * mV)),
                 state=P.v)


if __name__ == "__main__":
    main("cobahh", build)
