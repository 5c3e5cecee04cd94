"""
Compiled engine: the whole learning step in generated C, one call per step.

The Python engines receive one `Linearization` per op and update the influence
matrix through numpy (or the Cython kernels); for small networks the per-op
Python around the arithmetic is nearly all of a step. This engine instead
runs `rtrl_brian.codegen.StepProgram`: replay, Jacobian coefficients and
influence-matrix updates of every op in one compiled function, reading Brian2's
arrays where they are. Gradients equal the other engines' to rounding.

Storage: ``M`` holds the state variables' rows, dense over the parameters
that have columns (parameter sparsity), with a lazy scale per row (leaks cost
one multiplication per row; rows of scale zero are skipped: activity
sparsity). Spike rows (of units in the surrogate's support this step) are
never stored: the generated step applies its row operations one column block
at a time, and a spike row lives in a temporary row of that block, in the
cache, from its threshold to its last use in the step; so are the rows an op
mixes. ``M`` is the sparse engine's state rows without its spike-row store.
"""

import time

import numpy as np
from brian2 import get_logger

from ..codegen import StepProgram, stored_rows
from ..connectivity import OutgoingSynapses
from ..ir import SPIKE, PathwayOp
from ..replay import REPLAY_RTOL, binding_value, every_element
from ..kernels import compile_threaded_extension
from ..targets import CythonTarget
from ..fused import FusedStep
from .base import Engine

__all__ = ["CompiledEngine"]

logger = get_logger(__name__)


class CompiledEngine(Engine):
    """
    Influence matrix over existing parameters, updated by a generated step.

    Parameters
    ----------
    layout : StateLayout
    n_params : int
    dtype : {numpy.float64, numpy.float32}
        The influence matrix's entries (the replay, the coefficients and the
        row scales stay in double precision).
    threads : int, optional
        Threads that apply the step's row operations, each to a range of
        columns (OpenMP; one where the compiler has none). Results are
        bitwise the same for any number.
    """

    def __init__(self, layout, n_params, dtype=np.float64, threads=1):
        super().__init__(layout, n_params, threads)
        self.dtype = np.dtype(dtype)
        # where row r is stored: row place[r] of M for a state variable's; a spike row
        # only within the step (see the module's description)
        self.place, n_stored = stored_rows(layout)
        self.M = np.zeros((n_stored, n_params), dtype=self.dtype)
        self.scale = np.zeros(layout.n_rows)  # row r is scale[r] * M[place[r]]; 0: a zero row
        self._program = None
        self._module = None
        self._learn_c = None  # the learner's whole step, compiled with the module
        self._compiled_learn_c = None
        self._tape = None
        self._active = {}
        self._outgoing = {}
        self._counts = np.zeros(3, dtype=np.int64)
        self._addresses = None

    # -- compilation --------------------------------------------------------------------
    def prepare(self, ops, surrogate, params):
        """Generate the step for ``ops`` (`before_run` compiles it)."""
        super().prepare(ops, surrogate, params)
        self._program = StepProgram(ops, self.layout, surrogate)
        self._module = None
        self._learn_c = None
        self._params = {param.offset: param for param in params}
        self._n_pre = {op.op.synapses.name: op.op.pre_group.N for op in ops
                       if isinstance(op.op, PathwayOp)}
        self._outgoing = {}
        self._active = {key[1]: np.zeros(self.layout.size((key[1], SPIKE)), dtype=np.uint8)
                        for key in self._program.slots if key[0] == "active"}

    def before_run(self, target):
        """
        Compile the generated step (Brian2's Cython cache: once per network).

        The step is compiled with Brian2's Cython machinery whatever target
        Brian2's own objects run on: with ``prefs.codegen.target = 'numpy'``
        only the learning step is compiled (a cold start of seconds, not of a
        compilation per Brian2 object).

        Raises
        ------
        ValueError
            When Cython cannot compile here.
        """
        if self._module is None or self._learn_c not in (None, self._compiled_learn_c):
            if not CythonTarget.is_available():
                raise ValueError("engine='compiled' compiles its learning step with Cython, "
                                 "which does not work here (Cython or a C++ compiler is "
                                 "missing); use engine='sparse'.")
            logger.info(f"compiling the learning step: generated C for {len(self._ops)} ops, "
                        f"{self.n_columns} parameter columns (Brian2's Cython cache: a network "
                        f"compiled before loads at once)", "compile")
            started = time.perf_counter()
            self._module, _ = compile_threaded_extension(
                lambda openmp: self._program.module_source(openmp, self.dtype, self._learn_c),
                "rtrl_brian_step")
            self._compiled_learn_c = self._learn_c
            logger.debug(f"learning step ready in {time.perf_counter() - started:.1f} s")
            self._tape = self._module.Tape()
        self._addresses = None  # arrays are bound again at the first step of every run

    def whole_step(self, learner):
        """
        The learner's whole step in one C call (`rtrl_brian.fused.FusedStep`),
        compiled by the next `before_run`, or None where its bookkeeping must
        stay Python (`FusedStep.why_not`, logged).
        """
        why = FusedStep.why_not(learner, self._program)
        if why is not None:
            logger.debug(f"{learner.name}: the learner's bookkeeping runs in Python: {why}",
                         "bookkeeping")
            return None
        fused = FusedStep(learner, self)
        self._learn_c = fused.source()
        return fused

    @property
    def program(self):
        """The generated step (`StepProgram`)."""
        return self._program

    @property
    def active(self):
        """Per group with a threshold: its units active this step (uint8)."""
        return self._active

    def bind(self, state, inputs, values):
        """
        Point every slot at its array for a run where ``state`` and ``inputs``
        hold the same arrays at every step (`rtrl_brian.fused`).

        Returns
        -------
        changing : list of int
            The slots whose arrays change from step to step: functions
            evaluated with numpy (`StepProgram.calls`) and Brian2's values
            converted to float64 (`rebind` them before each step).
        """
        self._addresses = None
        self._bind(range(len(self._program.slots)), state, inputs, values)
        return [k for k in self._per_step
                if self._program.slots[k][0] not in ("state", "spikes", "not_refractory")]

    def rebind(self, slots, state, inputs, values):
        """Point ``slots`` (of `bind`) at their arrays of this step."""
        self._bind(slots, state, inputs, values)

    def learning(self, arrays, counters, figures):
        """
        The learner's whole step bound to its arrays (the module's ``Learning``,
        after `bind`): ``arrays``, their addresses in the order of
        `rtrl_brian.learnstep.LearnStep.arrays`; ``counters`` and ``figures``, as
        ``rtrl_learn`` takes them (`rtrl_brian.fused`).
        """
        return self._module.Learning(arrays, self._addresses, self._strides, counters,
                                     figures, self._tape)

    @property
    def threads_used(self):
        """Threads the step uses for its columns (None before it is compiled): at most
        `threads`, fewer for few columns, one where the compiler has no OpenMP."""
        if self._module is None:
            return None
        return self._module.threads_used(self.n_columns, self.threads)

    # -- one step -----------------------------------------------------------------------------
    def step(self, state, inputs, values):
        """
        The whole step as one call of the generated C (see `Engine.step`): the
        influence matrix is updated here already, `commit` has nothing left to do.
        """
        started = time.perf_counter()
        if self._addresses is None:  # first step of a run: every slot
            self._bind(range(len(self._program.slots)), state, inputs, values)
        else:
            self._bind(self._per_step, state, inputs, values)
        for group, active in self._active.items():
            np.not_equal(inputs.spikes[group], 0, out=active.view(bool))
        counts = self._counts
        counts[:] = 0
        self._module.step(self._addresses, self._strides, self.n_columns, counts, self.M,
                          self.scale, self.column_of, self._tape, self.threads)
        for group in self._active:
            state[(group, SPIKE)] = inputs.spikes[group]
        self._done += int(counts[0])
        self._bytes += int(counts[1]) * self.dtype.itemsize
        self._dense += self._program.dense_multiply_adds(self.n_columns) + int(counts[2])
        self._seconds += time.perf_counter() - started
        return {group: active != 0 for group, active in self._active.items()}

    def _bind(self, positions, state, inputs, values):
        """
        Point the program's slots ``positions`` at their arrays.

        Arrays that stay where they are during a run (Brian2's own, read
        without conversion, and the engine's) are bound once per run; the
        others (replayed state, spikes, converted copies) every step.
        """
        if self._addresses is None:
            n_slots = max(1, len(self._program.slots))
            self._addresses = np.zeros(n_slots, dtype=np.uintp)
            self._strides = np.zeros(n_slots, dtype=np.intp)
            self._arrays = [None] * n_slots  # keeps every bound array alive
            self._per_step = []
            bind_all = True
        else:
            bind_all = False
        for position in positions:
            array, fixed = self._array(self._program.slots[position], state, inputs, values)
            self._arrays[position] = array
            self._addresses[position] = array.ctypes.data
            self._strides[position] = 0 if array.size == 1 else 1
            if bind_all and not fixed:
                self._per_step.append(position)

    def _array(self, key, state, inputs, values):
        """The array of slot ``key``, and whether it stays where it is during a run."""
        kind = key[0]
        if kind == "state":
            return state[key[1]], False
        if kind in ("param", "value", "post"):
            if kind == "param":
                source = self._params[key[1]].values()
            else:
                source = values(key[1], "_synaptic_post" if kind == "post" else key[2])
            array = np.ascontiguousarray(source, dtype=np.int32 if kind == "post"
                                         else np.float64).reshape(-1)
            return array, np.may_share_memory(array, source)
        if kind == "spikes":
            return inputs.spikes[key[1]], False
        if kind == "not_refractory":
            return inputs.not_refractory[(key[1], key[2])], False
        if kind == "active":
            return self._active[key[1]], True
        if kind == "place":
            return self.place, True
        if kind == "offset":
            return np.array([key[1]], dtype=np.intp), True
        if kind == "call":
            call = self._program.calls[key[2]]
            op = self._ops[call.op]
            n, index = every_element(op, inputs)
            args = [binding_value(op.bindings[s], state, inputs, index) for s in call.symbols]
            return np.array(np.broadcast_to(call.function(*args), (n,)), dtype=np.float64), False
        synapses = key[1]
        pre = values(synapses, "_synaptic_pre")
        outgoing = self._outgoing.get(synapses)
        n_pre = self._n_pre[synapses]
        if outgoing is None or outgoing.n_synapses != len(pre):
            outgoing = self._outgoing[synapses] = OutgoingSynapses(pre, n_pre)
        return (outgoing.indptr if kind == "outgoing" else outgoing.order), True

    # -- the Engine interface ---------------------------------------------------------------------
    def commit(self):
        pass  # step updated the matrix

    def reset(self):
        self.scale[:] = 0.0  # every row zero: no pass over the matrix

    def _add_loss_gradient(self, block, dloss, grad):
        rows = self.layout.rows(block)
        live = self._module.add_loss_gradient(self.M, self.scale, self.place, rows.start,
                                              np.ascontiguousarray(dloss, dtype=np.float64),
                                              self.columns, grad)
        self._done += live * self.n_columns
        self._dense += (rows.stop - rows.start) * self.n_columns
        self._bytes += live * self.n_columns * self.dtype.itemsize

    def replay_agrees(self, replayed, actual):
        """`Engine.replay_agrees`, compiled with the step."""
        return self._module.replay_agrees(np.ascontiguousarray(replayed, np.float64),
                                          np.ascontiguousarray(actual, np.float64), REPLAY_RTOL)

    def _rows(self, block):
        if block[1] == SPIKE:
            raise ValueError(f"The compiled engine keeps the rows of {block} (spikes) only "
                             f"within a step; ask for a state variable's rows, or use "
                             f"engine='sparse'.")
        rows = self.layout.rows(block)
        result = np.zeros((rows.stop - rows.start, self.n_columns))
        live = np.flatnonzero(self.scale[rows])  # zero rows may hold stale values
        result[live] = self.M[self.place[rows.start + live]] * self.scale[rows.start + live,
                                                                           None]
        return result

    def influence(self, block):
        return self._to_parameters(self._rows(block))

    def density(self):
        """Fraction of non-zero entries among the state rows (spike rows excluded)."""
        rows = [self._rows(b) for b in self.layout.blocks if b[1] != SPIKE]
        return float(sum(np.count_nonzero(r) for r in rows)) / max(1, sum(r.size for r in rows))

    def _take_columns(self, take):
        M = np.zeros((self.M.shape[0], len(take)), dtype=self.dtype)
        live = self.place[np.flatnonzero(self.scale)]  # state rows: spike rows end at zero
        kept = np.flatnonzero(take >= 0)
        M[np.ix_(live, kept)] = self.M[np.ix_(live, take[kept])]
        self.M = M

    def state(self):
        return {"M": self.M, "scale": self.scale, "columns": self.columns,
                "column_of": self.column_of}

    @property
    def nbytes(self):
        """Bytes of the influence matrix held from step to step: the state variables' rows
        and the row scales (see `temporary_bytes` for the step's temporary rows)."""
        return self.M.nbytes + self.scale.nbytes

    @property
    def temporary_bytes(self):
        """Bytes of the step's temporary rows (spike and scratch rows, one column block of
        each per thread: at most about ``threads`` times those rows over
        ``n_columns / threads`` columns, less for many columns), kept for the next step."""
        return 0 if self._tape is None else self._tape.temporary_bytes

