"""
One learning step of a network as generated C code.

`StepProgram` turns the derived ops of a learner (`rtrl_brian.derive.DerivedOp`)
into one C function that does, in schedule order, what the Python path does op
by op: replay the op from the state at its start, evaluate its Jacobian
coefficients, and apply them to the influence matrix. Per op and element (a
neuron, or a synapse of an active presynaptic unit) the frozen
sub-expressions, forward values and derivatives are printed by sympy's C99
printer with common sub-expressions computed once; the element loops, the
surrogate gate, the activity test and the row updates around them come from
the templates below. The module is compiled with Brian2's Cython extension
manager (`rtrl_brian.kernels.compile_extension`).

The influence matrix ``M`` is stored densely over the parameters that have
columns (parameter sparsity), with a lazy scale per row as in the sparse
engine: row ``r`` is ``scale[r] * M[r]``, so a neuron-local op that only scales
a row (a leak) multiplies one number, and a row of scale zero (spike rows of
units outside the surrogate's support, emptied or reset rows) is neither read
nor written until something is added to it (activity sparsity). Synaptic ops
walk only the outgoing synapses of active units.

What the program does not support raises `NotCompilable` naming the op and
the construct; `RTRL(engine='compiled')` turns that into a clear error.
"""

from dataclasses import dataclass

import numpy as np
import sympy
from brian2 import Synapses
from sympy.core.function import AppliedUndef
from sympy.printing.c import C99CodePrinter

from .compile import linked_variables
from .errors import NotCompilable
from .ir import SPIKE, PathwayOp, ThresholdOp
from .templating import render

__all__ = ["NotCompilable", "CPrinter", "ExternalCall", "StepProgram", "C_TYPES", "stored_rows"]

#: C type of the influence matrix's entries, by its numpy dtype.
C_TYPES = {np.dtype(np.float64): "double", np.dtype(np.float32): "float"}


def _surrogate_in_c(surrogate):
    """The surrogate of the threshold argument ``_out0`` as a C expression."""
    c_expression = getattr(surrogate, "c_expression", None)
    try:
        if c_expression is None:
            raise NotImplementedError
        return c_expression("_out0")
    except NotImplementedError as error:
        raise NotCompilable(f"the surrogate {surrogate!r} (it has no C form; derive it from "
                            f"rtrl_brian.surrogates.Surrogate and define c_shape)") from error


class CPrinter(C99CodePrinter):
    """sympy's C99 printer with the numeric meanings of `rtrl_brian.symbolic`."""

    def _print_Function(self, expr):
        name = expr.func.__name__
        if name == "int_":  # Brian2's int(): truncation towards zero
            return f"trunc((double)({self._print(expr.args[0])}))"
        if name == "timestep":  # as brian2.core.functions.timestep
            t, dt = (self._print(arg) for arg in expr.args)
            return f"trunc((({t}) + 1e-3 * ({dt})) / ({dt}))"
        if name in self.known_functions:
            return super()._print_Function(expr)
        raise NotCompilable(f"the function '{name}' has no C implementation here")

    def _print_Heaviside(self, expr):
        x = self._print(expr.args[0])
        h0 = self._print(expr.args[1]) if len(expr.args) > 1 else "0.5"
        return f"(({x}) > 0 ? 1.0 : (({x}) < 0 ? 0.0 : ({h0})))"

    def _print_Min(self, expr):
        return self._fold(expr.args, "<")

    def _print_Max(self, expr):
        return self._fold(expr.args, ">")

    def _fold(self, args, comparison):
        result = self._print(args[0])
        for arg in args[1:]:
            value = self._print(arg)
            result = f"(({result}) {comparison} ({value}) ? ({result}) : ({value}))"
        return result


@dataclass
class ExternalCall:
    """
    A call of a function without a C form (a `TimedArray`, a user `Function`).

    Its arguments are values Brian2 holds (never learned quantities), so it is
    evaluated with numpy before the step, for every element of its op.

    Attributes
    ----------
    slot : int
        Where the program reads the values.
    op : int
        Position of the op.
    symbols : list of sympy.Symbol
        The arguments' symbols, bound as in the op.
    function : callable
        ``function(*values)``, numpy.
    """

    slot: int
    op: int
    symbols: list
    function: object


class _Slots:
    """The arrays the program reads or writes, numbered in order of first use."""

    def __init__(self):
        self.keys = []

    def __call__(self, *key):
        if key not in self.keys:
            self.keys.append(key)
        return self.keys.index(key)


class StepProgram:
    """
    The C source of one learning step, and what it needs at run time.

    Parameters
    ----------
    ops : list of DerivedOp
        The learner's ops, in schedule order.
    layout : StateLayout
        Row blocks of the influence matrix.
    surrogate : Surrogate
        Its C form (`Surrogate.c_expression`) gates the spike's derivative.
    c_functions : dict, optional
        External functions (`TimedArray`, a user `Function`) that the target
        implements in C, by name, to the name of that C function (Brian2's
        C++ implementation in the standalone binary, whose code object
        defines it): called in the step. Others are `calls`, evaluated with
        numpy before each step.

    Attributes
    ----------
    c_source : str
        The C function ``rtrl_step(addresses, strides, P, counts, M, scale,
        column_of, tape, threads)`` (``addresses[k]`` is the address of
        slot ``k``, ``strides[k]`` 0 for a scalar and 1 for an array) in two
        phases: the generated body records the step's row operations on the
        tape, then ``threads`` apply it to column ranges (OpenMP; bitwise the
        same for any number). `module_source` wraps it for the runtime device.
    slots : list of tuple
        What each address stands for (see `rtrl_brian.engine.compiled`):
        ``('state', block)``, ``('param', index)``, ``('value', owner, var)``,
        ``('place',)`` (the row of ``M`` where each row of the influence matrix
        is stored, `stored_rows`; spike rows are placed in temporary rows
        every step), ``('spikes', group)``, ``('not_refractory', group,
        phase)``, ``('active', group)``, ``('outgoing', synapses)``,
        ``('order', synapses)``, ``('post', synapses)``, ``('call', op index,
        number)`` (values of one of `calls`), ``('offset', index)`` (a
        parameter's first entry among all parameters: a value, not part of the
        source, which then does not depend on how many synapses random
        connections made, and Brian2's cache finds it again). The influence
        matrix, its row scales and the column of each parameter are arguments
        of their own.
    n_scratch_rows : int
        Scratch rows the step needs (temporary rows, as the spike rows: the
        step holds them for one column block at a time).
    dense_multiply_adds : callable
        ``dense_multiply_adds(n_columns)``: the part of the dense engine's
        count that does not depend on activity (see `Engine.take_operations`).

    Raises
    ------
    NotCompilable
    """

    def __init__(self, ops, layout, surrogate, c_functions=None):
        self._layout = layout
        self._gate = _surrogate_in_c(surrogate)
        self._slots = _Slots()
        self._c_functions = dict(c_functions or {})
        self._printer = CPrinter(settings={"user_functions": {
            c_name: c_name for c_name in self._c_functions.values()}})
        self._static_rows = 0  # dense count: rows times n_columns, fixed per step
        self._static_columns = 0  # dense count: immediate-influence entries, fixed per step
        #: Calls evaluated with numpy before each step (list of `ExternalCall`).
        self.calls = []
        #: Names of ``c_functions`` the step calls.
        self.c_calls = set()
        self.n_scratch_rows = max([len(op.outputs) for op in ops] + [1])
        self._spike_blocks = []  # spike blocks of the thresholds generated so far
        place = self._slots("place")
        bodies = [self._op(position, op) for position, op in enumerate(ops)]
        self.slots = self._slots.keys
        self.c_source = render(
            "c", "rtrl_step.c", body="\n".join(bodies), place=place,
            n_scratch=self.n_scratch_rows,
            spike_rows_end="\n".join(
                f"    memset(scale + {layout.rows(block).start}, 0, {layout.size(block)} * "
                f"sizeof(double));" for block in self._spike_blocks))

    def module_source(self, openmp, dtype=np.float64, learn_c=None):
        """
        Cython module source with a class ``Tape`` and functions ``step(addresses,
        strides, n_columns, counts, M, scale, column_of, tape, threads)``,
        ``threads_used(n_columns, threads)``, ``add_loss_gradient`` and
        ``replay_agrees`` (see `rtrl_brian.engine.compiled`); ``openmp``: whether it is
        compiled with OpenMP, ``dtype``: the influence matrix's (float64 or
        float32; the sources differ, for Brian2's cache); ``learn_c``: the
        learner's whole step (`rtrl_brian.learnstep.LearnStep.source`), which
        adds a class ``Learning`` that calls it (see `rtrl_brian.fused`).
        """
        return render("cython", "rtrl_step.pyx", c_step=self.c_source, n_slots=len(self.slots),
                      openmp=bool(openmp), real=C_TYPES[np.dtype(dtype)], learn_c=learn_c)

    def dense_multiply_adds(self, n_columns):
        """The dense engine's multiply-adds of a step that do not depend on activity."""
        return self._static_rows * n_columns + self._static_columns

    # -- one op -------------------------------------------------------------------------
    def _op(self, position, op):
        code = getattr(op.op.source if isinstance(op.op, PathwayOp) else op.op, "code", "")
        where = f"{type(op.op).__name__} of '{op.owner.name}'" + (f" ('{code}')" if code else "")
        try:
            if (op.op.delay if isinstance(op.op, PathwayOp)
                    else getattr(op.op, "kind", None) == "delay_line"):
                raise NotCompilable("synaptic delays (no generated form yet)")
            if (op.op.every_synapse if isinstance(op.op, PathwayOp)
                    else getattr(op.op, "kind", None) == "summed_reset"):
                raise NotCompilable("a (summed) variable (no generated form yet)")
            if isinstance(op.op, ThresholdOp) and len(op.op.conditions) > 1:
                raise NotCompilable("a threshold joining comparisons (no generated form yet)")
            if getattr(op.op, "event", "spike") != "spike" or \
                    getattr(op.op.source, "event", "spike") != "spike":  # also resets
                raise NotCompilable("a custom event (no generated form yet)")
            if isinstance(op.op, PathwayOp) and (op.op.prepost == "post" or op.op.presynaptic):
                raise NotCompilable("an on_post pathway or a write to presynaptic variables "
                                    "(no generated form yet)")
            if not isinstance(op.owner, Synapses) and any(
                    str(symbol) in linked_variables(op.owner) for symbol in op.bindings):
                raise NotCompilable("a linked variable (no generated form yet)")
            if op.uses_synaptic_state:
                raise NotCompilable("per-synapse state (no generated form yet)")
            read = {(b.owner, b.var) for rows, _ in self._terms(op) for _, b in rows}
            if any(block[1] == SPIKE and block not in self._spike_blocks for block in read):
                raise NotCompilable("spikes read before their threshold in the step (the "
                                    "generated step keeps a spike row only within its step)")
            if isinstance(op.op, PathwayOp):
                return self._pathway(position, op)
            if op.noise:
                raise NotCompilable("random numbers, which the learner reads back from "
                                    "Brian2 around the op (no generated form yet)")
            return self._local(position, op)
        except NotCompilable as error:
            raise NotCompilable(f"{where}: {error}") from error

    def _external_calls(self, position, op, index_of):
        """Calls without a C form of ours: to the target's C function where it has one,
        otherwise inputs evaluated before the step."""
        renamed = {}
        element = index_of["synapse"] if "synapse" in index_of else index_of["self"]
        for frozen in op.frozen:
            for call in frozen.expression.atoms(AppliedUndef):
                name = call.func.__name__
                if call in renamed or name in ("int_", "timestep") or \
                        name in self._printer.known_functions:
                    continue
                if name in self._c_functions:  # arguments printed as the op's inputs
                    renamed[call] = sympy.Function(self._c_functions[name])(*call.args)
                    self.c_calls.add(name)
                    continue
                symbols = sorted(call.free_symbols, key=str)
                learned = [s for s in symbols if op.bindings[s].kind not in
                           ("value", "spike", "not_refractory")]
                if learned:
                    raise NotCompilable(f"the function '{name}()' of '{learned[0]}', which is "
                                        f"replayed, not read from Brian2")
                slot = self._slots("call", position, len(self.calls))
                self.calls.append(ExternalCall(slot, position, symbols, sympy.lambdify(
                    symbols, call, modules=op.modules)))
                renamed[call] = sympy.Symbol(f"D({slot})[{element}]", real=True)
        return renamed

    def _expressions(self, position, op, index_of):
        """Declarations of the inputs, frozen values, forward values and derivatives."""
        calls = self._external_calls(position, op, index_of)
        renamed, lines = {}, []
        for k, symbol in enumerate(op.symbols):
            binding = op.bindings[symbol]
            if binding.kind == "frozen":
                continue
            renamed[symbol] = sympy.Symbol(f"_in{k}", real=True)
            lines.append(f"const double _in{k} = {self._load(binding, index_of)};")
        for k, frozen in enumerate(op.frozen):
            expression = frozen.expression.xreplace(calls).xreplace(renamed)
            renamed[frozen.symbol] = sympy.Symbol(f"_frozen{k}", real=True)
            lines.append(f"const double _frozen{k} = {self._printer.doprint(expression)};")
        exprs = [e for _, _, e in op.outputs] + list(op.derivatives)
        shared, reduced = sympy.cse([sympy.sympify(e).xreplace(renamed) for e in exprs],
                                    symbols=sympy.numbered_symbols("_cse"))
        lines += [f"const double {symbol} = {self._printer.doprint(value)};"
                  for symbol, value in shared]
        n_outputs = len(op.outputs)
        lines += [f"const double _out{j} = {self._printer.doprint(value)};"
                  for j, value in enumerate(reduced[:n_outputs])]
        lines += [f"double _d{t} = {self._printer.doprint(value)};"
                  for t, value in enumerate(reduced[n_outputs:])]
        return lines

    def _load(self, binding, index_of):
        """C expression of a binding's value for the current element."""
        index = index_of[binding.side]
        if binding.kind == "row" and binding.var == SPIKE:
            slot = self._slots("spikes", binding.owner)
        elif binding.kind == "row":
            slot = self._slots("state", (binding.owner, binding.var))
        elif binding.kind == "param":
            slot = self._slots("param", binding.param.offset)
            return f"D({slot})[({index}) * S({slot})]"
        elif binding.kind == "value":
            slot = self._slots("value", binding.owner, binding.var)
            return f"D({slot})[({index}) * S({slot})]"
        elif binding.kind == "spike":
            slot = self._slots("spikes", binding.owner)
        elif binding.kind == "not_refractory":
            slot = self._slots("not_refractory", binding.owner, binding.var)
        else:
            raise NotCompilable(f"a value bound as {binding.kind!r}")
        return f"D({slot})[{index}]"

    def _terms(self, op):
        """Per output: ``(derivative number, binding)`` of its row and column terms."""
        per_output = [([], []) for _ in op.outputs]
        for t, (output, symbol) in enumerate(op.terms):
            binding = op.bindings[symbol]
            per_output[output][0 if binding.kind == "row" else 1].append((t, binding))
        return per_output

    def _row(self, block, index):
        return f"({self._layout.rows(block).start} + ({index}))"

    def _column(self, binding, index_of):
        param = binding.param
        offset = f"I({self._slots('offset', param.offset)})[0]"
        if param.kind == "shared":
            return f"column_of[{offset}]"
        return f"column_of[{offset} + ({index_of[binding.side]})]"

    def _immediate(self, columns, target, index_of):
        """Immediate influences (column terms) added to row ``target`` in place."""
        return [f"rtrl_add(tape, scale, {target}, {self._column(binding, index_of)}, _d{t}, P, "
                f"counts);" for t, binding in columns]

    def _local(self, position, op):
        """A neuron-local op or a threshold: outputs of neuron e from its own rows."""
        n = op.op.group.n
        index_of = {"self": "e"}
        threshold = isinstance(op.op, ThresholdOp)
        group = op.op.group.name
        lines = [f"/* {type(op.op).__name__}: {op.owner.name} */",
                 f"for (Py_ssize_t e = 0; e < {n}; e++) {{"]
        body = self._expressions(position, op, index_of)
        if threshold:
            spikes = self._slots("spikes", group)
            active = self._slots("active", group)
            self._spike_blocks.append((group, SPIKE))
            gate = self._gate if not op.op.constant else "0.0"
            if op.op.refractory:
                flag = self._slots("not_refractory", group, "updated")
                gate = f"({gate}) * D({flag})[e]"
            body += [f"const double _gate = {gate};",
                     f"const int _active = (_gate != 0.0) || (D({spikes})[e] != 0.0);",
                     f"A({active})[e] = (unsigned char) _active;"]
            body += [f"_d{t} *= _gate;" for t in range(len(op.terms))]
        in_place, copied = [], []
        for j, (rows, columns) in enumerate(self._terms(op)):
            block = (op.outputs[j][0], op.outputs[j][1])
            spike_output = block[1] == SPIKE
            self._static_rows += n * sum(
                1 for _, b in rows
                if spike_output or not (b.owner, b.var) == block) + (0 if spike_output else n)
            self._static_columns += n * len(columns)
            diagonal = [t for t, b in rows if not spike_output and (b.owner, b.var) == block]
            others = [(t, b) for t, b in rows if t not in diagonal]
            if diagonal and not others:
                in_place.append((j, diagonal[0], columns, False))  # its own row scaled: no copy
                continue
            copied.append(j)
            body.append(f"int _any{j} = 0;")
            # a row that only its diagonal changes this step is scaled in place too
            live = [f"(_d{t} != 0.0 && scale[{self._row((b.owner, b.var), 'e')}] != 0.0)"
                    for t, b in others]
            live += [f"(_d{t} != 0.0 && {self._column(b, index_of)} >= 0)" for t, b in columns]
            scaled = f"!({' || '.join(live)})" if diagonal else "0"
            body.append(f"const int _scaled{j} = {scaled};")
            body.append(f"if (!_scaled{j}) {{")
            for t, binding in rows:
                source = self._row((binding.owner, binding.var), "e")
                body.append(f"    if (_d{t} != 0.0 && scale[{source}] != 0.0) {{ "
                            f"rtrl_axpy(tape, RTRL_SCRATCH({j}), {source}, _d{t} * scale[{source}], "
                            f"P, _any{j}, counts); _any{j} = 1; }}")
            for t, binding in columns:
                column = self._column(binding, index_of)
                body.append(f"    if (_d{t} != 0.0 && {column} >= 0) {{ "
                            f"if (!_any{j}) {{ rtrl_zero(tape, RTRL_SCRATCH({j}), P, counts); "
                            f"_any{j} = 1; }} rtrl_add_entry(tape, RTRL_SCRATCH({j}), {column}, "
                            f"_d{t}, counts); }}")
            body.append("}")
            if diagonal:
                in_place.append((j, diagonal[0], [], True))
        # rows scaled in place read only themselves: after every copy has read the old rows
        for j, diagonal, columns, dynamic in in_place:
            target = self._row(op.outputs[j][:2], "e")
            condition = f"_scaled{j} && " if dynamic else ""
            body.append(f"if ({condition}scale[{target}] != 0.0) "
                        f"rtrl_rescale(tape, scale, {target}, _d{diagonal}, P, counts);")
            body += self._immediate(columns, target, index_of)
        for j, (owner, var, _) in enumerate(op.outputs):
            if j in copied:
                target = self._row((owner, var), "e")
                # a spike row (only active units have one: _any implies _active) takes
                # the step's next temporary row (`place`, see the tape)
                placed = (f"rtrl_place_spike_row(tape, {target}); "
                          if threshold and var == SPIKE else "")
                body.append(f"if (!_scaled{j} && _any{j}) {{ {placed}rtrl_copy(tape, {target}, "
                            f"RTRL_SCRATCH({j}), P, counts); }} "
                            f"if (!_scaled{j}) scale[{target}] = _any{j} ? 1.0 : 0.0;")
            if not threshold:
                body.append(f"D({self._slots('state', (owner, var))})[e] = _out{j};")
        lines += ["    " + line for line in body] + ["}"]
        return "\n".join(lines)

    def _pathway(self, position, op):
        """A synaptic pathway: increments of postsynaptic rows over active units' synapses."""
        pathway = op.op
        if any(assigns for _, _, assigns in pathway.increments):
            raise NotCompilable("an '=' statement in on_pre (only increments)")
        written = {(owner, var) for owner, var, _ in op.outputs}
        for symbol, binding in op.bindings.items():
            if (binding.owner, binding.var) in written and binding.kind in ("row", "value"):
                raise NotCompilable(f"'{symbol}' is read by the same pathway that increments it")
        synapses = pathway.synapses.name
        source = pathway.pre_group.name
        index_of = {"pre": "u", "post": "post", "synapse": "syn", "self": "0"}
        outgoing, order = self._slots("outgoing", synapses), self._slots("order", synapses)
        post = self._slots("post", synapses)
        if pathway.pre is not None:
            active = f"A({self._slots('active', source)})[u]"
        else:
            active = f"D({self._slots('spikes', source)})[u] != 0.0"
        n_pre = pathway.pre_group.N
        body = self._expressions(position, op, index_of)
        for j, (rows, columns) in enumerate(self._terms(op)):
            owner, var, _ = op.outputs[j]
            target = self._row((owner, var), "post")
            for _, binding in rows:
                self._static_rows += (pathway.post.n * self._layout.size((binding.owner,
                                                                           binding.var)))
            live = " || ".join(f"_d{t} != 0.0" for t, _ in rows + columns) or "0"
            body.append(f"if ({live}) {{")
            body.append(f"    counts[2] += {len(columns)};")
            for t, binding in rows:
                side = index_of[binding.side]
                source_row = self._row((binding.owner, binding.var), side)
                body.append(f"    if (_d{t} != 0.0 && scale[{source_row}] != 0.0) {{ "
                            f"rtrl_ensure(tape, scale, {target}, P, counts); "
                            f"rtrl_axpy(tape, {target}, {source_row}, "
                            f"_d{t} * scale[{source_row}] / scale[{target}], P, 1, counts); }}")
            body += ["    " + line for line in self._immediate(columns, target, index_of)]
            body.append("}")
            body.append(f"D({self._slots('state', (owner, var))})[post] += _out{j};")
        lines = [f"/* pathway: {synapses} */",
                 f"const Py_ssize_t _pathway{position} = tape->size;",
                 f"for (Py_ssize_t u = 0; u < {n_pre}; u++) {{",
                 f"    if (!({active})) continue;",
                 f"    for (Py_ssize_t k = I({outgoing})[u]; k < I({outgoing})[u + 1]; k++) {{",
                 f"        const Py_ssize_t syn = I({order})[k];",
                 f"        const Py_ssize_t post = (Py_ssize_t) P32({post})[syn];"]
        lines += ["        " + line for line in body] + ["    }", "}"]
        lines.append(f"rtrl_group_by_row(tape, _pathway{position});")
        return "\n".join(lines)


def stored_rows(layout):
    """
    Where the compiled step stores each row of the influence matrix: the
    state variables' rows in order in ``M``, spike rows nowhere (-1; the step
    places them in temporary rows).

    Returns
    -------
    place : ndarray
        ``layout.n_rows`` row indices (numpy.intp).
    n_stored : int
        Rows of ``M``.
    """
    stored = np.zeros(layout.n_rows, dtype=bool)
    for block in layout.blocks:
        stored[layout.rows(block)] = block[1] != SPIKE
    n_stored = int(np.count_nonzero(stored))
    place = np.full(layout.n_rows, -1, dtype=np.intp)
    place[stored] = np.arange(n_stored)
    return place, n_stored
