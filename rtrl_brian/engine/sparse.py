"""
Event-driven sparse engine: exact RTRL that only touches what can change.

The influence matrix has one column per existing synapse or per-neuron
parameter (parameter sparsity) and is stored in two parts:

* **state rows** (every state variable except spikes): a dense array ``S``
  with a lazy per-row scale, ``M[r] = scale[r] * S[r]``. A neuron-local op
  whose Jacobian is diagonal (a leak, any nonlinear update of one variable
  from itself) multiplies ``scale`` only: no pass over ``M``. A row whose
  scale is zero is zero whatever ``S`` holds (resets to a constant, emptied
  input accumulators, trial starts): it is neither read nor written until
  something is added to it. Rows are materialised when their scale leaves a
  safe range.
* **spike rows**: ``M_z[i] = psi(x_i) * dx_i/ds M[s_i]`` is non-zero only for
  units inside the surrogate's support (activity sparsity). Only those rows
  are stored, computed and read.

A synaptic pathway then couples influence across neurons only through the
outgoing synapses of active units (the linearization lists only those: see
`rtrl_brian.derive`), and writes immediate influences (``Mbar``) only for
synapses whose presynaptic unit spiked. Every product that is skipped is
exactly zero, so the gradients equal the dense engine's to rounding.

The engine counts, per step, the multiply-adds it does and those the dense
engine would do for the same linearizations (`Engine.take_operations`).
"""

import numpy as np
from scipy import sparse

from ..ir import is_spike
from ..kernels import NumpyKernels, gather
from ..targets import runtime_target
from .base import Engine

__all__ = ["SparseEngine"]

#: Materialise a lazily scaled row when its scale leaves [1/limit, limit], by dtype of
#: the matrix (within its range: float32 rows would overflow at 1e100).
SCALE_LIMIT = {np.dtype(np.float64): 1e100, np.dtype(np.float32): 1e15}


class _SpikeRows:
    """The non-zero rows of a spike block: unit indices and their rows."""

    def __init__(self, n, n_columns, dtype):
        self.units = np.zeros(0, dtype=np.intp)
        self.rows = np.zeros((0, n_columns), dtype=dtype)
        #: Position of each unit in ``rows`` (-1: the row is zero).
        self.position = np.full(n, -1, dtype=np.intp)

    def assign(self, units, rows):
        self.position[self.units] = -1
        self.units, self.rows = units, rows
        self.position[units] = np.arange(len(units))

    @property
    def nbytes(self):
        return self.rows.nbytes


class _Coupling:
    """
    Row terms of one output in CSR form over its receiving rows (`units`).

    Entry ``k`` adds ``weights[k]`` times source row ``sources[k]``; source
    rows are numbered across ``parts``, a list of ``(array, positions)``: rows
    ``positions`` of ``array``, read where they are. ``owned`` says whether a
    single part's array is a private copy that `product` may overwrite.
    """

    def __init__(self, units, indptr, sources, weights, parts, owned):
        self.units = units
        self.indptr = indptr
        self.sources = sources
        self.weights = weights
        self.parts = parts
        self.owned = owned

    def product(self):
        """The summed rows, one per unit (may overwrite an owned source array)."""
        if len(self.sources) == len(self.units):  # one entry per unit (neuron-local)
            array, positions = self.parts[0] if len(self.parts) == 1 else (None, None)
            if array is None:
                rows = gather(self.parts)[self.sources]
            elif self.owned and _is_identity(positions) and _is_identity(self.sources):
                rows = array  # a single private copy, in order
            else:
                rows = array[positions[self.sources]]  # one gather
            rows *= self.weights[:, None]
            return rows
        source_rows = gather(self.parts)
        matrix = sparse.csr_matrix((self.weights, self.sources, self.indptr),
                                   shape=(len(self.units), len(source_rows)))
        return np.asarray(matrix @ source_rows, dtype=source_rows.dtype)


class _RowsBefore:
    """
    The influence-matrix rows one op reads, as they are before it writes.

    Rows of the blocks in ``written`` are copied when first asked for, and the
    copy serves every later request of the op's outputs (a pathway writing
    several per-synapse variables reads the same rows for each); other rows are
    read where they are. With ``shared`` (several outputs) no copy is handed
    out as owned, since `_Coupling.product` may overwrite an owned array.
    """

    def __init__(self, engine, written, shared):
        self.engine, self.written, self.shared = engine, written, shared
        self.copies = {}  # block -> (array of copied rows, row of each element or -1)

    def rows(self, block, elements):
        """``(array, positions, scale, owned)`` as `SparseEngine._rows`."""
        engine = self.engine
        if block not in self.written or block in engine._spikes:
            return engine._rows(block, elements)
        array, position = self.copies.get(block, (None, None))
        if array is None:
            array = np.zeros((0, engine.n_columns), dtype=engine.dtype)
            position = np.full(engine.layout.size(block), -1, dtype=np.intp)
        missing = elements[position[elements] < 0]
        if len(missing):
            position[missing] = len(array) + np.arange(len(missing))
            copied = engine.S[engine._global(block, missing)]
            array = np.concatenate([array, copied]) if len(array) else copied
            self.copies[block] = (array, position)
        positions = position[elements]
        return array, positions, engine.scale[engine._global(block, elements)], \
            not self.shared and len(positions) == len(array)


def _is_identity(index):
    return len(index) == 0 or (index[0] == 0 and index[-1] == len(index) - 1
                               and bool(np.all(np.diff(index) == 1)))


class SparseEngine(Engine):
    """
    Influence matrix over existing parameters, updated event by event.

    Parameters
    ----------
    layout : StateLayout
    n_params : int
    dtype : {numpy.float64, numpy.float32}, optional
        Storage precision of the influence matrix (scales and coefficients
        stay float64).
    kernels : NumpyKernels or CythonKernels, optional
        Implementation of the inner loops (default: numpy); chosen anew from
        ``prefs.codegen.target`` before each run (`before_run`).
    threads : int, optional
        Threads of the cython kernel (whole column blocks each; bitwise the
        same results for any number).
    """

    _NOT_STATE = Engine._NOT_STATE + ("kernels",)

    def __init__(self, layout, n_params, dtype=np.float64, kernels=None, threads=1):
        super().__init__(layout, n_params, threads)
        self.kernels = kernels if kernels is not None else NumpyKernels()
        self.dtype = np.dtype(dtype)
        self._state_rows = {}
        offset = 0
        for block in layout.blocks:
            if not is_spike(block[1]):
                self._state_rows[block] = slice(offset, offset + layout.size(block))
                offset += layout.size(block)
        self.S = np.zeros((offset, n_params), dtype=self.dtype)
        self._row_bytes = n_params * self.dtype.itemsize
        self.scale = np.zeros(offset)  # M starts at zero: every row lazily zero
        self._spikes = {block: _SpikeRows(layout.size(block), n_params, self.dtype)
                        for block in layout.blocks if is_spike(block[1])}

    def before_run(self, target):
        self.kernels = runtime_target(target).kernels()

    def reset(self):
        self.scale[:] = 0.0  # every row lazily zero: no pass over the matrix
        for store in self._spikes.values():
            store.assign(np.zeros(0, dtype=np.intp), np.zeros((0, self.n_columns), self.dtype))

    # -- reading rows ---------------------------------------------------------------
    def _global(self, block, elements):
        return self._state_rows[block].start + elements

    def _present(self, block, elements):
        """Mask of the ``elements`` whose row of ``block`` may be non-zero."""
        if block in self._spikes:
            return self._spikes[block].position[elements] >= 0
        return self.scale[self._global(block, elements)] != 0.0

    def _rows(self, block, elements):
        """
        Where rows ``elements`` of ``block`` are, read in place: ``M[block][elements[e]]
        = scale[e] * array[positions[e]]`` (spike rows: scale 1; their store is
        replaced, never written, see `_SpikeRows.assign`).

        Returns
        -------
        array, positions, scale : ndarray
        owned : bool
            Whether ``array`` is a private copy (never, here; see `_RowsBefore`).
        """
        if block in self._spikes:
            store = self._spikes[block]
            return store.rows, store.position[elements], np.ones(len(elements)), False
        rows = self._global(block, elements)
        return self.S, rows, self.scale[rows], False

    # -- applying ops -----------------------------------------------------------------
    def apply(self, linearization):
        if linearization.assigns:
            self._assign(linearization)
        else:
            before = _RowsBefore(self, {out.block for out in linearization.outputs},
                                 len(linearization.outputs) > 1)
            pending = [(out, self._coupling(out.rows, out.index, out.n, before),
                        self._immediate(out.columns, out.index))
                       for out in linearization.outputs]  # all from M before the op
            for out, coupling, columns in pending:
                self._accumulate(out, coupling, columns)

    def _assign(self, linearization):
        """
        Neuron-local op: all outputs from the values before the op.

        An output whose rows only become zero (no diagonal, no row or column
        terms: an emptied accumulator, a reset to a constant) changes scales
        only, so other outputs read its old rows in place.
        """
        split = []
        for out in linearization.outputs:
            diagonal = None
            cross = []
            for term in out.rows:
                if term.block == out.block and term.index is None and out.block not in self._spikes:
                    diagonal = term.coef
                else:
                    cross.append(term)
            split.append((out, diagonal, cross))
        before = _RowsBefore(self, {out.block for out, diagonal, cross in split
                                    if diagonal is not None or cross or out.columns},
                             len(split) > 1)
        pending = [(out, diagonal, self._coupling(cross, out.index, out.n, before),
                    self._immediate(out.columns, out.index)) for out, diagonal, cross in split]
        for out, diagonal, coupling, columns in pending:
            if out.block in self._spikes:
                self._assign_spike_rows(out, coupling, columns)
                continue
            self._scale_rows(out.block, diagonal, out.n)
            self._add_rows(out.block, coupling)
            self._add_columns(out.block, columns)

    def _accumulate(self, out, coupling, columns):
        """Synaptic pathway: ``M[post] += sum over synapses`` (or per synapse)."""
        if out.block in self._spikes:
            raise NotImplementedError(f"Increments into the spike block {out.block}.")
        self._add_rows(out.block, coupling)
        self._add_columns(out.block, columns)

    def _coupling(self, terms, out_index, n_out, before):
        """
        The row terms of one output as a CSR coupling over its receiving rows.

        Only elements with a non-zero coefficient and a non-zero source row
        enter; each source row is read once, through ``before`` (`_RowsBefore`:
        rows of the blocks the op writes are copied, once for all its outputs;
        all others are read where they are).

        Returns
        -------
        coupling : _Coupling or None
            None when nothing is received.
        """
        targets, weights, found = [], [], []
        for term in terms:
            self._dense += n_out * (self.layout.size(term.block) if term.index is not None
                                    or out_index is not None else 1) * self.n_columns
            index = np.arange(len(term.coef)) if term.index is None else term.index
            live = np.flatnonzero(term.coef)
            live = live[self._present(term.block, index[live])]
            if not len(live):
                continue
            if term.index is None:  # neuron-local: element e reads row e, once
                needed, source_of = live, np.arange(len(live))
            else:
                needed, source_of = np.unique(index[live], return_inverse=True)
            array, positions, row_scale, owned = before.rows(term.block, needed)
            found.append((array, positions, source_of, owned))
            targets.append(live if out_index is None else out_index[live])
            weights.append(term.coef[live] * row_scale[source_of])
            self._done += len(live) * self.n_columns
            self._bytes += len(needed) * self._row_bytes
        if not targets:
            return None
        parts = [(array, positions) for array, positions, _, _ in found]
        if len(found) == 1:
            sources, owned = found[0][2], found[0][3]
        else:  # number the sources across the parts
            offsets = np.cumsum([0] + [len(positions) for _, positions in parts[:-1]])
            sources = np.concatenate([offset + source_of for offset, (_, _, source_of, _)
                                      in zip(offsets, found)])
            owned = False
        if len(targets) == 1 and out_index is None:  # neuron-local: one entry per row
            return _Coupling(targets[0], np.arange(len(targets[0]) + 1), sources,
                             weights[0], parts, owned)
        targets = np.concatenate(targets)
        order = np.argsort(targets, kind="stable")
        units, counts = np.unique(targets[order], return_counts=True)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return _Coupling(units, indptr, sources[order], np.concatenate(weights)[order],
                         parts, owned)

    def _immediate(self, columns, out_index):
        """Immediate influences ``(unit, column, value)`` with non-zero value."""
        units, cols, values = [], [], []
        for term in columns:
            live, mapped = self._column_entries(term.columns, term.coef)
            units.append(live if out_index is None else out_index[live])
            cols.append(mapped)
            values.append(term.coef[live])
            self._done += len(live)
            self._dense += len(term.coef)
        if len(units) < 2:
            return (units[0], cols[0], values[0]) if units else None
        return np.concatenate(units), np.concatenate(cols), np.concatenate(values)

    # -- writing state rows ------------------------------------------------------------
    def _scale_rows(self, block, diagonal, n):
        """``M[block] *= diagonal`` lazily (``diagonal=None``: by zero)."""
        rows = self._state_rows[block]
        self._dense += n * self.n_columns
        scale = self.scale[rows]
        self._done += n
        if diagonal is None:
            scale[:] = 0.0  # zero rows stay lazy until written (see _writable)
            return
        scale *= diagonal
        magnitude, limit = np.abs(scale), SCALE_LIMIT[self.dtype]
        stale = np.flatnonzero(((magnitude < 1.0 / limit) & (magnitude > 0.0))
                               | (magnitude > limit))
        if len(stale):
            self.S[rows.start + stale] *= scale[stale, None]
            scale[stale] = 1.0
            self._done += len(stale) * self.n_columns
            self._bytes += 2 * len(stale) * self._row_bytes

    def _writable(self, global_rows):
        """Materialise lazily zero rows (scale 0) among ``global_rows`` before a write."""
        zero = global_rows[self.scale[global_rows] == 0.0]
        if len(zero):
            self.S[zero] = 0.0
            self.scale[zero] = 1.0
            self._bytes += len(zero) * self._row_bytes

    def _add_rows(self, block, coupling):
        if coupling is None:
            return
        targets = self._global(block, coupling.units)
        self._writable(targets)
        self.kernels.accumulate_rows(self.S, self.scale, targets,
                                     coupling.indptr, coupling.sources, coupling.weights,
                                     coupling.parts, self.threads)
        self._bytes += 2 * len(coupling.units) * self._row_bytes

    def _add_columns(self, block, columns):
        if columns is None:
            return
        units, cols, values = columns
        global_rows = self._global(block, units)
        self._writable(global_rows)
        np.add.at(self.S, (global_rows, cols), values / self.scale[global_rows])

    def _assign_spike_rows(self, out, coupling, columns):
        units, rows = np.zeros(0, dtype=np.intp), None
        if coupling is not None:
            units, rows = coupling.units, coupling.product()
        if columns is not None:
            all_units = np.union1d(units, columns[0])
            full = np.zeros((len(all_units), self.n_columns), dtype=self.dtype)
            if rows is not None:
                full[np.searchsorted(all_units, units)] = rows
            np.add.at(full, (np.searchsorted(all_units, columns[0]), columns[1]), columns[2])
            units, rows = all_units, full
        if rows is None:
            rows = np.zeros((0, self.n_columns), dtype=self.dtype)
        self._spikes[out.block].assign(units, rows)
        self._bytes += rows.nbytes

    # -- reading the result -----------------------------------------------------------------
    def _loss_gradient(self, block, dloss):
        rows = self._state_rows[block]
        self._done += (rows.stop - rows.start) * self.n_columns
        self._dense += (rows.stop - rows.start) * self.n_columns
        self._bytes += (rows.stop - rows.start) * self._row_bytes
        return (dloss * self.scale[rows]) @ self.S[rows]

    def _take_columns(self, take):
        kept = np.flatnonzero(take >= 0)

        def taken(array, rows):
            result = np.zeros((array.shape[0], len(take)), dtype=array.dtype)
            result[np.ix_(rows, kept)] = array[np.ix_(rows, take[kept])]
            return result
        # lazily zero rows (scale 0) hold nothing worth copying: at a fresh start, none
        self.S = taken(self.S, np.flatnonzero(self.scale != 0.0))
        self._row_bytes = len(take) * self.dtype.itemsize
        for store in self._spikes.values():
            store.assign(store.units, taken(store.rows, np.arange(len(store.rows))))

    def influence(self, block):
        rows = np.zeros((self.layout.size(block), self.n_columns))
        if block in self._spikes:
            store = self._spikes[block]
            rows[store.units] = store.rows
        else:
            state = self._state_rows[block]
            scale = self.scale[state]
            present = scale != 0.0  # lazily zero rows may hold stale values
            rows[present] = self.S[state][present] * scale[present, None]
        return self._to_parameters(rows)

    def density(self):
        """Fraction of non-zero entries among the state rows of the influence matrix."""
        return float(np.count_nonzero(self.S[self.scale != 0.0])) / max(1, self.S.size)

    @property
    def nbytes(self):
        return (self.S.nbytes + self.scale.nbytes
                + sum(store.nbytes for store in self._spikes.values()))
