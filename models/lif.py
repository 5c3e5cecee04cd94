"""
Leaky integrate-and-fire neurons (plain and adaptive) and a leaky linear readout.
"""

from brian2 import NeuronGroup, ms

__all__ = ["lif", "alif", "leaky_readout"]

_RESETS = {"subtract": "v -= v_th", "zero": "v = 0"}


def _refractory_flag(refractory):
    return " (unless refractory)" if refractory else ""


def _reset(reset):
    if reset not in _RESETS:
        raise ValueError(f"reset must be one of {sorted(_RESETS)}, got {reset!r}.")
    return _RESETS[reset]


def lif(n, tau=20 * ms, threshold=1.0, reset="subtract", refractory=None, name="lif*",
        dt=None):
    """
    Leaky integrate-and-fire neurons with a per-neuron (learnable) threshold.

    Equations::

        dv/dt = -v / tau_m : 1          (unless refractory, if refractory is given)
        v_th : 1 (constant)             initialised to ``threshold``
        spike when v > v_th; then v -= v_th (reset='subtract') or v = 0 (reset='zero')

    Inputs arrive as ``on_pre='v_post += w'``.

    Parameters
    ----------
    n : int
    tau : Quantity
        Membrane time constant.
    threshold : float
        Initial value of ``v_th``.
    reset : {'subtract', 'zero'}
    refractory : Quantity, optional
        Refractory period; while refractory, ``v`` is held and synaptic input is
        dropped (Brian2's semantics).
    name : str
    dt : Quantity, optional
        The group's time step (default: Brian2's ``defaultclock``).

    Returns
    -------
    group : NeuronGroup
        Integrated exactly (``method='exact'``).
    """
    group = NeuronGroup(n, f"""dv/dt = -v / tau_m : 1{_refractory_flag(refractory)}
                              v_th : 1 (constant)""",
                        threshold="v > v_th", reset=_reset(reset), method="exact",
                        refractory=refractory if refractory else False,
                        namespace={"tau_m": tau}, name=name, dt=dt)
    group.v_th = threshold
    return group


def alif(n, tau=20 * ms, tau_a=200 * ms, beta=0.07, threshold=1.0, refractory=None,
         name="alif*", dt=None):
    """
    Adaptive LIF neurons as in e-prop (Bellec et al., Nat. Commun. 11, 3625, 2020).

    Equations::

        dv/dt = -v / tau_m : 1          (unless refractory, if refractory is given)
        da/dt = -a / tau_adapt : 1
        v_th : 1 (constant)             base threshold, initialised to ``threshold``
        beta : 1 (constant)             adaptation strength
        spike when v > v_th + beta*a; then v -= v_th; a += 1

    As in e-prop, the reset subtracts the base threshold and every spike raises
    the adaptive part ``beta*a`` of the threshold, which decays with ``tau_a``.
    (Here the increment comes at the spike and decays from the next step on;
    e-prop's ``a_{t+1} = rho a_t + z_t`` adds it undecayed one step later.)

    Parameters
    ----------
    n : int
    tau, tau_a : Quantity
        Membrane and adaptation time constants.
    beta : float
    threshold : float
    refractory : Quantity, optional
    name : str
    dt : Quantity, optional
        The group's time step (default: Brian2's ``defaultclock``).

    Returns
    -------
    group : NeuronGroup
    """
    group = NeuronGroup(n, f"""dv/dt = -v / tau_m : 1{_refractory_flag(refractory)}
                              da/dt = -a / tau_adapt : 1
                              v_th : 1 (constant)
                              beta : 1 (constant)""",
                        threshold="v > v_th + beta*a", reset="v -= v_th\na += 1",
                        method="exact", refractory=refractory if refractory else False,
                        namespace={"tau_m": tau, "tau_adapt": tau_a}, name=name, dt=dt)
    group.v_th = threshold
    group.beta = beta
    return group


def leaky_readout(n, tau=20 * ms, name="readout*", dt=None):
    """
    Leaky linear readout ``dy/dt = -y / tau``, driven by ``on_pre='y_post += w'``.

    Parameters
    ----------
    n : int
    tau : Quantity
    name : str
    dt : Quantity, optional
        The group's time step (default: Brian2's ``defaultclock``).

    Returns
    -------
    group : NeuronGroup
    """
    return NeuronGroup(n, "dy/dt = -y / tau_out : 1", method="exact",
                       namespace={"tau_out": tau}, name=name, dt=dt)
