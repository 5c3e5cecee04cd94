"""
Reproducible training runs: the spiral study of Subramoney (2023), online.

`spiral_egru` trains an EGRU network with exact online RTRL on `tasks.spiral`,
one sequence at a time, at a given recurrent parameter sparsity, and records
what the paper reports: loss per sequence, activity sparsity, influence-matrix
sparsity and multiply-adds done (against the dense engine's), plus accuracy on
held-out sequences.
"""

import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SpiralRun", "spiral_egru"]


@dataclass
class SpiralRun:
    """Results of one `spiral_egru` run (per training sequence unless noted)."""

    units: int
    sparsity: float
    seed: int
    activity_sparse: bool
    loss: list = field(default_factory=list)
    active_fraction: list = field(default_factory=list)
    influence_density: list = field(default_factory=list)
    multiply_adds: list = field(default_factory=list)
    multiply_adds_dense: list = field(default_factory=list)
    test_accuracy: float = float("nan")
    seconds: float = 0.0


def spiral_egru(units=16, sparsity=0.0, seed=0, sequences=None, task=None, lr=3e-3,
                activity_sparse=True, theta=0.2, test_sequences=None, log=None):
    """
    Train EGRU units online on spiral direction classification.

    Parameters
    ----------
    units : int
        EGRU units.
    sparsity : float
        Fraction of recurrent synapses pruned (a static random mask).
    seed : int
    sequences : int, optional
        Training sequences to use (default: the whole training split).
    task : Spiral, optional
        Default ``tasks.spiral(seed=0)`` (10,000 sequences, 17 steps).
    lr : float
        Adam learning rate.
    activity_sparse : bool
        False disables activity sparsity (the control): every unit sends an
        event every step (threshold far below the state's range).
    theta : float
        Initial EGRU threshold.
    test_sequences : int, optional
        Held-out sequences evaluated at the end (default: the whole test split).
    log : callable, optional
        Receives a progress line every 10 % of the run.

    Returns
    -------
    run : SpiralRun
    """
    import brian2
    from brian2 import Network, defaultclock, ms, prefs

    from . import losses, optim, sparsity as sparsity_tools
    from .models import analog_input, egru, egru_synapses, leaky_readout
    from .rtrl import RTRL
    from .surrogates import Triangle
    from .tasks import spiral

    prefs.codegen.target = prefs.codegen.target or "numpy"
    defaultclock.dt = 1 * ms
    task = task if task is not None else spiral(seed=0)
    brian2.seed(seed)
    rng = np.random.default_rng(seed)
    steps = task.steps
    train = task.train[:sequences] if sequences else task.train
    test = task.test[:test_sequences] if test_sequences else task.test
    order = np.concatenate([rng.permutation(train), test])
    inputs = analog_input(task.inputs[order].reshape(-1, 2), name="spiral_inputs")
    rec = egru(units, theta=theta if activity_sparse else -1e6, name="spiral_egru")
    for bias in ("b_u", "b_r", "b_z"):
        setattr(rec, bias, rng.normal(0.0, 0.1, units))
    s_in = egru_synapses(inputs, rec, value="x", recurrent=False, name="spiral_in")
    s_in.connect()
    s_rec = egru_synapses(rec, rec, name="spiral_rec")
    s_rec.connect()
    out = leaky_readout(2, name="spiral_out")
    s_out = brian2.Synapses(rec, out, "w : 1", on_pre="y_post += w * c_pre", name="spiral_read")
    s_out.connect()
    for synapses, fan_in in ((s_in, 2), (s_rec, units)):
        for gate in ("w_u", "w_r", "w_z"):
            setattr(synapses, gate, rng.normal(0.0, 1.0 / np.sqrt(fan_in), len(synapses)))
    s_out.w = rng.normal(0.0, 1.0 / np.sqrt(units), len(s_out))
    mask = np.arange(steps) == steps - 1
    loss = losses.CrossEntropy(out.y, labels=0, mask=mask)
    params = [s_in.w_u, s_in.w_r, s_in.w_z, s_rec.w_u, s_rec.w_r, s_rec.w_z, s_out.w,
              rec.b_u, rec.b_r, rec.b_z, rec.theta]
    learner = RTRL(params, loss, optimizer=optim.Adam(lr=lr),
                   surrogate=Triangle(width=0.5, gain=0.5), namespace={})
    for gate in (s_rec.w_u, s_rec.w_r, s_rec.w_z):
        sparsity_tools.random_prune(learner, gate, sparsity, seed=seed)
    network = Network(inputs, rec, out, s_in, s_rec, s_out, learner)
    run = SpiralRun(units, sparsity, seed, activity_sparse)
    optimizer = learner.optimizer
    started = time.time()
    predictions = []

    def record(trial):
        history = learner.history
        if trial < len(train):
            run.loss.append(float(np.sum(history["loss"][-steps:])))
            run.active_fraction.append(float(np.mean(history["active_fraction"][-steps:])))
            run.multiply_adds.append(float(np.sum(history["multiply_adds"][-steps:])))
            run.multiply_adds_dense.append(float(np.sum(history["multiply_adds_dense"][-steps:])))
            run.influence_density.append(learner.engine.density())
        else:
            predictions.append(int(np.argmax(out.variables["y"].get_value())))
        if log and (trial + 1) % max(1, len(order) // 10) == 0:
            log(f"  {trial + 1}/{len(order)} sequences, loss {np.mean(run.loss[-100:]):.3f}, "
                f"{time.time() - started:.0f} s")

    def start(trial):
        if trial:
            record(trial - 1)
        if trial == len(order):
            return
        for group, names in ((rec, ("c", "y_last", "in_u", "in_r", "in_zx", "in_zh")),
                             (out, ("y",))):
            for name in names:
                group.variables[name].get_value()[:] = 0.0
        loss.set_labels(int(task.labels[order[trial]]))
        learner.optimizer = optimizer if trial < len(train) else None  # held out: no learning

    learner.trials(steps, start)
    network.run(len(order) * steps * defaultclock.dt)
    start(len(order))
    correct = int(np.sum(np.asarray(predictions) == task.labels[test]))
    run.test_accuracy = correct / max(1, len(test))
    run.seconds = time.time() - started
    return run
