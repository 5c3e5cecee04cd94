"""
Synapses grouped by the unit they leave: the event-driven updates' index.
"""

import numpy as np

__all__ = ["OutgoingSynapses"]


class OutgoingSynapses:
    """Synapse indices grouped by the unit of one side (CSR; names as for the
    presynaptic side, where it is mostly used)."""

    def __init__(self, pre, n_pre):
        self.n_synapses = len(pre)
        self.order = np.argsort(pre, kind="stable")
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=n_pre))])

    def select(self, units):
        """Indices of the synapses leaving ``units``, sorted."""
        starts, stops = self.indptr[units], self.indptr[units + 1]
        counts = stops - starts
        if not counts.sum():
            return np.zeros(0, dtype=np.intp)
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        return np.sort(self.order[np.arange(counts.sum()) + offsets])
