"""
`BPTT`: offline backpropagation through time over the same compiled map.

The baseline RTRL is compared with. It records every op's linearization while
the network runs (memory grows with the number of steps) and propagates an
adjoint backward when the gradient is requested.
"""

import numpy as np

from .observer import StepObserver

__all__ = ["BPTT"]


class BPTT(StepObserver):
    """
    Gradients by reverse-mode differentiation of the recorded run.

    Parameters
    ----------
    params, loss, surrogate, detach_reset
        As for `RTRL`.
    name : str, optional
    namespace : dict, optional
        External names for compilation; default: the caller's namespace.

    Notes
    -----
    `reset_state` marks a trial boundary: the gradient path is cut there, as
    RTRL's influence matrix is zeroed.
    """

    def __init__(self, params, loss, surrogate=None, detach_reset=False, name="bptt*", namespace=None):
        super().__init__(params, loss, surrogate, detach_reset, name=name,
                         namespace=namespace, level=1)
        self._tape = []
        self._grad = None

    def _consume(self, linearizations, loss, dlosses):
        self._tape.append((linearizations, dlosses))
        self._grad = None

    def reset_state(self):
        """Cut the gradient path: earlier steps no longer influence later ones."""
        self._tape.append(None)
        self._grad = None
        super().reset_state()

    def zero_grad(self):
        """Forget the recorded run."""
        self._tape = []
        self._grad = None

    def _learning_state(self):
        return {"tape": self._tape}

    def _load_learning_state(self, state):
        self._tape = state["tape"]
        self._grad = None

    @property
    def tape_nbytes(self):
        """Bytes held by the recorded linearizations (grows with the steps run)."""
        total = 0
        for entry in self._tape:
            if entry is not None:
                linearizations, dlosses = entry
                total += sum(np.asarray(dloss).nbytes for _, dloss in dlosses) + \
                    sum(lin.nbytes for lin in linearizations)
        return total

    def _backward(self):
        adjoint = np.zeros(self.layout.n_rows)
        grad = np.zeros(self.ir.n_params)
        for entry in reversed(self._tape):
            if entry is None:
                adjoint[:] = 0.0
                continue
            linearizations, dlosses = entry
            for block, dloss in dlosses:
                adjoint[self.layout.rows(block)] += dloss
            for linearization in reversed(linearizations):
                linearization.vjp(adjoint, grad, self.layout)
        return grad

    def gradient(self, var, units=False):
        """
        Gradient of the loss summed over the recorded steps.

        Parameters
        ----------
        var : VariableView
        units : bool, optional
            Return a Brian2 `Quantity` (loss units per unit of ``var``).

        Returns
        -------
        grad : ndarray or Quantity
            In SI base units, as `RTRL.gradient`.
        """
        if self._grad is None:
            self._grad = self._backward()
        param = self._param_view(var)
        grad = self._grad[param.span].copy()
        return self._with_units(param, grad) if units else grad
