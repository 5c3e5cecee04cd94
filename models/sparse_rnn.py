"""
Activity-sparse rate RNN: thresholded tanh units communicating graded events.
"""

from brian2 import NeuronGroup, Synapses

__all__ = ["sparse_rnn", "sparse_rnn_synapses"]


def sparse_rnn(n, theta=0.1, name="sparse_rnn*", dt=None):
    """
    Thresholded ``tanh`` units, the activity-sparse vanilla RNN of Subramoney,
    "Efficient Real Time Recurrent Learning through combined activity and
    parameter sparsity" (ICLR 2023 workshop, arXiv:2303.05641).

    One time step (``dt``) is one step of the network::

        h_t = tanh(in_h + b)            in_h: input accumulated during the previous step
        y_t = h_t * H(h_t - theta)      graded event, sent only when h_t > theta

    Synapses read ``h_pre`` (`sparse_rnn_synapses`); there is no reset.

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
        With learnable per-unit bias ``b`` and threshold ``theta``.
    """
    group = NeuronGroup(n, """h : 1
                              in_h : 1
                              b : 1 (constant)
                              theta : 1 (constant)""", threshold="h > theta", name=name,
                        dt=dt)
    group.run_regularly("h = tanh(in_h + b)\nin_h = 0", when="start", name=f"{group.name}_update")
    group.theta = theta
    return group


def sparse_rnn_synapses(source, target, value="h", name="sparse_rnn_synapses*", dt=None):
    """
    Synapses ``in_h_post += w * value_pre`` into `sparse_rnn` units.

    Parameters
    ----------
    source : NeuronGroup
        `sparse_rnn` units (``value='h'``) or an input group firing every step.
    target : NeuronGroup
    value : str or None
        The presynaptic variable sent; None for spikes (``in_h_post += w``).
    name : str
    dt : Quantity, optional
        The synapses' time step, that of the groups they join (default:
        Brian2's ``defaultclock``).

    Returns
    -------
    synapses : Synapses
        Not yet connected.
    """
    sent = "" if value is None else f" * {value}_pre"
    return Synapses(source, target, "w : 1", on_pre=f"in_h_post += w{sent}", name=name,
                    dt=dt)
