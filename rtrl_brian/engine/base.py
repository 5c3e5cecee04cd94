"""
The interface every influence-matrix engine implements.
"""

from abc import ABC, abstractmethod

__all__ = ["Engine"]


class Engine(ABC):
    """
    Storage and update of the influence matrix ``M = ds/dtheta``.

    Implements ``M_t = J_t M_{t-1} + Mbar_t`` one op at a time: each op's
    `Linearization` holds both its Jacobian ``J`` and its immediate influence
    ``Mbar``.

    Parameters
    ----------
    layout : StateLayout
        Row blocks.
    n_params : int
        Number of columns.
    """

    def __init__(self, layout, n_params):
        self.layout = layout
        self.n_params = n_params
        self.reset_operations()

    def take_operations(self):
        """
        Work counted since the last call, and zero the counters.

        Returns
        -------
        counts : dict
            ``multiply_adds``: multiply-adds this engine did on the influence
            matrix; ``multiply_adds_dense``: those the dense reference engine
            does for the same ops (full Jacobian blocks times whole row
            blocks); ``bytes``: bytes of the influence matrix read or written.
        """
        counts = {"multiply_adds": self._done, "multiply_adds_dense": self._dense,
                  "bytes": self._bytes}
        self.reset_operations()
        return counts

    def reset_operations(self):
        """Zero the work counters."""
        self._done = 0
        self._dense = 0
        self._bytes = 0

    @abstractmethod
    def reset(self):
        """Zero the influence matrix (start of a trial)."""

    @abstractmethod
    def apply(self, linearization):
        """Apply one op: ``M <- J M + Mbar``."""

    @abstractmethod
    def loss_gradient(self, block, dloss):
        """
        ``dL/dtheta`` contribution ``dloss @ M[block]``.

        Parameters
        ----------
        block : tuple
            ``(group, var)`` the loss reads.
        dloss : ndarray
            ``dL_t/ds`` for the rows of ``block``.

        Returns
        -------
        grad : ndarray
            Length ``n_params``.
        """

    @property
    @abstractmethod
    def nbytes(self):
        """Bytes held by the influence matrix."""
