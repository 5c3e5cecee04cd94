"""
Synaptic delays: queued events as state of the step map.

Brian2 delivers the event of a presynaptic spike at step ``t`` to a synapse of
delay ``d`` (``round(delay / dt)`` steps) at step ``t + d``, and runs ``on_pre``
then with the values of that step. So the increment at step ``t`` is
``z_pre(t - d) * f(..., t)``: the spikes of the last ``d`` steps are state. A
presynaptic group whose outgoing synapses reach ``D`` steps back gets the
pseudo state variables ``_z_d1 ... _z_dD`` (`rtrl_brian.ir.delayed_spike`), with
rows in the influence matrix like its spikes; a delay-line op at the start of
each step shifts them (``_z_d1 = _z``, ``_z_dk = _z_d(k-1)``), and a pathway
whose delays differ becomes one op per distinct delay. The engines store
delayed spike rows as they store spike rows: only units that were inside the
surrogate's support or spiked have them.
"""

import numpy as np
import sympy

from .ir import SPIKE, LocalOp, StepStart, delayed_spike

__all__ = ["delay_steps", "delay_line"]


def delay_steps(pathway, dt):
    """
    Each synapse's delay in steps, as Brian2's spike queue rounds it.

    Returns
    -------
    steps : ndarray of int or None
        None under a standalone device before its build (delays unknown).
    """
    try:
        delays = np.asarray(pathway.variables["delay"].get_value(), dtype=np.float64)
    except NotImplementedError:  # the binary's replay check reports delays there
        return None
    steps = np.round(delays / dt).astype(np.int64).reshape(-1)
    if steps.size == 1:  # a homogeneous delay is one value for all synapses
        return np.full(len(pathway.synapses), steps[0])
    return steps


def delay_line(group_ir, depth):
    """
    The op shifting ``group_ir``'s delayed spikes by one step, at the step's start.

    Parameters
    ----------
    group_ir : GroupIR
    depth : int
        How many steps back its synapses reach.

    Returns
    -------
    op : LocalOp
    """
    previous = [SPIKE] + [delayed_spike(k) for k in range(1, depth)]
    outputs = {delayed_spike(k + 1): sympy.Symbol(source, real=True)
               for k, source in enumerate(previous)}
    code = "; ".join(f"{target} = {value}" for target, value in outputs.items())
    return LocalOp("delay_line", StepStart(f"{group_ir.name}_delay_line"), group_ir, outputs,
                   code=code)
