"""
The event-based models of rtrl_brian.models against hand-written numpy BPTT.

Each reference below writes out the model's step in the order Brian2 runs it
(``run_regularly`` at 'start', thresholds, synapses in name order, resets, loss
at the end) and its backward pass by hand; nothing is shared with the compiler.
"""

import numpy as np
import pytest
from brian2 import prefs, Network, ms

import rtrl_brian as rb
from rtrl_brian.models import (analog_input, egru, egru_synapses, leaky_readout, sparse_rnn,
                               sparse_rnn_synapses)
from helpers import relative_error, synapse_gradient, weighted_synapses

N_IN, N, N_OUT, STEPS = 3, 8, 2, 40
WIDTH, GAIN = 0.5, 0.7
ALPHA_OUT = np.exp(-1.0 / 20.0)


def psi(x):
    return GAIN * np.maximum(0.0, 1.0 - np.abs(x) / WIDTH)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def analog_inputs(rng):
    values = rng.normal(0.0, 1.0, (STEPS, N_IN))
    return analog_input(values, name="analog_in"), values


def weights(synapses, name, n_pre, n_post):
    matrix = np.zeros((n_pre, n_post))
    matrix[synapses.i[:], synapses.j[:]] = getattr(synapses, name)[:]
    return matrix


def randomize(synapses, rng, scale, *names):
    for name in names:
        setattr(synapses, name, rng.normal(0.0, scale, len(synapses)))


# -- EGRU ------------------------------------------------------------------------------
def egru_bptt(x, W, p, target, detach, activity=0.0):
    """Forward and backward through the EGRU network; returns gradients, events and the
    loss summed over steps.
    ``activity``: the weight of an activity regulariser, ``activity * mean_j z_j(t)``
    added to the loss at every step (set through the reset: nothing when detached)."""
    n = len(p["theta"])
    c, y_last, y = np.zeros(n), np.zeros(n), np.zeros(N_OUT)
    acc = {k: np.zeros(n) for k in ("u", "r", "zx", "zh")}
    tape = []
    for t in range(STEPS):
        u = sigmoid(acc["u"] + p["b_u"])
        r = sigmoid(acc["r"] + p["b_r"])
        g = np.tanh(acc["zx"] + r * acc["zh"] + p["b_z"])
        c_new = u * g + (1 - u) * c - y_last
        z = (c_new > p["theta"]).astype(float)
        e = z * c_new
        tape.append(dict(acc=acc, c_old=c, u=u, r=r, g=g, c=c_new, z=z, e=e, x=x[t]))
        acc = {"u": x[t] @ W["in_u"] + e @ W["rec_u"], "r": x[t] @ W["in_r"] + e @ W["rec_r"],
               "zx": x[t] @ W["in_z"], "zh": e @ W["rec_z"]}
        y = ALPHA_OUT * y + e @ W["out"]
        tape[-1]["y"] = y
        y_last, c = z * c_new, c_new
    grads = {k: np.zeros_like(v) for k, v in list(W.items()) + list(p.items())}
    a_c, a_ylast, a_y = np.zeros(n), np.zeros(n), np.zeros(N_OUT)
    a_acc = {k: np.zeros(n) for k in ("u", "r", "zx", "zh")}
    events, loss_total = 0, 0.0
    for t in reversed(range(STEPS)):
        s = tape[t]
        events += s["z"].sum()
        loss_total += 0.5 * np.sum((s["y"] - target[t]) ** 2) + activity * s["z"].mean()
        a_y = a_y + (s["y"] - target[t])
        grads["out"] += np.outer(s["e"], a_y)
        for gate in ("u", "r"):
            grads[f"in_{gate}"] += np.outer(s["x"], a_acc[gate])
            grads[f"rec_{gate}"] += np.outer(s["e"], a_acc[gate])
        grads["in_z"] += np.outer(s["x"], a_acc["zx"])
        grads["rec_z"] += np.outer(s["e"], a_acc["zh"])
        a_e = W["out"] @ a_y + W["rec_u"] @ a_acc["u"] + W["rec_r"] @ a_acc["r"] \
            + W["rec_z"] @ a_acc["zh"]
        a_c = a_c + s["z"] * a_ylast + s["z"] * a_e
        a_z = (0.0 if detach else s["c"] * a_ylast + activity / n) + s["c"] * a_e
        spike = psi(s["c"] - p["theta"]) * a_z
        a_c = a_c + spike
        grads["theta"] -= spike
        a_u = a_c * (s["g"] - s["c_old"])
        a_pre = a_c * s["u"] * (1 - s["g"] ** 2)
        a_r = a_pre * s["acc"]["zh"]
        a_au, a_ar = a_u * s["u"] * (1 - s["u"]), a_r * s["r"] * (1 - s["r"])
        grads["b_u"] += a_au
        grads["b_r"] += a_ar
        grads["b_z"] += a_pre
        a_acc = {"u": a_au, "r": a_ar, "zx": a_pre, "zh": a_pre * s["r"]}
        a_ylast = -a_c
        a_c = a_c * (1 - s["u"])
        a_y = ALPHA_OUT * a_y
    return grads, events, loss_total


@pytest.mark.parametrize("target", [
    "numpy",  # cython: Brian2 compiles every EGRU object (a minute on a cold cache): -m long
    pytest.param("cython", marks=[pytest.mark.cython, pytest.mark.long])])
@pytest.mark.parametrize("detach, activity", [
    (False, 0.0), (True, 0.0), (False, 0.3),
    pytest.param(True, 0.3, marks=pytest.mark.long)],
    ids=["reset-differentiated", "reset-detached", "activity-regularised",
         "activity-regularised-detached"])
def test_egru_equals_hand_written_bptt(detach, activity, target):
    """With ``activity``: the task's loss plus an `ActivityRegularizer` on the events."""
    prefs.codegen.target = target  # cython: the compiled kernels read sources in place
    rng = np.random.default_rng(11)
    inp, x = analog_inputs(rng)
    rec = egru(N, events=activity > 0, name="egru_units")
    rec.theta = rng.uniform(0.05, 0.3, N)
    for name in ("b_u", "b_r", "b_z"):
        setattr(rec, name, rng.normal(0.0, 0.5, N))
    s_in = egru_synapses(inp, rec, value="x", recurrent=False, name="egru_in")
    s_in.connect(p=0.8)
    randomize(s_in, rng, 0.8, "w_u", "w_r", "w_z")
    s_rec = egru_synapses(rec, rec, name="egru_rec")
    s_rec.connect("i != j", p=0.5)
    randomize(s_rec, rng, 0.6, "w_u", "w_r", "w_z")
    out = leaky_readout(N_OUT, name="egru_out")
    s_out = weighted_synapses(rec, out, "y_post += w * c_pre", lambda k: rng.normal(0, 0.5, k))
    target = rng.normal(0.0, 0.5, (STEPS, N_OUT))
    params = [s_in.w_u, s_in.w_r, s_in.w_z, s_rec.w_u, s_rec.w_r, s_rec.w_z, s_out.w,
              rec.b_u, rec.b_r, rec.b_z, rec.theta]
    loss = rb.losses.MSE(out.y, target)
    if activity:
        loss = loss + rb.losses.ActivityRegularizer(rec.event, activity)
    learner = rb.RTRL(params, loss, detach_reset=detach,
                      surrogate=rb.surrogates.Triangle(WIDTH, GAIN))
    Network(inp, rec, out, s_in, s_rec, s_out, learner).run(STEPS * ms)

    W = {f"in_{g}": weights(s_in, f"w_{g}", N_IN, N) for g in "urz"}
    W.update({f"rec_{g}": weights(s_rec, f"w_{g}", N, N) for g in "urz"})
    W["out"] = weights(s_out, "w", N, N_OUT)
    p = {name: np.array(getattr(rec, name)[:]) for name in ("b_u", "b_r", "b_z", "theta")}
    grads, events, loss_total = egru_bptt(x, W, p, target, detach, activity)
    assert 10 < events < 0.8 * STEPS * N  # events happen, and not every step
    assert relative_error(np.sum(learner.history["loss"]), loss_total) < 1e-12

    errors = {f"{s.name}.{g}": relative_error(learner.gradient(getattr(s, f"w_{g}")),
                                              synapse_gradient(grads[f"{kind}_{g[0]}"], s))
              for s, kind in ((s_in, "in"), (s_rec, "rec")) for g in "urz"}
    errors["out"] = relative_error(learner.gradient(s_out.w), synapse_gradient(grads["out"], s_out))
    for name in p:
        errors[name] = relative_error(learner.gradient(getattr(rec, name)), grads[name])
    assert max(errors.values()) < 1e-9, errors
    assert min(np.abs(learner.gradient(v)).max() for v in params) > 0


# -- activity-sparse RNN ------------------------------------------------------------------
def sparse_rnn_bptt(x, W_in, W, W_out, b, theta, target):
    n = len(b)
    acc, y = np.zeros(n), np.zeros(N_OUT)
    tape = []
    for t in range(STEPS):
        h = np.tanh(acc + b)
        z = (h > theta).astype(float)
        e = z * h
        acc = x[t] @ W_in + e @ W
        y = ALPHA_OUT * y + e @ W_out
        tape.append((h, z, e, x[t], y))
    grads = {k: np.zeros_like(v) for k, v in
             (("in", W_in), ("rec", W), ("out", W_out), ("b", b), ("theta", theta))}
    a_acc, a_y = np.zeros(n), np.zeros(N_OUT)
    events = 0
    for t in reversed(range(STEPS)):
        h, z, e, x_t, y_t = tape[t]
        events += z.sum()
        a_y = a_y + (y_t - target[t])
        grads["out"] += np.outer(e, a_y)
        grads["rec"] += np.outer(e, a_acc)
        grads["in"] += np.outer(x_t, a_acc)
        a_e = W_out @ a_y + W @ a_acc
        a_z = h * a_e
        a_h = z * a_e + psi(h - theta) * a_z
        grads["theta"] -= psi(h - theta) * a_z
        a_pre = a_h * (1 - h ** 2)
        grads["b"] += a_pre
        a_acc = a_pre
        a_y = ALPHA_OUT * a_y
    return grads, events


@pytest.mark.codegen_independent
def test_sparse_rnn_equals_hand_written_bptt():
    rng = np.random.default_rng(5)
    inp, x = analog_inputs(rng)
    rec = sparse_rnn(N, name="rnn_units")
    rec.theta = rng.uniform(0.0, 0.3, N)
    rec.b = rng.normal(0.0, 0.3, N)
    s_in = sparse_rnn_synapses(inp, rec, value="x", name="rnn_in")
    s_in.connect(p=0.8)
    randomize(s_in, rng, 0.8, "w")
    s_rec = sparse_rnn_synapses(rec, rec, name="rnn_rec")
    s_rec.connect("i != j", p=0.5)
    randomize(s_rec, rng, 0.8, "w")
    out = leaky_readout(N_OUT, name="rnn_out")
    s_out = weighted_synapses(rec, out, "y_post += w * h_pre", lambda k: rng.normal(0, 0.5, k))
    target = rng.normal(0.0, 0.5, (STEPS, N_OUT))
    params = [s_in.w, s_rec.w, s_out.w, rec.b, rec.theta]
    learner = rb.RTRL(params, rb.losses.MSE(out.y, target),
                      surrogate=rb.surrogates.Triangle(WIDTH, GAIN))
    Network(inp, rec, out, s_in, s_rec, s_out, learner).run(STEPS * ms)

    grads, events = sparse_rnn_bptt(x, weights(s_in, "w", N_IN, N), weights(s_rec, "w", N, N),
                                    weights(s_out, "w", N, N_OUT), np.array(rec.b[:]),
                                    np.array(rec.theta[:]), target)
    assert 10 < events < 0.8 * STEPS * N
    errors = {"in": relative_error(learner.gradient(s_in.w), synapse_gradient(grads["in"], s_in)),
              "rec": relative_error(learner.gradient(s_rec.w),
                                    synapse_gradient(grads["rec"], s_rec)),
              "out": relative_error(learner.gradient(s_out.w),
                                    synapse_gradient(grads["out"], s_out)),
              "b": relative_error(learner.gradient(rec.b), grads["b"]),
              "theta": relative_error(learner.gradient(rec.theta), grads["theta"])}
    assert max(errors.values()) < 1e-9, errors
