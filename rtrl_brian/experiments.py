"""
Reproducible training runs: the spiral study of Subramoney (2023), online.

`train_spiral` trains EGRU (or thresholded-tanh) units with exact online RTRL
on `tasks.spiral`, one sequence at a time, at a given recurrent parameter
sparsity, and records what the paper reports: loss per sequence, activity
sparsity, influence-matrix sparsity and multiply-adds done (against the dense
engine's), plus accuracy on held-out sequences.
"""

import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SpiralRun", "train_spiral"]


@dataclass
class SpiralRun:
    """Results of one `train_spiral` run (per training sequence unless noted)."""

    units: int
    sparsity: float
    seed: int
    activity_sparse: bool
    model: str = "egru"
    loss: list = field(default_factory=list)
    active_fraction: list = field(default_factory=list)
    influence_density: list = field(default_factory=list)
    multiply_adds: list = field(default_factory=list)
    multiply_adds_dense: list = field(default_factory=list)
    test_accuracy: float = float("nan")
    seconds: float = 0.0


def train_spiral(model="egru", units=16, sparsity=0.0, seed=0, sequences=None, task=None,
                 lr=3e-3, activity_sparse=True, theta=0.2, test_sequences=None, log=None):
    """
    Train recurrent units online on spiral direction classification.

    Parameters
    ----------
    model : {'egru', 'sparse_rnn'}
        `rtrl_brian.models.egru` or `rtrl_brian.models.sparse_rnn` units.
    units : int
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
        Initial threshold of the units.
    test_sequences : int, optional
        Held-out sequences evaluated at the end (default: the whole test split).
    log : callable, optional
        Receives a progress line every 10 % of the run.

    Returns
    -------
    run : SpiralRun
    """
    import brian2
    from brian2 import Network, defaultclock, ms

    from . import losses, optim, sparsity as sparsity_tools
    from .models import analog_input, leaky_readout
    from .rtrl import RTRL
    from .surrogates import Triangle
    from .tasks import spiral

    if model not in _MODELS:
        raise ValueError(f"Unknown model {model!r}; choose one of {sorted(_MODELS)}.")
    defaultclock.dt = 1 * ms
    task = task if task is not None else spiral(seed=0)
    brian2.seed(seed)
    rng = np.random.default_rng(seed)
    steps = task.steps
    train = task.train[:sequences] if sequences else task.train
    test = task.test[:test_sequences] if test_sequences else task.test
    order = np.concatenate([rng.permutation(train), test])
    inputs = analog_input(task.inputs[order].reshape(-1, 2), name="spiral_inputs")
    net = _MODELS[model](inputs, units, theta if activity_sparse else -1e6, rng)
    rec, s_in, s_rec = net.group, net.s_in, net.s_rec
    out = leaky_readout(2, name="spiral_out")
    s_out = brian2.Synapses(rec, out, "w : 1", on_pre=f"y_post += w * {net.value}_pre",
                            name="spiral_read")
    s_out.connect()
    s_out.w = rng.normal(0.0, 1.0 / np.sqrt(units), len(s_out))
    mask = np.arange(steps) == steps - 1
    loss = losses.CrossEntropy(out.y, labels=0, mask=mask)
    recurrent = [getattr(s_rec, name) for name in net.weights]
    params = ([getattr(s_in, name) for name in net.weights] + recurrent + [s_out.w]
              + [getattr(rec, name) for name in net.neuron_params])
    learner = RTRL(params, loss, optimizer=optim.Adam(lr=lr),
                   surrogate=Triangle(width=0.5, gain=0.5), namespace={})
    for weight in recurrent:
        sparsity_tools.random_prune(learner, weight, sparsity, seed=seed)
    network = Network(inputs, rec, out, s_in, s_rec, s_out, learner)
    run = SpiralRun(units, sparsity, seed, activity_sparse, model)
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
        for group, names in ((rec, net.state), (out, ("y",))):
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


@dataclass
class _Recurrent:
    """The recurrent part of a spiral network, whatever the model."""

    group: object
    s_in: object
    s_rec: object
    weights: tuple      # per-synapse variables of s_in and s_rec
    neuron_params: tuple
    state: tuple        # variables zeroed between sequences
    value: str          # the graded event value synapses read


def _egru_network(inputs, units, theta, rng):
    from .models import egru, egru_synapses

    group = egru(units, theta=theta, name="spiral_egru")
    for bias in ("b_u", "b_r", "b_z"):
        setattr(group, bias, rng.normal(0.0, 0.1, units))
    s_in = egru_synapses(inputs, group, value="x", recurrent=False, name="spiral_in")
    s_rec = egru_synapses(group, group, name="spiral_rec")
    weights = ("w_u", "w_r", "w_z")
    _connect_all(((s_in, 2), (s_rec, units)), weights, rng)
    return _Recurrent(group, s_in, s_rec, weights, ("b_u", "b_r", "b_z", "theta"),
                      ("c", "y_last", "in_u", "in_r", "in_zx", "in_zh"), "c")


def _sparse_rnn_network(inputs, units, theta, rng):
    from .models import sparse_rnn, sparse_rnn_synapses

    group = sparse_rnn(units, theta=theta, name="spiral_rnn")
    group.b = rng.normal(0.0, 0.1, units)
    s_in = sparse_rnn_synapses(inputs, group, value="x", name="spiral_in")
    s_rec = sparse_rnn_synapses(group, group, name="spiral_rec")
    _connect_all(((s_in, 2), (s_rec, units)), ("w",), rng)
    return _Recurrent(group, s_in, s_rec, ("w",), ("b", "theta"), ("h", "in_h"), "h")


def _connect_all(synapses_and_fan_in, weights, rng):
    for synapses, fan_in in synapses_and_fan_in:
        synapses.connect()
        for name in weights:
            setattr(synapses, name, rng.normal(0.0, 1.0 / np.sqrt(fan_in), len(synapses)))


_MODELS = {"egru": _egru_network, "sparse_rnn": _sparse_rnn_network}
