"""
Event-based GRU (EGRU) units and their synapses, as a discrete-time Brian2 model.
"""

import numpy as np
from brian2 import NeuronGroup, Synapses

__all__ = ["egru", "egru_synapses", "beta_thresholds"]

_EQUATIONS = """c : 1          # internal state
                u : 1          # update gate
                r : 1          # reset gate
                y_last : 1     # event sent at the previous step (c at the event, else 0)
                in_u : 1       # input accumulators, filled by on_pre, emptied each step
                in_r : 1
                in_zx : 1      # feed-forward input of the candidate
                in_zh : 1      # recurrent input of the candidate (gated by r)
                b_u : 1 (constant)
                b_r : 1 (constant)
                b_z : 1 (constant)
                theta : 1 (constant)"""

_UPDATE = """u = 1 / (1 + exp(-(in_u + b_u)))
r = 1 / (1 + exp(-(in_r + b_r)))
c = u * tanh(in_zx + r * in_zh + b_z) + (1 - u) * c - y_last
y_last = 0
in_u = 0
in_r = 0
in_zx = 0
in_zh = 0"""


def egru(n, theta=0.5, events=False, name="egru*", dt=None):
    """
    Event-based GRU units (Subramoney et al., "Efficient recurrent architectures
    through activity sparsity and sparse back-propagation through time",
    ICLR 2023).

    One time step (``dt``) is one step of the recurrent network::

        u_t = sigmoid(in_u + b_u)                      update gate
        r_t = sigmoid(in_r + b_r)                      reset gate
        z_t = tanh(in_zx + r_t * in_zh + b_z)          candidate
        c_t = u_t * z_t + (1 - u_t) * c_{t-1} - y_{t-1}
        y_t = c_t * H(c_t - theta)                     graded event, sent only when c_t > theta

    The update is a ``run_regularly`` block at the start of the step; the
    threshold ``c > theta`` emits the event, whose value ``c`` synapses read as
    ``c_pre`` (`egru_synapses`); the reset stores it in ``y_last`` so that the
    next update subtracts it (reset by subtraction). Inputs accumulate in
    ``in_u``, ``in_r``, ``in_zx`` (feed-forward) and ``in_zh`` (recurrent)
    during a step and act at the next one. Following the "reset-after" GRU
    variant (as in cuDNN), the reset gate scales the summed recurrent input of
    the candidate rather than each presynaptic event.

    Parameters
    ----------
    n : int
    theta : float or array
        Initial per-unit threshold (learnable: ``group.theta``); e.g.
        `beta_thresholds`, the EGRU papers' initialisation.
    events : bool
        Also keep ``event``: 1 at a step the unit sent an event, else 0 (set to 0
        by the update, to 1 by the reset), for an activity regulariser
        (`rtrl_brian.losses.ActivityRegularizer` on ``group.event``). Its rows
        follow the spike through the surrogate.
    name : str
    dt : Quantity, optional
        The group's time step (default: Brian2's ``defaultclock``).

    Returns
    -------
    group : NeuronGroup
        With learnable per-unit biases ``b_u``, ``b_r``, ``b_z`` and threshold ``theta``.
    """
    equations, update, reset = _EQUATIONS, _UPDATE, "y_last = c"
    if events:
        equations += "\nevent : 1  # 1 at a step the unit sent an event, else 0"
        update += "\nevent = 0"
        reset += "\nevent = 1"
    group = NeuronGroup(n, equations, threshold="c > theta", reset=reset, name=name, dt=dt)
    group.run_regularly(update, when="start", name=f"{group.name}_update")
    group.theta = theta
    return group


def egru_synapses(source, target, value="c", recurrent=True, name="egru_synapses*", dt=None):
    """
    Synapses into EGRU units: one weight per gate (``w_u``, ``w_r``, ``w_z``).

    Each event of ``source`` sends its graded value ``value_pre`` to the three
    accumulators of the postsynaptic unit::

        in_u_post += w_u * value_pre
        in_r_post += w_r * value_pre
        in_zh_post += w_z * value_pre     (recurrent=True; in_zx_post otherwise)

    Parameters
    ----------
    source : NeuronGroup
        EGRU units (``value='c'``) or an input group whose every step is an
        event (``threshold='True'``) carrying its value (e.g. ``value='x'``).
    target : NeuronGroup
        EGRU units.
    value : str or None
        The presynaptic variable sent with each event; None for spikes
        (each event counts 1: ``in_u_post += w_u``, ...).
    recurrent : bool
        Whether the candidate input is recurrent (gated by the reset gate).
    name : str
    dt : Quantity, optional
        The synapses' time step, that of the groups they join (default:
        Brian2's ``defaultclock``).

    Returns
    -------
    synapses : Synapses
        Not yet connected: call ``connect``.
    """
    candidate = "in_zh" if recurrent else "in_zx"
    sent = "" if value is None else f" * {value}_pre"
    return Synapses(source, target, "w_u : 1\nw_r : 1\nw_z : 1",
                    on_pre=f"in_u_post += w_u{sent}\n"
                           f"in_r_post += w_r{sent}\n"
                           f"{candidate}_post += w_z{sent}", name=name, dt=dt)


def beta_thresholds(n, mean=0.3, rng=None):
    """
    Initial EGRU thresholds as the EGRU papers draw them: from a Beta
    distribution ``Beta(a, 3)`` with ``a = 3 * mean / (1 - mean)``, so that
    they lie in (0, 1) around ``mean`` (the reference implementation's
    default ``mean`` is 0.3; its language models use 0.2).

    Parameters
    ----------
    n : int
    mean : float
        In (0, 1).
    rng : numpy.random.Generator, optional

    Returns
    -------
    theta : ndarray
    """
    if not 0.0 < mean < 1.0:
        raise ValueError(f"'mean' must lie in (0, 1), got {mean}.")
    rng = np.random.default_rng() if rng is None else rng
    return rng.beta(3.0 * mean / (1.0 - mean), 3.0, n)
