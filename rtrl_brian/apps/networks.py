"""
Ready recurrent networks: inputs -> recurrent units -> leaky readout, for every model.

`build_network` wires one of the models of `rtrl_brian.models` between an
input group and a `leaky_readout`, with initial weights scaled by fan-in, and
returns a `RecurrentNetwork` that knows its learnable parameters and the state
to clear between trials. The command line, the demo and the experiments build
their networks here.
"""

from dataclasses import dataclass

import numpy as np
from brian2 import Synapses, ms

from ..models import (alif, beta_thresholds, egru, egru_synapses, leaky_readout, lif, sparse_rnn,
                      sparse_rnn_synapses)
from ..surrogates import Triangle

__all__ = ["RecurrentNetwork", "build_network", "MODELS"]


@dataclass
class RecurrentNetwork:
    """
    Brian2 objects of a recurrent network and what learning needs to know of them.

    Attributes
    ----------
    inputs, group, readout : NeuronGroup or SpikeGeneratorGroup
    s_in, s_rec, s_out : Synapses
        Input, recurrent and readout synapses.
    weights : tuple of str
        Per-synapse variables of ``s_in`` and ``s_rec`` (one per gate for EGRU).
    neuron_params : tuple of str
        Learnable per-unit parameters of ``group``.
    state : tuple of str
        State variables of ``group`` cleared at the start of each trial.
    surrogate : Triangle
        The surrogate derivative this model is trained with by default.
    """

    inputs: object
    group: object
    readout: object
    s_in: object
    s_rec: object
    s_out: object
    weights: tuple
    neuron_params: tuple
    state: tuple
    surrogate: Triangle
    #: The first recurrent weight variable's values as drawn (readable before a standalone
    #: build, where Brian2's arrays are not).
    drawn_recurrent: np.ndarray

    @property
    def objects(self):
        """Every Brian2 object, for a `Network`."""
        return [self.inputs, self.group, self.readout, self.s_in, self.s_rec, self.s_out]

    @property
    def recurrent_weights(self):
        """The recurrent per-synapse variables (what parameter sparsity prunes)."""
        return [getattr(self.s_rec, name) for name in self.weights]

    @property
    def params(self):
        """Every learnable variable: input, recurrent and readout weights, unit parameters."""
        return ([getattr(self.s_in, name) for name in self.weights] + self.recurrent_weights
                + [self.s_out.w] + [getattr(self.group, name) for name in self.neuron_params])

    def initial_state(self):
        """Where every trial starts: the recurrent units' state and the readout at zero
        (`RTRL.trials` ``initial``)."""
        return {getattr(group, name): 0.0
                for group, names in ((self.group, self.state), (self.readout, ("y",)))
                for name in names}


def build_network(model, inputs, n_outputs, units, rng, input_value=None, input_rate=1.0,
                  theta=0.2, tau=20 * ms, tau_a=200 * ms, adaptive_fraction=1.0,
                  readout_tau=20 * ms, dt=None, thresholds="constant", events=False):
    """
    Wire ``inputs`` -> ``units`` recurrent units of ``model`` -> ``n_outputs`` readouts.

    Weights are drawn from ``rng`` as zero-mean normals scaled by fan-in (for
    spiking units, by the expected input events per membrane time constant);
    every pair of units is connected (LIF and ALIF: no self-connections).
    Parameter sparsity is applied afterwards, through the learner
    (`rtrl_brian.sparsity.random_prune`), so that pruned synapses are
    parameters held at zero.

    Parameters
    ----------
    model : {'lif', 'alif', 'egru', 'sparse_rnn'}
    inputs : Group
        Sends events (spikes, or values every step: ``input_value``).
    n_outputs : int
    units : int
    rng : numpy.random.Generator
    input_value : str, optional
        Presynaptic variable the input events carry (``'x'`` for
        `rtrl_brian.models.analog_input`); None for spikes.
    input_rate : float
        Mean events per input and step, each weighted by the magnitude of the
        value it carries (for spikes: the spike rate); scales spiking units'
        input weights.
    theta : float
        Initial threshold of EGRU and thresholded-tanh units.
    tau, tau_a : Quantity
        Membrane and adaptation time constants (LIF, ALIF).
    adaptive_fraction : float
        ALIF: the fraction of units that adapt (the others have ``beta = 0``,
        i.e. are LIF units: e-prop's LSNN mixes both).
    readout_tau : Quantity
    dt : Quantity, optional
        Time step of every group and synapses (default: Brian2's
        ``defaultclock``); ``inputs`` should have it too.
    thresholds : {'constant', 'beta'}
        EGRU: every unit's threshold starts at ``theta``, or they are drawn as
        the EGRU papers draw them (`rtrl_brian.models.beta_thresholds`, mean
        ``theta``).
    events : bool
        EGRU: give the units an ``event`` variable (1 at a step a unit sent an
        event), for `rtrl_brian.losses.ActivityRegularizer`.

    Returns
    -------
    network : RecurrentNetwork
    """
    if model not in MODELS:
        raise ValueError(f"Unknown model {model!r}; choose one of {sorted(MODELS)}.")
    if not 0.0 <= adaptive_fraction <= 1.0:
        raise ValueError(f"'adaptive_fraction' must lie in [0, 1], got {adaptive_fraction}.")
    if thresholds not in ("constant", "beta"):
        raise ValueError(f"'thresholds' must be 'constant' or 'beta', got {thresholds!r}.")
    if model != "egru" and (events or thresholds != "constant"):
        raise ValueError(f"An event variable and thresholds drawn from a Beta distribution "
                         f"exist for 'egru' units only, not {model!r}.")
    recurrent = MODELS[model](inputs, units, rng, input_value=input_value, input_rate=input_rate,
                              theta=theta, tau=tau, tau_a=tau_a,
                              adaptive_fraction=adaptive_fraction, dt=dt,
                              thresholds=thresholds, events=events)
    readout = leaky_readout(n_outputs, tau=readout_tau, name="readout", dt=dt)
    sent = "" if recurrent.value is None else f" * {recurrent.value}_pre"
    s_out = Synapses(recurrent.group, readout, "w : 1", on_pre=f"y_post += w{sent}",
                     name="s_out", dt=dt)
    _connect(s_out)
    s_out.w = rng.normal(0.0, recurrent.readout_scale / np.sqrt(units), len(s_out))
    return RecurrentNetwork(inputs, recurrent.group, readout, recurrent.s_in, recurrent.s_rec,
                            s_out, recurrent.weights, recurrent.neuron_params, recurrent.state,
                            recurrent.surrogate, recurrent.drawn_recurrent)


@dataclass
class _Units:
    """What a model contributes: its group, input and recurrent synapses, and their facts."""

    group: object
    s_in: object
    s_rec: object
    weights: tuple
    neuron_params: tuple
    state: tuple
    value: str              # the graded value events carry (None: spikes)
    surrogate: Triangle
    readout_scale: float    # readout weights ~ N(0, (readout_scale / sqrt(units))**2)
    drawn_recurrent: np.ndarray  # the first recurrent weight's values


def _spiking(model, inputs, units, rng, input_value, input_rate, tau, tau_a, adaptive_fraction,
             dt, **_):
    if model == "alif":
        group = alif(units, tau=tau, tau_a=tau_a, name="recurrent", dt=dt)
        group.beta[round(adaptive_fraction * units):] = 0.0  # the rest do not adapt
        state = ("v", "a")
    else:
        group = lif(units, tau=tau, name="recurrent", dt=dt)
        state = ("v",)
    sent = "" if input_value is None else f" * {input_value}_pre"
    s_in = Synapses(inputs, group, "w : 1", on_pre=f"v_post += w{sent}", name="s_in", dt=dt)
    s_rec = Synapses(group, group, "w : 1", on_pre="v_post += w", name="s_rec", dt=dt)
    _connect(s_in)
    _connect(s_rec, self_connections=False)
    # input events per membrane time constant: their mean alone drives v just past
    # threshold (units fire regularly), their spread alone about to it
    events = len(inputs) * input_rate * float(tau / ms)
    s_in.w = rng.normal(1.2 / events, 1.0 / np.sqrt(events), len(s_in))
    s_rec.w = drawn = rng.normal(0.0, 1.0 / np.sqrt(units), len(s_rec))
    return _Units(group, s_in, s_rec, ("w",), (), state, None, Triangle(width=0.5, gain=0.3),
                  readout_scale=0.2, drawn_recurrent=drawn)


def _lif(inputs, units, rng, **options):
    return _spiking("lif", inputs, units, rng, **options)


def _alif(inputs, units, rng, **options):
    return _spiking("alif", inputs, units, rng, **options)


def _egru(inputs, units, rng, input_value, theta, dt, thresholds, events, **_):
    group = egru(units, theta=theta, events=events, name="recurrent", dt=dt)
    for bias in ("b_u", "b_r", "b_z"):
        setattr(group, bias, rng.normal(0.0, 0.1, units))
    s_in = egru_synapses(inputs, group, value=input_value, recurrent=False, name="s_in", dt=dt)
    s_rec = egru_synapses(group, group, name="s_rec", dt=dt)
    weights = ("w_u", "w_r", "w_z")
    drawn = _connect_all(((s_in, len(inputs)), (s_rec, units)), weights, rng)
    if thresholds == "beta":  # drawn last: the other values as with constant thresholds
        group.theta = beta_thresholds(units, theta, rng)
    return _Units(group, s_in, s_rec, weights, ("b_u", "b_r", "b_z", "theta"),
                  ("c", "y_last", "in_u", "in_r", "in_zx", "in_zh"), "c",
                  Triangle(width=0.5, gain=0.5), readout_scale=1.0,
                  drawn_recurrent=drawn[("s_rec", "w_u")])


def _sparse_rnn(inputs, units, rng, input_value, theta, dt, **_):
    group = sparse_rnn(units, theta=theta, name="recurrent", dt=dt)
    group.b = rng.normal(0.0, 0.1, units)
    s_in = sparse_rnn_synapses(inputs, group, value=input_value, name="s_in", dt=dt)
    s_rec = sparse_rnn_synapses(group, group, name="s_rec", dt=dt)
    drawn = _connect_all(((s_in, len(inputs)), (s_rec, units)), ("w",), rng)
    return _Units(group, s_in, s_rec, ("w",), ("b", "theta"), ("h", "in_h"), "h",
                  Triangle(width=0.5, gain=0.5), readout_scale=1.0,
                  drawn_recurrent=drawn[("s_rec", "w")])


def _connect(synapses, self_connections=True):
    """Every pair (``self_connections=False``: but ``i == j``), from arrays in Brian2's
    order of ``connect()``: a number of synapses known before a standalone build."""
    pre, post = np.meshgrid(np.arange(len(synapses.source)), np.arange(len(synapses.target)),
                            indexing="ij")
    keep = np.ones(pre.shape, dtype=bool) if self_connections else pre != post
    synapses.connect(i=pre[keep], j=post[keep])


def _connect_all(synapses_and_fan_in, weights, rng):
    """Every pair connected, each weight drawn; the values drawn by (synapses, weight)."""
    drawn = {}
    for synapses, fan_in in synapses_and_fan_in:
        _connect(synapses)
        for name in weights:
            values = rng.normal(0.0, 1.0 / np.sqrt(fan_in), len(synapses))
            setattr(synapses, name, values)
            drawn[(synapses.name, name)] = values
    return drawn


#: Recurrent models by name.
MODELS = {"lif": _lif, "alif": _alif, "egru": _egru, "sparse_rnn": _sparse_rnn}
