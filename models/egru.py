"""
Event-based GRU (EGRU) units and their synapses, as a discrete-time Brian2 model.
"""

from brian2 import NeuronGroup, Synapses

__all__ = ["egru", "egru_synapses"]

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


def egru(n, theta=0.5, name="egru*", dt=None):
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
    theta : float
        Initial per-unit threshold (learnable: ``group.theta``).
    name : str
    dt : Quantity, optional
        The group's time step (default: Brian2's ``defaultclock``).

    Returns
    -------
    group : NeuronGroup
        With learnable per-unit biases ``b_u``, ``b_r``, ``b_z`` and threshold ``theta``.
    """
    group = NeuronGroup(n, _EQUATIONS, threshold="c > theta", reset="y_last = c", name=name,
                        dt=dt)
    group.run_regularly(_UPDATE, when="start", name=f"{group.name}_update")
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
