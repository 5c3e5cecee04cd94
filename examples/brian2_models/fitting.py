"""
What the model examples share: a readout, a target, online learning, a figure, and
the exactness check (RTRL on every engine against BPTT of the same run).

Each model file builds its network as the paper and Brian2's documentation write it
and returns a `Model`; nothing in the model is changed for the learner. The task is
the same for all: a frozen spike pattern (repeated every trial) drives the model
through learned input weights, and a leaky readout of the model's spikes fits two
sine waves, learned online with trials (the model runs on between trials; the readout
and the influence matrix restart).
"""

import argparse
import pathlib
from dataclasses import dataclass, field

import brian2 as b2
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import rtrl_brian as rb  # noqa: E402

__all__ = ["Model", "pattern_input", "readout", "sine_target", "learn", "exactness",
           "main"]


@dataclass
class Model:
    """
    A model ready to learn.

    Attributes
    ----------
    objects : list
        The Brian2 objects to run (the model, its inputs and the readout).
    params : list of VariableView
        What is learned.
    output : VariableView
        The variable the loss reads (the readout's ``y``).
    steps : int
        Steps per trial.
    rates : dict
        Learning rates of their own (Adam's parameter groups), for parameters
        with units: a step changes a parameter by about its rate.
    bounds : dict
        Constraints after each update (e.g. Dale's law), see `rtrl_brian.RTRL`.
    surrogate : Triangle
        In the units of the threshold variable (``Triangle(2*mV, 0.3/(2*mV))``
        for a membrane in volts).
    lr : float
        Adam's learning rate of the unitless parameters (the readout).
    state : VariableView
        A state variable of the model (its membrane potential), for checks of
        the subthreshold dynamics against finite differences.
    checked : VariableView
        The parameter those checks differentiate (default: the input weights).
    """

    objects: list
    params: list
    output: object
    steps: int
    rates: dict = field(default_factory=dict)
    bounds: dict = field(default_factory=dict)
    surrogate: object = None
    lr: float = 3e-3
    state: object = None
    checked: object = None


def pattern_input(target, on_pre, weights, unit, steps, n=30, rate=100, seed=0, model=None,
                  weight="w_in", **options):
    """
    A frozen random spike pattern of ``steps`` steps, repeated every trial, onto
    ``target`` through learned weights ``w_in : unit`` (``weights(k)`` draws ``k``),
    or through synapses of the model's own ``model`` equations (further `Synapses`
    arguments in ``options``) whose variable ``weight`` is drawn by ``weights``.

    Returns
    -------
    inputs : SpikeGeneratorGroup
    synapses : Synapses
    """
    rng = np.random.default_rng(seed)
    dt = b2.defaultclock.dt
    step, neuron = np.nonzero(rng.random((steps, n)) < rate * float(dt))
    inputs = b2.SpikeGeneratorGroup(n, neuron, step * dt, period=steps * dt, name="pattern")
    synapses = b2.Synapses(inputs, target, model or f"{weight} : {unit}", on_pre=on_pre,
                           name="from_pattern", **options)
    pre, post = np.nonzero(rng.random((n, target.N)) < 0.5)
    synapses.connect(i=pre, j=post)
    setattr(synapses, weight, weights(len(pre)))
    return inputs, synapses


def readout(source, n_out=2, seed=0, scale=0.05):
    """
    A leaky readout of ``source``'s spikes: ``dy/dt = -y/(10*ms)``, ``y += w_out``.

    Returns
    -------
    out : NeuronGroup
    synapses : Synapses
    """
    out = b2.NeuronGroup(n_out, "dy/dt = -y / (10*ms) : 1", method="exact", name="readout")
    synapses = b2.Synapses(source, out, "w_out : 1", on_pre="y += w_out", name="to_readout")
    rng = np.random.default_rng(seed)
    pre, post = np.nonzero(np.ones((source.N, n_out)))
    synapses.connect(i=pre, j=post)
    synapses.w_out = rng.normal(0, scale, len(pre))
    return out, synapses


def sine_target(steps, n_out=2, amplitude=0.5):
    """Sines of one and two periods per trial, ``(steps, n_out)``."""
    phase = 2 * np.pi * np.arange(steps) / steps
    return np.stack([amplitude * (1 + np.sin((k + 1) * phase)) / 2 for k in range(n_out)],
                    axis=1)


def learn(model, trials):
    """
    Learn online for ``trials`` trials (Adam every 10 steps).

    Returns
    -------
    learner : RTRL
    monitors : tuple
        A `SpikeMonitor` of the model's first group and a `StateMonitor` of the
        readout.
    """
    target = sine_target(model.steps, len(model.output.group))
    learner = rb.RTRL(model.params, rb.losses.MSE(model.output, target),
                      optimizer=rb.optim.Adam(lr=model.lr, groups=model.rates), update_every=10,
                      bounds=model.bounds, surrogate=model.surrogate, name="learner",
                      namespace={})
    def start(trial):
        """The readout starts each trial at rest (the model runs on)."""
        model.output.variable.get_value()[:] = 0

    learner.trials(model.steps, start)
    spikes = b2.SpikeMonitor(model.objects[0])
    trace = b2.StateMonitor(model.output.group, model.output.name, record=True, when="end")
    b2.Network(*model.objects, learner, spikes, trace).run(trials * model.steps
                                                           * b2.defaultclock.dt)
    learner.reset_state()
    return learner, (spikes, trace)


def exactness(model, steps=None, engines=("sparse", "dense")):
    """
    Gradients of every engine and of BPTT, from one run of ``steps`` steps.

    Returns
    -------
    errors : dict
        Engine to the largest relative difference from BPTT over the parameters.
    gradients : dict
        Engine (and ``'bptt'``) to the list of gradients.
    """
    steps = steps or model.steps
    loss = rb.losses.MSE(model.output, sine_target(steps, len(model.output.group)))
    learners = {engine: rb.RTRL(model.params, loss, engine=engine, surrogate=model.surrogate,
                                name=f"rtrl_{engine}", namespace={}) for engine in engines}
    learners["bptt"] = rb.BPTT(model.params, loss, surrogate=model.surrogate, namespace={})
    b2.Network(*model.objects, *learners.values()).run(steps * b2.defaultclock.dt)
    gradients = {name: [learner.gradient(p) for p in model.params]
                 for name, learner in learners.items()}
    errors = {}
    for engine in engines:
        errors[engine] = max(
            float(np.max(np.abs(g - r), initial=0) / max(np.max(np.abs(r), initial=0), 1e-300))
            for g, r in zip(gradients[engine], gradients["bptt"]))
    return errors, gradients


def figure(name, learner, monitors, model):
    """Spikes (last trial), readout against target (first and last trial), learning
    curve: a matplotlib Figure."""
    spikes, trace = monitors
    steps = model.steps
    dt_ms = float(b2.defaultclock.dt / b2.ms)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    start = (len(learner.history["trial_loss"]) - 1) * steps * b2.defaultclock.dt
    rb.plot.spikes([spikes], ax=axes[0], start=start)
    axes[0].set_title(f"{name}: spikes, last trial", fontsize=10)
    times = np.arange(steps) * dt_ms
    target = sine_target(steps, len(model.output.group))
    y = np.asarray(getattr(trace, model.output.name))
    rb.plot.readout_vs_target(times, y[0, :steps], target[:, 0], ax=axes[1],
                              label="first trial")
    axes[1].plot(times, y[0, -steps:], label="last trial")
    axes[1].set_xlabel("time in trial (ms)")
    axes[1].legend(frameon=False, fontsize=8)
    rb.plot.learning_curve(learner, ax=axes[2])
    fig.tight_layout()
    return fig


def main(name, build, argv=None, trials=30):
    """
    Command line of a model example: learn, write a figure, report exactness.

    Parameters
    ----------
    name : str
        File name stem of the figure.
    build : callable
        ``build()`` returns a `Model` in a fresh Brian2 scope.
    """
    parser = argparse.ArgumentParser(description=f"{name}: learn a readout online")
    parser.add_argument("--trials", type=int, default=trials, help="trials to learn (default "
                                                                   "%(default)s)")
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    b2.start_scope()
    errors, _ = exactness(build())
    b2.start_scope()
    model = build()
    learner, monitors = learn(model, args.trials)
    losses = learner.history["trial_loss"]
    fig = figure(name, learner, monitors, model)
    fig.savefig(out / f"{name}.png", dpi=100)
    plt.close(fig)
    window = min(5, len(losses))
    print(f"{name}: RTRL vs BPTT {max(errors.values()):.1e} (sparse and dense engines); "
          f"trial loss, mean of the first and last {window} of {len(losses)} trials: "
          f"{np.mean(losses[:window]):.4g} -> {np.mean(losses[-window:]):.4g}; "
          f"figure {out / f'{name}.png'}")
    return errors, losses
