"""
Plots: array-level functions that return matplotlib Axes (``ax=None`` makes one).
"""

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["raster", "learning_curve", "readout_vs_target", "operations"]


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


def learning_curve(losses, ax=None, smooth=10, **kwds):
    """
    Loss per trial, raw and smoothed (moving average over ``smooth`` trials).

    Parameters
    ----------
    losses : array-like or RTRL
        Per-trial losses, or a learner (its ``history['trial_loss']``).
    ax : Axes, optional
    smooth : int
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
    trials = np.arange(1, len(losses) + 1)
    ax.plot(trials, losses, alpha=0.4, label="per trial", **kwds)
    if len(losses) >= smooth > 1:
        kernel = np.ones(smooth) / smooth
        ax.plot(trials[smooth - 1:], np.convolve(losses, kernel, mode="valid"),
                label=f"mean of {smooth}")
    ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel("loss")
    ax.legend()
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
    done = _moving_average(history["multiply_adds"], smooth)
    dense = _moving_average(history["multiply_adds_dense"], smooth)
    active = _moving_average(history["active_fraction"], smooth)
    ax = _axes(ax)
    steps = np.arange(len(done))
    ax.plot(steps, dense, "k--", label="dense engine")
    ax.plot(steps, done, label=f"{getattr(learner, 'engine_name', 'engine')} engine")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("multiply-adds per step")
    ax.legend(loc="center left", frameon=False)
    twin = ax.twinx()
    twin.plot(steps, 100 * active, color="tab:orange", alpha=0.6)
    twin.set_ylabel("active units (%): in surrogate support or sending", color="tab:orange")
    twin.set_ylim(0, max(1.0, 110 * float(np.max(active, initial=0.0))))
    return ax


def _moving_average(values, width):
    values = np.asarray(values, dtype=float)
    if width <= 1 or len(values) < width:
        return values
    return np.convolve(values, np.ones(width) / width, mode="valid")
