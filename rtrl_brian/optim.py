"""
Optimizers: update learned Brian2 variables in place from their gradients.

A new optimizer is one class: derive from `Optimizer` and give ``step`` and
``forget`` (numpy); for the learner inside Brian2's C++ standalone binary also
``c_state_arrays``, ``c_prepare`` and ``c_update`` (its C form).
"""

import numpy as np

from .cforms import render
from .errors import NotCompilable

__all__ = ["Optimizer", "SGD", "Adam"]


def _check_lr(owner, lr):
    lr = float(lr)
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"{owner}: 'lr' must be a positive number, got {lr}.")
    return lr


def _check_groups(owner, groups):
    """``groups`` as a list of ``(variable, rate)``."""
    if groups is None:
        return []
    if not isinstance(groups, dict):
        raise TypeError(f"{owner}: 'groups' must be a dict mapping learned variables to their "
                        f"learning rates, e.g. {{S.w: 1e-6}}, got {type(groups).__name__}.")
    return [(var, _check_lr(owner, rate)) for var, rate in groups.items()]


class Optimizer:
    """
    Base class: a learning rate, and rates of their own for some parameters
    (parameter groups, as in torch).

    Parameters
    ----------
    lr : float
        Learning rate.
    groups : dict, optional
        Learning rates of their own for some parameters.

    Notes
    -----
    Subclasses define ``step(params, grads, rates)`` and ``forget(index,
    mask)``. Their C form, used inside the C++ standalone binary (with one
    learning rate), is ``c_state_arrays`` (how many float64 values it keeps
    per parameter entry), ``c_prepare(count)`` and ``c_update(value, gradient,
    state)``.
    """

    #: Values the C form keeps per parameter entry (e.g. Adam's two moments).
    c_state_arrays = 0

    def __init__(self, lr, groups=None):
        name = type(self).__name__
        self.lr = _check_lr(name, lr)
        #: ``(variable, rate)`` pairs: parameters with a learning rate of their own.
        self.groups = _check_groups(name, groups)

    def rates(self, labels, label_of):
        """
        The learning rate of each parameter.

        Parameters
        ----------
        labels : list of str
            The learner's parameters, in order.
        label_of : callable
            ``label_of(variable)``: the label of a variable in ``groups`` (raises
            `KeyError` for one the learner does not learn).

        Returns
        -------
        rates : list of float
        """
        own = {label_of(var): rate for var, rate in self.groups}
        return [own.get(label, self.lr) for label in labels]

    def step(self, params, grads, rates=None):
        """
        Update ``params`` (arrays, changed in place) with ``grads``, each at its
        rate (default: ``lr`` for all).
        """
        raise NotImplementedError(f"{type(self).__name__} defines no step.")

    def forget(self, index, mask):
        """Clear the state kept for entries ``mask`` of parameter ``index`` (pruned)."""

    def c_prepare(self, count):
        """
        C statements run once per update, before the entries are updated.

        Parameters
        ----------
        count : str
            C expression: the number of updates so far, this one included.
        """
        return ""

    def c_update(self, value, gradient, state):
        """
        C statements updating one parameter entry.

        Parameters
        ----------
        value : str
            The entry (a C lvalue, double).
        gradient : str
            Its gradient (C expression).
        state : list of str
            The entry's ``c_state_arrays`` values (C lvalues, double, zero at first).

        Returns
        -------
        code : str
        """
        raise NotCompilable(f"the optimizer {type(self).__name__} (it has no C form; define "
                            f"c_update)")


_RATE_DOC = """
    groups : dict, optional
        Learning rates of their own for some parameters, in the parameters' base
        units per unit of gradient, e.g. ``{S.w: 1e-6}`` for a weight in volts
        next to unitless ones. Steps change a parameter by about its rate (Adam)
        or rate times gradient (SGD), so give each its own scale."""


class SGD(Optimizer):
    __doc__ = """
    Stochastic gradient descent with optional momentum.

    Parameters
    ----------
    lr : float
        Learning rate.
    momentum : float, optional
        Momentum coefficient in ``[0, 1)``.""" + _RATE_DOC + """
    """

    c_state_arrays = 1  # the velocity

    def __init__(self, lr=1e-2, momentum=0.0, groups=None):
        super().__init__(lr, groups)
        if not 0 <= momentum < 1:
            raise ValueError(f"SGD: 'momentum' must be in [0, 1), got {momentum}.")
        self.momentum = float(momentum)
        self._velocity = None

    def step(self, params, grads, rates=None):
        if self._velocity is None:
            self._velocity = [np.zeros_like(g) for g in grads]
        rates = rates or [self.lr] * len(params)
        for value, grad, velocity, rate in zip(params, grads, self._velocity, rates):
            velocity *= self.momentum
            velocity += grad
            value -= rate * velocity

    def forget(self, index, mask):
        """Clear the momentum of entries ``mask`` of parameter ``index``."""
        if self._velocity is not None:
            self._velocity[index][mask] = 0.0

    def c_update(self, value, gradient, state):
        return render("optimizer_sgd", value=value, gradient=gradient, velocity=state[0],
                      lr=self.lr, momentum=self.momentum)


class Adam(Optimizer):
    __doc__ = """
    Adam (Kingma & Ba, 2015).

    Parameters
    ----------
    lr : float
        Learning rate.
    betas : tuple of float
        Decay rates of the first and second moment estimates.
    eps : float
        Added to the denominator.""" + _RATE_DOC + """
    """

    c_state_arrays = 2  # the first and second moments

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, groups=None):
        super().__init__(lr, groups)
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"Adam: 'betas' must lie in [0, 1), got {betas}.")
        self.betas = tuple(float(b) for b in betas)
        self.eps = float(eps)
        self._moments = None
        self._count = 0

    def step(self, params, grads, rates=None):
        if self._moments is None:
            self._moments = [(np.zeros_like(g), np.zeros_like(g)) for g in grads]
        self._count += 1
        beta1, beta2 = self.betas
        scale1 = 1 - beta1 ** self._count
        scale2 = 1 - beta2 ** self._count
        rates = rates or [self.lr] * len(params)
        for value, grad, (first, second), rate in zip(params, grads, self._moments, rates):
            first *= beta1
            first += (1 - beta1) * grad
            second *= beta2
            second += (1 - beta2) * grad * grad
            value -= rate * (first / scale1) / (np.sqrt(second / scale2) + self.eps)

    def forget(self, index, mask):
        """Clear the moment estimates of entries ``mask`` of parameter ``index``."""
        if self._moments is not None:
            for moment in self._moments[index]:
                moment[mask] = 0.0

    def c_prepare(self, count):
        return render("optimizer_adam_prepare", count=count, beta1=self.betas[0],
                      beta2=self.betas[1])

    def c_update(self, value, gradient, state):
        return render("optimizer_adam", value=value, gradient=gradient, first=state[0],
                      second=state[1], lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
                      eps=self.eps)
