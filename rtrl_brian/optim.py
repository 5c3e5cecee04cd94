"""
Optimizers: update learned Brian2 variables in place from their gradients.
"""

import numpy as np

__all__ = ["SGD", "Adam"]


def _check_lr(owner, lr):
    lr = float(lr)
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"{owner}: 'lr' must be a positive number, got {lr}.")
    return lr


class SGD:
    """
    Stochastic gradient descent with optional momentum.

    Parameters
    ----------
    lr : float
        Learning rate.
    momentum : float, optional
        Momentum coefficient in ``[0, 1)``.
    """

    def __init__(self, lr=1e-2, momentum=0.0):
        self.lr = _check_lr("SGD", lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"SGD: 'momentum' must be in [0, 1), got {momentum}.")
        self.momentum = float(momentum)
        self._velocity = None

    def step(self, params, grads):
        """
        Update ``params`` (arrays, changed in place) with ``grads``.
        """
        if self._velocity is None:
            self._velocity = [np.zeros_like(g) for g in grads]
        for value, grad, velocity in zip(params, grads, self._velocity):
            velocity *= self.momentum
            velocity += grad
            value -= self.lr * velocity

    def forget(self, index, mask):
        """Clear the momentum of entries ``mask`` of parameter ``index``."""
        if self._velocity is not None:
            self._velocity[index][mask] = 0.0


class Adam:
    """
    Adam (Kingma & Ba, 2015).

    Parameters
    ----------
    lr : float
        Learning rate.
    betas : tuple of float
        Decay rates of the first and second moment estimates.
    eps : float
        Added to the denominator.
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.lr = _check_lr("Adam", lr)
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"Adam: 'betas' must lie in [0, 1), got {betas}.")
        self.betas = tuple(float(b) for b in betas)
        self.eps = float(eps)
        self._moments = None
        self._count = 0

    def step(self, params, grads):
        """
        Update ``params`` (arrays, changed in place) with ``grads``.
        """
        if self._moments is None:
            self._moments = [(np.zeros_like(g), np.zeros_like(g)) for g in grads]
        self._count += 1
        beta1, beta2 = self.betas
        scale1 = 1 - beta1 ** self._count
        scale2 = 1 - beta2 ** self._count
        for value, grad, (first, second) in zip(params, grads, self._moments):
            first *= beta1
            first += (1 - beta1) * grad
            second *= beta2
            second += (1 - beta2) * grad * grad
            value -= self.lr * (first / scale1) / (np.sqrt(second / scale2) + self.eps)

    def forget(self, index, mask):
        """Clear the moment estimates of entries ``mask`` of parameter ``index``."""
        if self._moments is not None:
            for moment in self._moments[index]:
                moment[mask] = 0.0
