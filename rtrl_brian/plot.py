"""
Plots for papers and for watching learning: each returns matplotlib Axes and
accepts ``ax=`` (None makes a new figure); `dashboard` combines them.
"""

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
from brian2 import SpikeMonitor, StateMonitor, get_unit, ms
from brian2.units.fundamentalunits import DIMENSIONLESS


__all__ = ["raster", "spikes", "learning_curve", "readout_vs_target", "operations", "activity",
           "weights", "influence", "dashboard"]


def _axes(ax):
    return ax if ax is not None else plt.figure().add_subplot(111)


def raster(indices, times_ms, ax=None, **kwds):
    """
    Spike raster.

    Parameters
    ----------
    indices : array of int
    times_ms : array of float
        Spike times in milliseconds.
    ax : Axes, optional
    **kwds
        Passed to ``ax.plot``.

    Returns
    -------
    ax : Axes
    """
    ax = _axes(ax)
    style = dict(marker="|", linestyle="none", color="k", markersize=4)
    style.update(kwds)
    ax.plot(np.asarray(times_ms), np.asarray(indices), **style)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron index")
    return ax


def spikes(monitors, ax=None, start=None, stop=None, colors=None):
    """
    Raster of several groups, one above the other, coloured by group.

    Parameters
    ----------
    monitors : list of SpikeMonitor
    ax : Axes, optional
    start, stop : Quantity, optional
        Time window (default: everything recorded). With ``start``, times are
        shown from it (time in the window, not since the run began).
    colors : list, optional
        One matplotlib colour per monitor.

    Returns
    -------
    ax : Axes
    """
    ax = _axes(ax)
    colors = colors or [f"C{k}" for k in range(len(monitors))]
    origin = 0.0 if start is None else float(start / ms)
    offset = 0
    for monitor, color in zip(monitors, colors):
        times = np.asarray(monitor.t[:] / ms)
        keep = times >= origin
        if stop is not None:
            keep &= times < float(stop / ms)
        raster(np.asarray(monitor.i[:])[keep] + offset, times[keep] - origin, ax=ax,
               color=color, markersize=3, label=monitor.source.name)
        offset += len(monitor.source)
    if start is not None:
        ax.set_xlabel(f"time from {origin:g} ms (ms)")
    ax.set_ylabel("neuron (groups stacked)")
    ax.legend(loc="upper right", frameon=False, fontsize=8, markerscale=3)
    return ax


def learning_curve(losses, ax=None, smooth=10, against=None, xlabel="trial", ylabel="loss",
                   log=True, **kwds):
    """
    A per-trial figure (loss by default), raw and smoothed (moving average
    over ``smooth`` trials), against trials or anything cumulative.

    Parameters
    ----------
    losses : array-like or RTRL
        Per-trial values, or a learner (its ``history['trial_loss']``).
    ax : Axes, optional
    smooth : int
    against : array-like, optional
        x value of each trial, e.g. ``np.cumsum(record.multiply_adds)`` for
        loss against compute, or elapsed seconds; default: trial number.
    xlabel, ylabel : str
    log : bool
        Logarithmic y axis.
    **kwds
        Passed to ``ax.plot`` for the raw curve.

    Returns
    -------
    ax : Axes
    """
    if hasattr(losses, "history"):
        losses = losses.history["trial_loss"]
    losses = np.asarray(losses, dtype=float)
    ax = _axes(ax)
    x = np.arange(1, len(losses) + 1) if against is None else np.asarray(against, dtype=float)
    if len(x) != len(losses):
        raise ValueError(f"learning_curve: 'against' has {len(x)} values for {len(losses)} "
                         f"trials.")
    ax.plot(x, losses, alpha=0.4, label="per trial", **kwds)
    if len(losses) >= smooth > 1:
        ax.plot(x[smooth - 1:], _moving_average(losses, smooth), label=f"mean of {smooth}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return ax


def readout_vs_target(times_ms, readout, target, ax=None, label="readout"):
    """
    A readout trace against its target.

    Returns
    -------
    ax : Axes
    """
    ax = _axes(ax)
    ax.plot(times_ms, target, "k--", label="target")
    ax.plot(times_ms, readout, label=label)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("output")
    ax.legend()
    return ax


def operations(learner, ax=None, smooth=10):
    """
    Work on the influence matrix per step: done by the learner's engine
    against what the dense engine does, with the fraction of active units
    (inside the surrogate's support or sending an event) on a second axis.

    Parameters
    ----------
    learner : RTRL
        Its ``history`` (``multiply_adds``, ``multiply_adds_dense``,
        ``active_fraction``).
    ax : Axes, optional
    smooth : int
        Moving average over this many steps (1: raw).

    Returns
    -------
    ax : Axes
    """
    history = learner.history
    steps, done = _smoothed(history["multiply_adds"], smooth)
    _, dense = _smoothed(history["multiply_adds_dense"], smooth)
    _, active = _smoothed(history["active_fraction"], smooth)
    ax = _axes(ax)
    lines = ax.plot(steps, dense, "k--", label="dense engine")
    lines += ax.plot(steps, done, label=f"{getattr(learner, 'engine_name', 'engine')} engine")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("multiply-adds per step")
    twin = ax.twinx()
    lines += twin.plot(steps, 100 * active, color="tab:orange", alpha=0.6,
                       label="active units (right)")
    twin.set_ylabel("active units (%)", color="tab:orange")
    twin.set_ylim(0, max(1.0, 110 * float(np.max(active, initial=0.0))))
    # above the curves, not over them
    ax.legend(handles=lines, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
              frameon=False, fontsize=8)
    return ax


def activity(record, ax=None, smooth=10):
    """
    Activity sparsity and influence-matrix density per trial.

    Parameters
    ----------
    record : TrainingRun
        Its ``active_fraction`` (units inside the surrogate's support or
        sending an event, mean over the trial) and ``influence_density``
        (non-zero fraction of the influence matrix at the trial's end).
    ax : Axes, optional
    smooth : int

    Returns
    -------
    ax : Axes
    """
    ax = _axes(ax)
    for key, label in (("active_fraction", "active units"),
                       ("influence_density", "influence-matrix density")):
        trials, values = _smoothed(getattr(record, key), smooth, first=1)
        ax.plot(trials, 100 * values, label=label)
    ax.set_xlabel("trial")
    ax.set_ylabel("%")
    ax.set_ylim(0, None)
    ax.legend(frameon=False)
    return ax


def weights(synapses, values=None, ax=None, var="w", limit=None):
    """
    A synaptic variable as a presynaptic x postsynaptic matrix (absent
    synapses blank), on a colour scale symmetric about zero.

    Parameters
    ----------
    synapses : Synapses
    values : ndarray, optional
        Values in the order of ``synapses.<var>[:]`` (e.g. a copy taken before
        learning), in base units; default: the current values.
    ax : Axes, optional
    var : str
    limit : float, optional
        The colour scale's end, in base units (give two maps the same one to
        compare them); default: the largest magnitude shown.

    Returns
    -------
    ax : Axes
    """
    ax = _axes(ax)
    variable = synapses.variables[var]
    values = np.asarray(variable.get_value() if values is None else values, dtype=float)
    matrix = np.full((len(synapses.source), len(synapses.target)), np.nan)
    matrix[synapses.i[:], synapses.j[:]] = values
    limit = limit or float(np.nanmax(np.abs(matrix), initial=0.0)) or 1.0
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto",
                      interpolation="nearest")
    unit = repr(get_unit(variable.dim)) if variable.dim is not DIMENSIONLESS else ""
    ax.figure.colorbar(image, ax=ax, shrink=0.8,
                       label=f"{synapses.name}.{var}" + (f" ({unit})" if unit else ""))
    ax.set_xlabel(f"postsynaptic ({synapses.target.name})")
    ax.set_ylabel(f"presynaptic ({synapses.source.name})")
    _integer_ticks(ax.xaxis, ax.yaxis)
    return ax


def influence(learner, block=None, ax=None, rows=None):
    """
    Heat map of ``log10 |M|`` for one state variable: its units against the
    parameters (zero entries blank, parameter groups marked), the structure
    activity and parameter sparsity leave in the influence matrix.

    Parameters
    ----------
    learner : RTRL
    block : tuple, optional
        ``(group name, variable)``; default: the state variable with the
        most non-zero influences among the groups the loss does not read
        (the recurrent units, typically).
    ax : Axes, optional
    rows : ndarray, optional
        The block's rows to show (e.g. taken earlier with
        `RTRL.influence_rows`); default: the learner's current ones.

    Returns
    -------
    ax : Axes
    """
    ax = _axes(ax)
    if rows is None:
        block, rows = learner.influence_rows(block)
    magnitude = np.abs(rows)
    with np.errstate(divide="ignore"):
        image = ax.imshow(np.where(magnitude > 0, np.log10(magnitude), np.nan), aspect="auto",
                          interpolation="nearest", cmap="viridis")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="log10 |d state / d parameter|")
    density = np.count_nonzero(magnitude) / max(1, magnitude.size)
    ax.set_title(f"influence matrix, {block[0]}.{block[1]} rows ({density:.1%} non-zero)",
                 fontsize=9)
    params = learner.ir.params
    for param in params[1:]:
        ax.axvline(param.span.start - 0.5, color="k", linewidth=0.5)
    ax.set_xticks([(p.span.start + p.span.stop - 1) / 2 for p in params])
    ax.set_xticklabels([p.description for p in params], rotation=90, fontsize=6)
    ax.set_ylabel("unit")
    _integer_ticks(ax.yaxis)
    return ax


def dashboard(learner, monitors=(), record=None, target=None, weights_before=None,
              window=None, influence_block=None):
    """
    One figure with what there is to see of an online-learning run.

    Panels: spikes of every `SpikeMonitor` (last ``window``), the traces of
    every `StateMonitor` (with ``target``), the learning curve, the score per
    trial and activity / influence density (with ``record``), multiply-adds
    against the dense engine, the influence-matrix heat map, and recurrent
    weights before and after learning on one colour scale (with
    ``weights_before``).

    Parameters
    ----------
    learner : RTRL
    monitors : list of SpikeMonitor or StateMonitor
    record : TrainingRun, optional
    target : ndarray, optional
        ``(steps, n)`` target drawn under the last ``steps`` of the first
        `StateMonitor`.
    weights_before : (Synapses, str, ndarray), optional
        A synapse object, one of its variables and its values before learning.
    window : Quantity, optional
        Time shown of spikes and traces (default: the last 500 steps), with
        times counted from its start.
    influence_block : (tuple, ndarray), optional
        ``(block, rows)`` of the influence matrix to show instead of the
        learner's current one (which a new trial resets): e.g. taken at the
        end of training, before held-out trials.

    Returns
    -------
    figure : Figure
    """
    spike_monitors = [m for m in monitors if isinstance(m, SpikeMonitor)]
    state_monitors = [m for m in monitors if isinstance(m, StateMonitor)]
    panels = ["spikes"] * bool(spike_monitors) + ["traces"] * bool(state_monitors)
    # the influence matrix: on the runtime device (the binary keeps it to itself)
    panels += ["loss"] + ["score", "activity"] * (record is not None)
    panels += ["influence"] * (learner.engine is not None or influence_block is not None)
    panels += ["before", "after"] * (weights_before is not None) + ["operations"]
    rows = (len(panels) + 1) // 2
    figure = plt.figure(figsize=(12, 3.2 * rows), layout="constrained")
    grid = figure.add_gridspec(rows, 2)
    # two per row; an odd last panel (the per-step work) takes the whole row
    places = [grid[k // 2, k % 2] for k in range(len(panels) - len(panels) % 2)]
    places += [grid[rows - 1, :]] * (len(panels) % 2)
    window = 500 * learner.clock.dt if window is None else window
    end = learner.clock.t  # the learned network's clock
    start = max(end - window, 0 * end)
    limit = None
    if weights_before is not None:
        synapses, var, before = weights_before
        current = synapses.variables[var].get_value()
        limit = float(max(np.max(np.abs(before), initial=0.0),
                          np.max(np.abs(current), initial=0.0))) or None
    for place, panel in zip(places, panels):
        ax = figure.add_subplot(place)
        if panel == "spikes":
            spikes(spike_monitors, ax=ax, start=start, stop=end)
            ax.set_title("spikes", fontsize=10)
        elif panel == "traces":
            _traces(state_monitors[0], ax, start, target)
        elif panel == "loss":
            learning_curve(learner if record is None else record.loss, ax=ax)
            ax.set_title("loss per trial", fontsize=10)
        elif panel == "score":
            learning_curve(record.score, ax=ax, ylabel=record.score_name,
                           log=record.score_name != "accuracy")
            ax.set_title(f"{record.score_name} per training trial", fontsize=10)
        elif panel == "activity":
            activity(record, ax=ax)
            ax.set_title("activity and influence-matrix density", fontsize=10)
        elif panel == "operations":
            operations(learner, ax=ax, smooth=max(1, len(learner.history["loss"]) // 200))
            ax.set_title("multiply-adds on the influence matrix", fontsize=10, pad=18)
        elif panel == "influence":
            block, rows = influence_block or (None, None)
            influence(learner, block, ax=ax, rows=rows)
        else:
            weights(synapses, before if panel == "before" else None, ax=ax, var=var,
                    limit=limit)
            ax.set_title(f"{synapses.name}.{var} {panel} learning", fontsize=10)
    return figure


#: Traces of at most this many neurons get a legend entry each.
LEGEND_ENTRIES = 8


def _traces(monitor, ax, start, target):
    """A StateMonitor's first variable from ``start`` on, times counted from it, with
    the target under the last steps."""
    name = monitor.record_variables[0]
    origin = float(start / ms)
    times = np.asarray(monitor.t[:] / ms)
    values = np.asarray(getattr(monitor, name))  # (neurons, times)
    keep = times >= origin
    for k, trace in enumerate(values):
        ax.plot(times[keep] - origin, trace[keep], color=f"C{k % 10}", label=f"{name}[{k}]")
    if target is not None:
        target = np.asarray(target, dtype=float).reshape(len(target), -1)
        shown = times[-len(target):] - origin
        for k in range(target.shape[1]):
            ax.plot(shown, target[:, k], "--", color=f"C{k % 10}", alpha=0.8,
                    label=f"target[{k}]")
    ax.set_xlabel(f"time from {origin:g} ms (ms)")
    ax.set_title(f"{monitor.source.name}.{name}" + (" (dashed: target)" if target is not None
                                                    else ""), fontsize=10)
    if len(values) <= LEGEND_ENTRIES:
        ax.legend(frameon=False, fontsize=8)


def _integer_ticks(*axes):
    for axis in axes:  # neuron indices
        axis.set_major_locator(MaxNLocator(integer=True))


def _moving_average(values, width):
    values = np.asarray(values, dtype=float)
    if width <= 1 or len(values) < width:
        return values
    return np.convolve(values, np.ones(width) / width, mode="valid")


def _smoothed(values, width, first=0):
    """The moving average of ``values`` over ``width``, each mean placed at the last
    entry of its window (numbered from ``first``): ``(x, y)``."""
    averaged = _moving_average(values, width)
    return np.arange(len(values) - len(averaged), len(values)) + first, averaged
