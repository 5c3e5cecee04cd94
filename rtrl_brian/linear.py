"""
Linearizations: the Jacobian of one op at one step, as sparse data.

An op either *assigns* new values to some state blocks (neuron-local updates,
thresholds: element ``e`` is neuron ``e``) or *accumulates* into them (synaptic
pathways: element ``e`` is a synapse, scattered to its postsynaptic neuron).
Each output block is a sum of terms: a coefficient per element times a row of
the influence matrix (`RowTerm`) or a unit column (`ColumnTerm`, the immediate
influence of a parameter).

The engines apply a linearization forward to the influence matrix (RTRL,
``M <- J M + Mbar``); `Linearization.vjp` applies it backward to an adjoint
vector (BPTT).
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["StateLayout", "RowTerm", "ColumnTerm", "OutputLinearization", "Linearization"]


class StateLayout:
    """
    Row blocks of the influence matrix: one per (group, state variable).

    Parameters
    ----------
    groups : dict
        Group name to `GroupIR`.
    """

    def __init__(self, groups):
        self._slices = {}
        offset = 0
        for name, group in groups.items():
            for var in group.state_vars:
                self._slices[(name, var)] = slice(offset, offset + group.n)
                offset += group.n
        #: Total number of rows.
        self.n_rows = offset

    def rows(self, block):
        """The row slice of ``block = (group_name, var)``."""
        return self._slices[block]

    def size(self, block):
        """The number of rows of ``block``."""
        return self._slices[block].stop - self._slices[block].start

    @property
    def blocks(self):
        return list(self._slices)


@dataclass
class RowTerm:
    """``coef[e] * M[block][index[e]]``; ``index=None`` means ``index[e] = e``."""

    block: tuple
    index: object
    coef: np.ndarray


@dataclass
class ColumnTerm:
    """``coef[e]`` added at column ``columns[e]`` (or one shared column)."""

    columns: object
    coef: np.ndarray


@dataclass
class OutputLinearization:
    """
    Terms for one output block.

    ``index[e]`` is the output row of element ``e`` (``None``: row ``e``).
    """

    block: tuple
    n: int
    index: object
    rows: list = field(default_factory=list)
    columns: list = field(default_factory=list)


@dataclass
class Linearization:
    """
    The Jacobian of one op.

    Attributes
    ----------
    assigns : bool
        True: outputs are replaced (``M_out = sum terms``); False: outputs are
        incremented (``M_out += sum terms``).
    outputs : list of OutputLinearization
    """

    assigns: bool
    outputs: list

    @property
    def nbytes(self):
        """Bytes held by the coefficient and index arrays."""
        arrays = []
        for out in self.outputs:
            arrays.append(out.index)
            arrays += [a for term in out.rows for a in (term.index, term.coef)]
            arrays += [a for term in out.columns for a in (term.columns, term.coef)]
        return sum(np.asarray(a).nbytes for a in arrays if a is not None)

    def vjp(self, adjoint, grad, layout):
        """
        Propagate an adjoint vector backward through the op, in place.

        Parameters
        ----------
        adjoint : ndarray
            ``dL/ds`` after the op on entry, before the op on return.
        grad : ndarray
            Parameter gradient, incremented by the op's direct contributions.
        layout : StateLayout
        """
        outgoing = {out.block: adjoint[layout.rows(out.block)].copy() for out in self.outputs}
        if self.assigns:
            for out in self.outputs:
                adjoint[layout.rows(out.block)] = 0.0
        for out in self.outputs:
            a_out = outgoing[out.block]
            per_element = a_out if out.index is None else a_out[out.index]
            for term in out.rows:
                source = adjoint[layout.rows(term.block)]
                if term.index is None:
                    source += term.coef * per_element
                else:
                    np.add.at(source, term.index, term.coef * per_element)
            for term in out.columns:
                np.add.at(grad, term.columns, term.coef * per_element)
