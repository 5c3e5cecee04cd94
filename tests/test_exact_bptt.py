"""
RTRL against hand-written numpy BPTT, derived on paper for each model.

Every network: input spikes -> recurrent group (``v_post += w``) -> itself ->
leaky linear readout (``y_post += w``), MSE loss on ``y`` at the end of every
step. The references below share nothing with the compiler: each model's
forward step and its backward step are written out by hand.
"""

import numpy as np
import pytest
from brian2 import NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, ms, run

import rtrl_brian as rb
from rtrl_brian import models
from helpers import (dense_weights, input_raster, relative_error, synapse_gradient,
                     weighted_synapses)

DT = 1e-3
TAU_OUT = 10e-3
WIDTH, GAIN = 0.6, 0.4
N_IN, N_REC, N_OUT, STEPS = 6, 12, 2, 60


def psi(x):
    return GAIN * np.maximum(0.0, 1.0 - np.abs(x) / WIDTH)


class LIF:
    """v <- v*alpha; z = H(v - 1); v -= z."""

    equations = "dv/dt = -v / (20*ms) : 1"
    threshold, reset, method = "v > 1", "v -= 1", "exact"
    neuron_params = ()
    refractory_steps = 0

    def __init__(self, group):
        self.alpha = np.exp(-DT / 20e-3)

    def initial(self, n):
        return {"v": np.zeros(n)}

    def decay(self, s):
        return {"v": s["v"] * self.alpha}

    def decay_back(self, s, a):
        return {"v": self.alpha * a["v"]}, {}

    def x(self, s):
        return s["v"] - 1.0

    def x_back(self, s, a_x):
        return {"v": a_x}, {}

    def reset_fn(self, s, z):
        return {"v": s["v"] - z}

    def reset_back(self, s, z, a, detach):
        """Adjoints of the state before the reset, and of z."""
        return {"v": a["v"].copy()}, (0.0 if detach else -a["v"]), {}


class RefractoryLIF(LIF):
    """
    ``rtrl_brian.models.lif`` with 2 ms refractoriness, reset to zero.

    Brian2 semantics written out: a neuron that spiked at step k is refractory
    at steps k+1 (its state is held), and synaptic input to a refractory
    neuron is dropped, including input arriving in the step it spikes.
    """

    refractory_steps = 2

    @staticmethod
    def make(n):
        return models.lif(n, tau=20 * ms, threshold=1.0, reset="zero", refractory=2 * ms)

    def reset_fn(self, s, z):
        return {"v": s["v"] * (1 - z)}

    def reset_back(self, s, z, a, detach):
        return {"v": a["v"] * (1 - z)}, (0.0 if detach else -s["v"] * a["v"]), {}


class NonlinearThreshold:
    """Euler: v <- v + dt/tau*(-v + 0.5*tanh(v) + b); z = H(v - v_th); v = 0 on spikes."""

    equations = """dv/dt = (-v + 0.5*tanh(v) + b) / (10*ms) : 1
                   b : 1 (constant)
                   v_th : 1 (constant)"""
    threshold, reset, method = "v > v_th", "v = 0", "euler"
    neuron_params = ("v_th",)
    refractory_steps = 0

    def __init__(self, group):
        self.b = np.array(group.b[:])
        self.v_th = np.array(group.v_th[:])
        self.k = DT / 10e-3

    def initial(self, n):
        return {"v": np.zeros(n)}

    def decay(self, s):
        v = s["v"]
        return {"v": v + self.k * (-v + 0.5 * np.tanh(v) + self.b)}

    def decay_back(self, s, a):
        v = s["v"]
        return {"v": a["v"] * (1 + self.k * (-1 + 0.5 * (1 - np.tanh(v) ** 2)))}, {}

    def x(self, s):
        return s["v"] - self.v_th

    def x_back(self, s, a_x):
        return {"v": a_x}, {"v_th": -a_x}

    def reset_fn(self, s, z):
        return {"v": s["v"] * (1 - z)}

    def reset_back(self, s, z, a, detach):
        return {"v": a["v"] * (1 - z)}, (0.0 if detach else -s["v"] * a["v"]), {}


class AdaptiveThreshold:
    """ALIF-like: x = v - 1 - beta*a; reset 'a += 1' then 'v -= 1 + beta*a' (new a)."""

    beta = 0.3
    equations = """dv/dt = -v / (20*ms) : 1
                   da/dt = -a / (50*ms) : 1"""
    threshold, reset, method = "v > 1 + 0.3*a", "a += 1\nv -= 1 + 0.3*a", "exact"
    neuron_params = ()
    refractory_steps = 0

    def __init__(self, group):
        self.alpha_v = np.exp(-DT / 20e-3)
        self.alpha_a = np.exp(-DT / 50e-3)

    def initial(self, n):
        return {"v": np.zeros(n), "a": np.zeros(n)}

    def decay(self, s):
        return {"v": s["v"] * self.alpha_v, "a": s["a"] * self.alpha_a}

    def decay_back(self, s, a):
        return {"v": self.alpha_v * a["v"], "a": self.alpha_a * a["a"]}, {}

    def x(self, s):
        return s["v"] - 1.0 - self.beta * s["a"]

    def x_back(self, s, a_x):
        return {"v": a_x, "a": -self.beta * a_x}, {}

    def reset_fn(self, s, z):
        return {"v": s["v"] - z * (1 + self.beta * (s["a"] + 1)), "a": s["a"] + z}

    def reset_back(self, s, z, a, detach):
        a_before = {"v": a["v"].copy(), "a": a["a"] - z * self.beta * a["v"]}
        a_z = 0.0 if detach else (-(1 + self.beta * (s["a"] + 1)) * a["v"] + a["a"])
        return a_before, a_z, {}


class ALIF(AdaptiveThreshold):
    """
    ``rtrl_brian.models.alif`` with a learned base threshold: x = v - v_th - beta*a;
    reset 'v -= v_th' then 'a += 1'.
    """

    neuron_params = ("v_th",)

    @staticmethod
    def make(n):
        group = models.alif(n, tau=20 * ms, tau_a=50 * ms, beta=AdaptiveThreshold.beta)
        group.v_th = np.linspace(0.8, 1.2, n)
        return group

    def __init__(self, group):
        super().__init__(group)
        self.v_th = np.array(group.v_th[:])

    def x(self, s):
        return s["v"] - self.v_th - self.beta * s["a"]

    def x_back(self, s, a_x):
        return {"v": a_x, "a": -self.beta * a_x}, {"v_th": -a_x}

    def reset_fn(self, s, z):
        return {"v": s["v"] - z * self.v_th, "a": s["a"] + z}

    def reset_back(self, s, z, a, detach):
        a_z = 0.0 if detach else (-self.v_th * a["v"] + a["a"])
        return {"v": a["v"].copy(), "a": a["a"].copy()}, a_z, {"v_th": -z * a["v"]}


def mse_derivative(y, target, step):
    return y - target


def hand_bptt(model, raster, w_in, w_rec, w_out, target, detach, psi=psi,
              dloss=mse_derivative):
    """Forward then backward through the hand-written step, the spike's derivative
    replaced by ``psi``, the loss's derivative by the output ``dloss(y, target, step)``;
    returns gradients."""
    n = w_rec.shape[0]
    alpha_out = np.exp(-DT / TAU_OUT)
    s, y = model.initial(n), np.zeros(w_out.shape[1])
    last_spike = np.full(n, -10 ** 6)
    tape = []
    for t in range(len(raster)):
        free = (t - last_spike >= model.refractory_steps).astype(float)
        decayed = model.decay(s)
        s_dec = {var: np.where(free > 0, decayed[var], s[var]) for var in s}
        y_dec = y * alpha_out
        z = ((model.x(s_dec) > 0) & (free > 0)).astype(float)
        last_spike[z > 0] = t
        # Brian2 drops input to refractory neurons, and a spike makes one refractory at once
        receives = free * (1 - z) if model.refractory_steps else free
        s_syn = dict(s_dec)
        s_syn["v"] = s_dec["v"] + receives * (raster[t] @ w_in + z @ w_rec)
        y = y_dec + z @ w_out
        s_new = model.reset_fn(s_syn, z)
        tape.append((s, s_dec, z, s_syn, y.copy(), free, receives))
        s = s_new
    g_in, g_rec, g_out = np.zeros_like(w_in), np.zeros_like(w_rec), np.zeros_like(w_out)
    g_neuron = {name: np.zeros(n) for name in model.neuron_params}
    a = {var: np.zeros(n) for var in s}
    a_y = np.zeros(w_out.shape[1])
    spikes = 0
    for t in reversed(range(len(raster))):
        s_prev, s_dec, z, s_syn, y_t, free, receives = tape[t]
        spikes += z.sum()
        a_y = a_y + dloss(y_t, target[t], t)
        a_syn, a_z, param_reset = model.reset_back(s_syn, z, a, detach)
        for name, value in param_reset.items():
            g_neuron[name] += value
        a_input = receives * a_syn["v"]
        g_in += np.outer(raster[t], a_input)
        g_rec += np.outer(z, a_input)
        g_out += np.outer(z, a_y)
        a_z = a_z + w_rec @ a_input + w_out @ a_y
        a_x = a_z * psi(model.x(s_dec)) * free
        a_dec = dict(a_syn)
        from_x, param_x = model.x_back(s_dec, a_x)
        for var, value in from_x.items():
            a_dec[var] = a_dec[var] + value
        for name, value in param_x.items():
            g_neuron[name] += value
        a_through, _ = model.decay_back(s_prev, a_dec)
        a = {var: np.where(free > 0, a_through[var], a_dec[var]) for var in a_dec}
        a_y = alpha_out * a_y
    return g_in, g_rec, g_out, g_neuron, spikes


def build(model_cls, seed):
    rng = np.random.default_rng(seed)
    raster, neuron, step = input_raster(rng, N_IN, STEPS, 0.15)
    inp = SpikeGeneratorGroup(N_IN, neuron, step * ms)
    if hasattr(model_cls, "make"):  # a model of rtrl_brian.models
        rec = model_cls.make(N_REC)
    else:
        rec = NeuronGroup(N_REC, model_cls.equations, threshold=model_cls.threshold,
                          reset=model_cls.reset, method=model_cls.method,
                          refractory=model_cls.refractory_steps * ms
                          if model_cls.refractory_steps else False)
    if "b : 1" in model_cls.equations:
        rec.b = rng.uniform(0.0, 0.4, N_REC)
        rec.v_th = rng.uniform(0.8, 1.2, N_REC)
    out = NeuronGroup(N_OUT, "dy/dt = -y / (10*ms) : 1", method="exact")
    s_in = weighted_synapses(inp, rec, "v_post += w", lambda k: rng.uniform(0.2, 0.9, k), p=0.8)
    s_rec = weighted_synapses(rec, rec, "v_post += w", lambda k: rng.normal(0.0, 0.4, k),
                              condition="i != j", p=0.5)
    s_out = weighted_synapses(rec, out, "y_post += w", lambda k: rng.normal(0.0, 0.5, k))
    target = rng.normal(0.0, 0.5, (STEPS, N_OUT))
    return raster, inp, rec, out, s_in, s_rec, s_out, target


@pytest.mark.codegen_independent
@pytest.mark.parametrize("detach", [False, True], ids=["reset-differentiated", "reset-detached"])
@pytest.mark.parametrize("model_cls", [LIF, RefractoryLIF, NonlinearThreshold, AdaptiveThreshold,
                                       ALIF],
                         ids=["lif", "refractory-lif-model", "nonlinear-euler-threshold",
                              "adaptive-threshold", "alif-model"])
def test_rtrl_equals_hand_written_bptt(model_cls, detach):
    raster, inp, rec, out, s_in, s_rec, s_out, target = build(model_cls, seed=3)
    model = model_cls(rec)
    w_in = dense_weights(s_in, N_IN, N_REC)
    w_rec = dense_weights(s_rec, N_REC, N_REC)
    w_out = dense_weights(s_out, N_REC, N_OUT)
    params = [s_in.w, s_rec.w, s_out.w] + [getattr(rec, p) for p in model.neuron_params]
    learner = rb.RTRL(params, rb.losses.MSE(out.y, target), detach_reset=detach,
                      surrogate=rb.surrogates.Triangle(WIDTH, GAIN), engine="dense")
    spikes = SpikeMonitor(rec)
    run(STEPS * ms)

    g_in, g_rec, g_out, g_neuron, n_spikes = hand_bptt(model, raster, w_in, w_rec, w_out,
                                                       target, detach)
    assert spikes.num_spikes == n_spikes > 10  # same trajectory, and not a silent one
    assert np.mean(learner.history["active_fraction"]) > 0.05
    errors = {
        "w_in": relative_error(learner.gradient(s_in.w), synapse_gradient(g_in, s_in)),
        "w_rec": relative_error(learner.gradient(s_rec.w), synapse_gradient(g_rec, s_rec)),
        "w_out": relative_error(learner.gradient(s_out.w), synapse_gradient(g_out, s_out)),
    }
    for name in model.neuron_params:
        errors[name] = relative_error(learner.gradient(getattr(rec, name)), g_neuron[name])
    assert max(errors.values()) < 1e-9, errors
    assert np.abs(learner.gradient(s_rec.w)).max() > 0
