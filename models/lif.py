"""
Leaky integrate-and-fire neurons and a leaky linear readout.
"""

from brian2 import NeuronGroup, ms

__all__ = ["lif", "leaky_readout"]


def lif(n, tau=20 * ms, threshold=1.0, name="lif*"):
    """
    Leaky integrate-and-fire neurons, reset by subtraction.

    Equations::

        dv/dt = -v / tau : 1
        spike when v > threshold; then v -= threshold

    Parameters
    ----------
    n : int
    tau : Quantity
        Membrane time constant.
    threshold : float
    name : str

    Returns
    -------
    group : NeuronGroup
        Integrated exactly (``method='exact'``).
    """
    return NeuronGroup(n, "dv/dt = -v / tau_m : 1", threshold=f"v > {threshold!r}",
                       reset=f"v -= {threshold!r}", method="exact",
                       namespace={"tau_m": tau}, name=name)


def leaky_readout(n, tau=20 * ms, name="readout*"):
    """
    Leaky linear readout ``dy/dt = -y / tau``, driven by ``on_pre='y_post += w'``.

    Parameters
    ----------
    n : int
    tau : Quantity
    name : str

    Returns
    -------
    group : NeuronGroup
    """
    return NeuronGroup(n, "dy/dt = -y / tau_out : 1", method="exact",
                       namespace={"tau_out": tau}, name=name)
