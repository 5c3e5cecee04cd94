"""
Dense reference engine: the whole influence matrix, dense Jacobians.

Cost per step ``O(n^2 P)``: every synaptic coupling is a dense
``(n_post, n_pre)`` matrix product with the presynaptic rows of ``M``. It is the
reference the sparse engine is checked against, not the fast path.
"""

import numpy as np
from scipy import sparse

from ..ir import is_spike
from .base import Engine

__all__ = ["DenseEngine"]


class DenseEngine(Engine):
    """
    Influence matrix as one dense ``(rows, params)`` array.

    Parameters
    ----------
    layout : StateLayout
    n_params : int
    dtype : {numpy.float64, numpy.float32}, optional
    threads : int, optional
        Unused: numpy's matrix products use the threads of its BLAS.
    """

    def __init__(self, layout, n_params, dtype=np.float64, threads=1):
        super().__init__(layout, n_params, threads)
        self.M = np.zeros((layout.n_rows, n_params), dtype=dtype)

    @property
    def dtype(self):
        """Storage precision of the influence matrix."""
        return self.M.dtype

    def reset(self):
        self.M[:] = 0.0

    def apply(self, linearization):
        M, layout = self.M, self.layout
        updates = []
        for out in linearization.outputs:
            n_elements = len(out.index) if out.index is not None else out.n
            target = out.index if out.index is not None else np.arange(out.n)
            delta = np.zeros((out.n, self.n_columns), dtype=M.dtype)
            for term in out.rows:
                source = M[layout.rows(term.block)]
                if out.index is None and term.index is None:  # neuron-local: diagonal
                    delta += term.coef[:, None] * source
                    self._count(out.n * self.n_columns, source.nbytes)
                    continue
                source_index = term.index if term.index is not None else np.arange(n_elements)
                coupling = sparse.coo_matrix((term.coef, (target, source_index)),
                                             shape=(out.n, source.shape[0])).toarray()
                delta += coupling @ source
                self._count(out.n * source.shape[0] * self.n_columns, source.nbytes)
            for term in out.columns:
                kept, columns = self._column_entries(term.columns, term.coef)
                np.add.at(delta, (target[kept], columns), term.coef[kept])
                self._count(len(term.coef), 0)
            updates.append((layout.rows(out.block), delta))
        for rows, delta in updates:
            if linearization.assigns:
                M[rows] = delta
            else:
                M[rows] += delta
            self._count(0, (1 if linearization.assigns else 2) * delta.nbytes)

    def _count(self, multiply_adds, nbytes):
        self._done += multiply_adds
        self._dense += multiply_adds
        self._bytes += nbytes

    def _loss_gradient(self, block, dloss):
        rows = self.M[self.layout.rows(block)]
        self._count(rows.size, rows.nbytes)
        return dloss @ rows

    def influence(self, block):
        return self._to_parameters(self.M[self.layout.rows(block)])

    def density(self):
        """Fraction of non-zero entries among the state rows (spike rows excluded)."""
        rows = [self.M[self.layout.rows(b)] for b in self.layout.blocks if not is_spike(b[1])]
        return float(sum(np.count_nonzero(r) for r in rows)) / max(1, sum(r.size for r in rows))

    def _take_columns(self, take):
        M = np.zeros((self.M.shape[0], len(take)), dtype=self.M.dtype)
        M[:, take >= 0] = self.M[:, take[take >= 0]]
        self.M = M

    @property
    def nbytes(self):
        return self.M.nbytes
