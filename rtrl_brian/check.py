"""
`check_gradients`: compare RTRL with BPTT on a user's own network.
"""

import pathlib
import runpy
from dataclasses import dataclass, field

import numpy as np
from brian2 import BrianObject, Network, collect, ms
from brian2.core.namespace import get_local_namespace

from .bptt import BPTT
from .observer import StepObserver
from .rtrl import RTRL

__all__ = ["GradientCheck", "check_gradients", "check_script"]


@dataclass
class GradientCheck:
    """
    Result of `check_gradients`.

    Attributes
    ----------
    rtrl, bptt : dict
        Parameter label to gradient.
    errors : dict
        Parameter label to ``max|rtrl - bptt| / max|bptt|`` (absolute where
        the BPTT gradient is zero).
    descriptions : dict
        Parameter label to what is printed: the label, and for synapses the
        groups they connect (``'synapses_1.w (rec -> out)'``).
    """

    rtrl: dict
    bptt: dict
    errors: dict
    descriptions: dict = field(default_factory=dict)

    @property
    def max_error(self):
        return max(self.errors.values())

    def __str__(self):
        names = {label: self.descriptions.get(label, label) for label in self.errors}
        width = max(len(name) for name in names.values())
        lines = [f"{'parameter':<{width}}  relative error (RTRL vs BPTT)"]
        for label, error in self.errors.items():
            zero = not np.any(self.bptt[label]) and not np.any(self.rtrl[label])
            lines.append(f"{names[label]:<{width}}  {error:.3e}"
                         + ("  (both gradients are zero: nothing to compare)" if zero else ""))
        return "\n".join(lines)


def check_gradients(params, loss, duration, surrogate=None, detach_reset=False, network=None,
                    engine="sparse", namespace=None):
    """
    Run a network briefly with RTRL and BPTT side by side and compare gradients.

    The network's state (time included) is stored before and restored after
    the run, so the check leaves it as it was, and ``run()`` can follow.
    Learners already in the network are paused during the check: their
    influence matrices, gradients and parameters are left as they were.

    Parameters
    ----------
    params : list of VariableView
    loss : MSE or CrossEntropy
    duration : Quantity
        How long to run, e.g. ``20*ms``.
    surrogate : Triangle, optional
    detach_reset : bool, optional
    network : Network, optional
        The network to run; default: the Brian2 objects visible in the caller
        (like ``run()``).
    engine : {'sparse', 'dense'}, optional
        The RTRL engine to check.
    namespace : dict, optional
        External names (as for ``run``); default: the caller's namespace.

    Returns
    -------
    result : GradientCheck
    """
    namespace = get_local_namespace(level=1) if namespace is None else namespace
    rtrl = RTRL(params, loss, surrogate=surrogate, detach_reset=detach_reset, engine=engine,
                name="check_rtrl*", namespace=namespace)
    bptt = BPTT(params, loss, surrogate=surrogate, detach_reset=detach_reset, name="check_bptt*",
                namespace=namespace)
    if network is not None:
        objects, net = list(network.objects), network
    else:
        objects, net = list(collect(level=1)), None
    # learners already attached must not learn from the check's run: paused meanwhile
    paused = [obj for obj in objects if isinstance(obj, StepObserver) and obj.active]
    # which network each object belongs to: restored so `run()` goes on after the check
    membership = {obj: obj._network for obj in _with_contained(objects)}
    if net is None:
        for obj in membership:  # objects already run by `run()` may join the check's network
            obj._network = None
        net = Network(*objects)
    net.add(rtrl, bptt)
    net.store("_rtrl_brian_check")
    for learner in paused:
        learner.active = False
    try:
        net.run(duration, namespace=namespace)
        rtrl_grads = {p.label: rtrl.gradient(view) for p, view in zip(rtrl.ir.params, params)}
        bptt_grads = {p.label: bptt.gradient(view) for p, view in zip(bptt.ir.params, params)}
    finally:
        net.restore("_rtrl_brian_check")
        net.remove(rtrl, bptt)
        for obj, network_id in membership.items():
            obj._network = network_id
        for learner in paused:
            learner.active = True
    errors = {}
    for label, reference in bptt_grads.items():
        scale = np.max(np.abs(reference), initial=0.0)
        difference = np.max(np.abs(rtrl_grads[label] - reference), initial=0.0)
        errors[label] = difference / scale if scale > 0 else difference
    return GradientCheck(rtrl_grads, bptt_grads, errors,
                         {p.label: p.description for p in rtrl.ir.params})


def _with_contained(objects):
    """The objects and, recursively, the objects they contain (as Network.add sees them)."""
    found = []
    for obj in objects:
        found.append(obj)
        found.extend(_with_contained(obj.contained_objects))
    return found


def check_script(path, engine="sparse"):
    """
    Run a user's script and check the gradients of the network it builds.

    The script is executed as a module. It must define ``params`` (the
    variables to learn) and ``loss``; it may define ``duration`` (default
    ``50*ms``), ``surrogate``, ``detach_reset`` and ``network`` (default: the
    Brian2 objects among its top-level names, also inside lists and tuples).

    Parameters
    ----------
    path : str or Path
    engine : {'sparse', 'dense'}

    Returns
    -------
    result : GradientCheck
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"check: no script at '{path}'.")
    namespace = runpy.run_path(str(path), run_name="__rtrl_brian_check__")
    missing = [name for name in ("params", "loss") if name not in namespace]
    if missing:
        raise ValueError(f"check: '{path}' must define {' and '.join(repr(m) for m in missing)} "
                         f"(the variables to learn and an rtrl_brian loss).")
    network = namespace.get("network")
    if network is None:
        objects = []
        for value in namespace.values():
            for item in (value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(item, BrianObject) and item not in objects:
                    objects.append(item)
        network = Network(*objects)
    return check_gradients(namespace["params"], namespace["loss"],
                           namespace.get("duration", 50 * ms),
                           surrogate=namespace.get("surrogate"),
                           detach_reset=namespace.get("detach_reset", False), network=network,
                           engine=engine, namespace=namespace)
