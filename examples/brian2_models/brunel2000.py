"""
Brunel (2000): sparsely connected excitatory and inhibitory integrate-and-fire neurons
with external Poisson drive (``PoissonInput``), as in Brian2's documentation
(``g = 5``, ``eta = 2``: the synchronous regular regime), reduced from 12,500 to 50
neurons (each with 10 % of the others as inputs, weights scaled up; the external
drive keeps its 1,000 Poisson inputs per neuron).

The ``PoissonInput``'s realised increments are read back from Brian2 and held fixed
(pathwise, see docs/supported.md); the synaptic delay of 1.5 ms is kept (the spikes on
their way are state of the learner). The recurrent weights are learned (``w : volt``),
excitatory ones kept non-negative, inhibitory ones non-positive.

Usage::

    python examples/brian2_models/brunel2000.py --out docs/gallery/brian2_models
"""

import pathlib
import sys

import numpy as np
from brian2 import NeuronGroup, PoissonInput, Synapses, defaultclock, mV, ms

import rtrl_brian as rb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fitting import Model, main, pattern_input, readout  # noqa: E402


def build(n=50, smooth=False, seed=0):
    """The network, its readout and what is learned; ``smooth``: thresholds out of
    reach (for finite-difference checks, with the same random numbers every run)."""
    defaultclock.dt = 0.1 * ms
    rng = np.random.default_rng(seed)
    N_E = int(0.8 * n)
    J, g, eta, tau, C_E = 0.1 * mV, 5, 2, 20 * ms, 1000
    theta, V_r, tau_rp = 20 * mV, 10 * mV, 2 * ms
    nu_thr = theta / (J * C_E * tau)
    namespace = dict(tau=tau, theta=theta if not smooth else 1000 * mV, V_r=V_r)
    group = NeuronGroup(n, "dv/dt = -v/tau : volt (unless refractory)",
                        threshold="v > theta", reset="v = V_r", refractory=tau_rp,
                        method="exact", name="group", namespace=namespace)
    excitatory_neurons, inhibitory_neurons = group[:N_E], group[N_E:]
    scale = C_E / (0.1 * n)  # fewer recurrent inputs: stronger weights
    D = 1.5 * ms
    excitatory_synapses = Synapses(excitatory_neurons, group, "w : volt", on_pre="v += w",
                                   delay=D, name="excitatory_synapses")
    inhibitory_synapses = Synapses(inhibitory_neurons, group, "w : volt", on_pre="v += w",
                                   delay=D, name="inhibitory_synapses")
    for synapses, size, weight in ((excitatory_synapses, N_E, J * scale / 10),
                                   (inhibitory_synapses, n - N_E, -g * J * scale / 10)):
        pre, post = np.nonzero(rng.random((size, n)) < 0.1)
        synapses.connect(i=pre, j=post)
        synapses.w = weight
    external_poisson_input = PoissonInput(target=group, target_var="v", N=C_E,
                                          rate=eta * nu_thr, weight=J)
    steps = 500
    inputs, to_group = pattern_input(group, "v += w_in", lambda k: rng.uniform(0, 2, k) * mV,
                                     "volt", steps)
    out, to_out = readout(group)
    return Model([group, excitatory_synapses, inhibitory_synapses, external_poisson_input,
                  inputs, to_group, out, to_out],
                 [excitatory_synapses.w, inhibitory_synapses.w, to_group.w_in, to_out.w_out],
                 out.y, steps,
                 rates={excitatory_synapses.w: 0.01 * mV, inhibitory_synapses.w: 0.01 * mV,
                        to_group.w_in: 0.02 * mV},
                 bounds={excitatory_synapses.w: (0 * mV, None),
                         inhibitory_synapses.w: (None, 0 * mV)},
                 surrogate=rb.surrogates.Triangle(width=2 * mV, gain=0.3 / (2 * mV)),
                 state=group.v)


if __name__ == "__main__":
    main("brunel2000", build)
