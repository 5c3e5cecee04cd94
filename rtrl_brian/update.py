"""
The learner's parameter update: the optimizer's step on Brian2's own arrays, made safe.

`ParameterUpdate` clips the accumulated gradient, runs the optimizer (with a
learning rate per parameter where the optimizer has groups), projects onto the
bounds, holds pruned entries at zero, undoes an update that left anything
non-finite, and warns once per parameter about a change out of proportion to it.
"""

import numpy as np
from brian2 import DimensionMismatchError, Quantity, get_logger, second
from brian2.units.fundamentalunits import get_dimensions

__all__ = ["ParameterUpdate", "non_finite"]

logger = get_logger(__name__)


def non_finite(name, params, what, per_parameter, when, where):
    """
    A `FloatingPointError` naming the first non-finite entry of a per-parameter vector.

    Parameters
    ----------
    name : str
        The learner's name.
    params : list of ParamIR
    what : str
        What holds the value, e.g. ``'the gradient of'``.
    per_parameter : ndarray
    when : str
        When learning stopped, e.g. ``'before it was used'``.
    where : str
        The step, for the message.
    """
    index = int(np.flatnonzero(~np.isfinite(per_parameter))[0])
    param = next(p for p in params if p.span.start <= index < p.span.stop)
    return FloatingPointError(
        f"{name}: at {where} {what} '{param.label}' (entry {index - param.span.start}) is "
        f"{per_parameter[index]}. Learning stopped {when}; the parameters keep their last "
        f"finite values (lower the learning rate, clip gradients with clip_grad_norm, or "
        f"check the loss and its target).")


def bound(name, param, low, high):
    """
    ``(low, high)`` of ``param`` in base units (None: unbounded), checked against its units.

    Raises
    ------
    DimensionMismatchError, ValueError
    """
    dimensions = param.owner.variables[param.name].dim
    limits = []
    for limit in (low, high):
        if limit is not None and not (get_dimensions(limit) is dimensions or
                                      (np.all(np.asarray(limit) == 0)
                                       and not isinstance(limit, Quantity))):
            raise DimensionMismatchError(
                f"{name}: the bound {limit!r} of '{param.label}' does not have its units",
                get_dimensions(limit), dimensions)
        limits.append(None if limit is None else float(np.asarray(limit)))
    if limits[0] is not None and limits[1] is not None and limits[0] > limits[1]:
        raise ValueError(f"{name}: the bounds of '{param.label}' are reversed: "
                         f"{low!r} > {high!r}.")
    return tuple(limits)


class ParameterUpdate:
    """
    One update of the learned parameters from the gradient accumulated since the last.

    Parameters
    ----------
    name : str
        The learner's name, for messages.
    params : list of ParamIR
    rates : list of float, optional
        A learning rate per parameter (the optimizer's groups); None: its own.
    bounds : list, optional
        ``(ParamIR, (low, high))`` pairs as given to `RTRL` (Quantities or
        numbers, None for no bound).
    clip_grad_norm : float, optional
    """

    def __init__(self, name, params, rates=None, bounds=None, clip_grad_norm=None):
        self.name, self.params, self.rates = name, params, rates
        #: ``(parameter index, low, high)`` in base units, applied after each update.
        self.bounds = [(params.index(param), *bound(name, param, low, high))
                       for param, (low, high) in bounds or []]
        self.clip_grad_norm = clip_grad_norm
        self._warned = set()  # labels of parameters an update warning named

    def __call__(self, optimizer, pending, learnable, where):
        """
        Update the parameters in place from ``pending`` (one entry per column).

        Parameters
        ----------
        optimizer : Optimizer
            The learner's (which may change between updates).
        pending : ndarray
            The gradient accumulated since the last update (not changed).
        learnable : ndarray of bool
            False for pruned entries, held at zero.
        where : str
            The step the update belongs to, for messages.

        Raises
        ------
        FloatingPointError
            The update left a parameter non-finite; it was undone.
        """
        values = [p.values() for p in self.params]
        if self.clip_grad_norm is not None:
            norm = float(np.linalg.norm(pending))
            if norm > self.clip_grad_norm:
                pending = pending * (self.clip_grad_norm / norm)
        grads = [pending[p.span].reshape(np.shape(v)) for p, v in zip(self.params, values)]
        before = [np.array(v) for v in values]
        if self.rates is None:
            optimizer.step(values, grads)
        else:
            optimizer.step(values, grads, self.rates)
        for index, low, high in self.bounds:
            np.clip(values[index], low, high, out=values[index])
        if not all(np.all(np.isfinite(value)) for value in values):
            updated = np.concatenate([np.ravel(v) for v in values])
            for value, old in zip(values, before):
                value[...] = old
            raise non_finite(self.name, self.params, "the update made", updated,
                             "and the update was undone", where)
        if not learnable.all():  # pruned parameters stay at zero
            for param, value in zip(self.params, values):
                value[~learnable[param.span]] = 0.0
        for param, value, old in zip(self.params, values, before):
            if param.label not in self._warned:
                self._check(param, value, old, where)

    def _check(self, param, value, old, where):
        """
        Warn (once per parameter) about an update out of proportion to the parameter:
        a change of more than ten times its largest value (a learning rate made for
        values of order 1, applied to nanosiemens), or a time constant that was
        positive and is no longer.
        """
        dim = param.owner.variables[param.name].dim
        scale = float(np.max(np.abs(old), initial=0.0))
        change = float(np.max(np.abs(value - old), initial=0.0))
        if dim is second.dim and np.all(old > 0) and np.any(value <= 0):
            message = (f"an update made the time constant '{param.description}' "
                       f"{Quantity(float(np.min(value)), dim=dim)}: give it bounds "
                       f"(bounds={{G.{param.name}: (1*ms, None)}} with G the group "
                       f"'{param.owner.name}'), or a smaller learning rate.")
        elif scale > 0 and change > 10 * scale:
            message = (f"one update changed '{param.description}' by {change / scale:.3g} times "
                       f"its largest value ({Quantity(scale, dim=dim)}): the optimizer's "
                       f"learning rate suits values of order 1. Give it a rate of its own, about "
                       f"{scale:.0e} times the current one (optimizer groups=), or bounds.")
        else:
            return
        self._warned.add(param.label)
        logger.warn(f"{self.name} at {where}: {message}", name_suffix="large_update")
