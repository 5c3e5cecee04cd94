"""
Analog inputs as events: a group that sends its current value every step.
"""

import numpy as np
from brian2 import NeuronGroup, TimedArray, defaultclock

__all__ = ["analog_input"]


def analog_input(values, dt=None, name="analog_input*"):
    """
    One unit per input channel, each emitting an event every step that carries
    ``x``, the channel's value at that step.

    Synapses read it as ``x_pre`` (``egru_synapses(..., value='x',
    recurrent=False)``, ``sparse_rnn_synapses(..., value='x')``, or any
    ``on_pre='... += w * x_pre'``). Values are read from a `TimedArray` by a
    ``run_regularly`` block at the start of the step; after the last row the
    last value is held (Brian2's `TimedArray` semantics).

    Parameters
    ----------
    values : array-like
        ``(steps, channels)``.
    dt : Quantity, optional
        Duration of one row, and the group's time step (default: Brian2's
        ``defaultclock``).
    name : str

    Returns
    -------
    group : NeuronGroup
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"analog_input: 'values' must be (steps, channels), got shape "
                         f"{values.shape}.")
    stimulus = TimedArray(values, dt=defaultclock.dt if dt is None else dt)
    group = NeuronGroup(values.shape[1], "x : 1", threshold="True",
                        namespace={"stimulus": stimulus}, name=name, dt=dt)
    group.run_regularly("x = stimulus(t, i)", when="start", name=f"{group.name}_read")
    return group
