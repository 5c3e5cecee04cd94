"""
Derivatives of the step IR: symbolic Jacobians, evaluated numerically per step.

For every op the symbols of its expressions are *bound* to where their values
come from (`Binding`): a row block of the influence matrix (state that
parameters influence), a parameter's columns, a value Brian2 holds, a spike, or
a frozen sub-expression. The derivative of each output with respect to each
row- or column-bound symbol is taken once with sympy and turned into a numpy
function; at each step `DerivedOp.step` evaluates them into a `Linearization`
and advances the replayed state. `replay` runs a step's ops in order and
returns their linearizations and the units each event was active for.
"""

import functools
from dataclasses import dataclass, field

import numpy as np
import sympy
from brian2 import Synapses
from brian2.codegen.runtime.numpy_rt import NumpyCodeObject

from .compile import base_group, linked_variables
from .connectivity import OutgoingSynapses
from .ir import (NOT_REFRACTORY, SPIKE, LocalOp, PathwayOp, ThresholdOp, comparison_symbol,
                 delayed_spike, event_key, event_variable, is_spike)
from .linear import ColumnTerm, Linearization, OutputLinearization, RowTerm
from .symbolic import NUMPY_MODULES

__all__ = ["Binding", "DerivedOp", "derive_ops", "replay", "Replayed", "StepInputs"]


@dataclass(frozen=True)
class Binding:
    """
    Where a symbol's value comes from.

    Attributes
    ----------
    kind : {'row', 'param', 'value', 'spike', 'not_refractory', 'frozen', 'noise'}
    owner : str
        Group or Synapses name (for 'row', 'value', 'spike', 'not_refractory').
    var : str
        Variable name in ``owner`` (for 'not_refractory': the phase, one of
        `REFRACTORY_PHASES`).
    side : {'self', 'pre', 'post', 'synapse'}
        How elements index it: neuron ``e``, presynaptic / postsynaptic neuron
        of synapse ``e``, or synapse ``e`` (scalars ignore it).
    param : ParamIR or None
    """

    kind: str
    owner: str = ""
    var: str = ""
    side: str = "self"
    param: object = None

    @property
    def is_tangent(self):
        return self.kind in ("row", "param")


@dataclass
class StepInputs:
    """
    What Brian2 provides for one step.

    Attributes
    ----------
    spikes : dict
        Group name to a float array of 0/1, the spikes of this step; custom
        events under ``event_key(name, event_variable(event))``.
    not_refractory : dict
        ``(group name, phase)`` to a float array, 1 where Brian2's
        ``not_refractory`` flag was true in that phase (`REFRACTORY_PHASES`).
    values : callable
        ``values(owner_name, var)`` returns Brian2's current (unitless) values.
    probes : dict
        ``(object name, 'before' or 'after')`` to ``{var: values}``: Brian2's
        state around each op that draws random numbers (`rtrl_brian.noise`).
    check : callable
        ``check(owner_name, var, replayed, actual, where)`` raises if a replayed
        value differs from Brian2's.
    earlier_spikes : dict
        ``(group name, delayed_spike(k))`` to the group's spikes of ``k`` steps
        ago, for synaptic delays.
    earlier_active : dict
        ``(group name, k)`` to the units that were active ``k`` steps ago.
    """

    spikes: dict
    not_refractory: dict
    values: object
    probes: dict = field(default_factory=dict)
    check: object = None
    earlier_spikes: dict = field(default_factory=dict)
    earlier_active: dict = field(default_factory=dict)


@dataclass
class Replayed:
    """
    One replayed step (`replay`).

    Attributes
    ----------
    linearizations : list of Linearization
        In op order, for ``M <- J M + Mbar``.
    active : dict
        Group name (`event_key` for custom events) to a bool array: units inside
        the surrogate's support or sending an event this step (only they couple
        influence across units).
    """

    linearizations: list
    active: dict

    @property
    def units(self):
        """How many units were active, over every event."""
        return sum(int(np.count_nonzero(units)) for units in self.active.values())


def replay(ops, state, inputs):
    """
    Replay one step op by op from ``state`` (advanced in place).

    Parameters
    ----------
    ops : list of DerivedOp
        In schedule order.
    state : dict
        ``(group, var)`` to the values at the step's start (float64 copies).
    inputs : StepInputs

    Returns
    -------
    replayed : Replayed
    """
    linearizations, active = [], {}
    for op in ops:
        found, events = op.step(state, inputs, active)
        linearizations.extend(found)
        active.update(events)
    return Replayed(linearizations, active)


@functools.lru_cache(maxsize=4096)
def _derivative(expr, symbol):
    return sympy.diff(expr, symbol)


def _lambdify(symbols, exprs, modules):
    return sympy.lambdify(symbols, list(exprs), modules=modules, cse=True)


def _as_elements(value, n):
    """One value per element (scalars and 1-element arrays are broadcast)."""
    value = np.asarray(value, dtype=np.float64)
    return np.broadcast_to(value.reshape(()), (n,)) if value.size == 1 else value


class DerivedOp:
    """
    One op of the IR with its numeric forward map and Jacobian.

    Parameters
    ----------
    op : LocalOp, ThresholdOp or PathwayOp
    ir : StepIR
    surrogate : callable
        ``surrogate(x)`` gives the pseudo-derivative of the spike at ``x``.
    detach_reset : bool
        Treat the spike in resets as a constant.
    """

    def __init__(self, op, ir, surrogate, detach_reset):
        self.op = op
        self.surrogate = surrogate
        self._csr = None
        #: Per output, how elements index its block: 'post' or 'pre' (a pathway's
        #: increments), 'synapse' (its per-synapse state) or 'self'.
        self.sides = []
        self.outputs = []
        #: Per output, whether it is an '=' statement (pathways).
        self.assigned = []
        if isinstance(op, PathwayOp):
            for side, group, increments in (("post", op.post, op.increments),
                                            ("pre", op.pre, op.presynaptic)):
                self.outputs += [(group.name, var, g) for var, g, _ in increments]
                self.sides += [side] * len(increments)
                self.assigned += [assigns for _, _, assigns in increments]
            self.outputs += [(op.synapses.name, var, g) for var, g in op.synaptic.items()]
            self.sides += ["synapse"] * len(op.synaptic)
            self.assigned += [False] * len(op.synaptic)
            self.assigns = False
            self.owner = op.synapses
        elif isinstance(op, ThresholdOp):  # one output per comparison, merged in _threshold
            self.outputs = [(op.group.name, op.variable, x) for x in op.conditions]
            self.assigns = True
            self.owner = op.group.group
            truth = [comparison_symbol(k) for k in range(len(op.conditions))]
            #: dP/dh_k of the threshold's formula, as a function of the comparisons' truth.
            self._slopes = None if op.constant else sympy.lambdify(
                truth, [sympy.diff(op.combine, h) for h in truth], modules="numpy")
        else:
            self.outputs = [(op.group.name, var, expr) for var, expr in op.outputs.items()]
            self.assigns = True
            self.owner = op.group.group
        self.sides = self.sides or ["self"] * len(self.outputs)
        #: Rows of each output's block.
        self.sizes = [ir.groups[group].n for group, _, _ in self.outputs]
        #: Index arrays of linked variables read through an index (``'linked y'``).
        self._linked_index = {} if isinstance(self.owner, Synapses) else {
            f"linked {name}": self.owner.variables[index].get_value()
            for name, (_, _, index) in linked_variables(self.owner).items() if index != "_idx"}
        self.frozen = list(op.frozen)
        #: Random samples of the op (`rtrl_brian.noise`), solved at each step.
        self.noise = list(getattr(op, "noise", []))
        noise_vars = {str(n.symbol): n.var for n in self.noise}
        frozen_names = {str(f.symbol) for f in self.frozen}
        symbols = set()
        for _, _, expr in self.outputs:
            symbols |= expr.free_symbols
        for item in self.frozen:
            symbols |= item.expression.free_symbols
        self.bindings = {}
        for symbol in sorted(symbols, key=str):
            name = str(symbol)
            if name in frozen_names:
                self.bindings[symbol] = Binding("frozen")
            elif name in noise_vars:
                self.bindings[symbol] = Binding("noise", op.group.name, noise_vars[name])
            else:
                self.bindings[symbol] = self._bind(name, ir)
        if detach_reset and isinstance(op, LocalOp) and op.kind == "reset":
            event = event_variable(op.source.event)
            z = sympy.Symbol(event, real=True)
            if z in self.bindings:
                self.bindings[z] = Binding("spike", op.group.name, event, "self")
        self.symbols = list(self.bindings)
        modules = [dict(NUMPY_MODULES[0], **self._function_modules(ir))] + NUMPY_MODULES[1:]
        #: Numeric implementations of the op's functions, for `sympy.lambdify`.
        self.modules = modules
        outputs = {var: expr for _, var, expr in self.outputs}
        #: Per sample: the output without it and its coefficient, ``s' = f + g * xi``.
        self._noise_fn = _lambdify(self.symbols, [part for n in self.noise for part in (
            outputs[n.var].xreplace({n.symbol: 0}), sympy.diff(outputs[n.var], n.symbol))],
            modules) if self.noise else None
        base = [s for s in self.symbols if self.bindings[s].kind != "frozen"]
        self._frozen_fn = _lambdify(base, [f.expression for f in self.frozen], modules) \
            if self.frozen else None
        self._frozen_symbols = [f.symbol for f in self.frozen]
        self._forward_fn = _lambdify(self.symbols, [e for _, _, e in self.outputs], modules)
        self.terms = []  # (output index, symbol) per derivative
        derivatives = []
        for index, (_, _, expr) in enumerate(self.outputs):
            for symbol in self.symbols:
                if self.bindings[symbol].is_tangent and symbol in expr.free_symbols:
                    derivative = _derivative(expr, symbol)
                    if derivative != 0:
                        self.terms.append((index, symbol))
                        derivatives.append(derivative)
        self._derivative_fn = _lambdify(self.symbols, derivatives, modules)
        #: The derivative of each of `terms`, as sympy (for generated code).
        self.derivatives = derivatives

    @property
    def uses_synaptic_state(self):
        """Whether the op reads or writes per-synapse state (rows of a `Synapses` block)."""
        name = self.owner.name
        return isinstance(self.owner, Synapses) and (
            any(group == name for group, _, _ in self.outputs)
            or any(b.kind == "row" and b.owner == name for b in self.bindings.values()))

    # -- binding --------------------------------------------------------------------
    def _function_modules(self, ir):
        return {name: function.implementations[NumpyCodeObject].get_code(self.owner)
                for name, function in ir.functions.items()}

    def _bind(self, name, ir):
        op = self.op
        if isinstance(op, PathwayOp) or isinstance(self.owner, Synapses):
            return self._bind_synaptic(name, ir)
        group = op.group
        linked = linked_variables(group.group).get(name)
        if linked is not None:  # another group's variable, through an index
            owner, var, index = linked
            side = "self" if index == "_idx" else f"linked {name}"
            if owner.name in ir.groups and var in ir.groups[owner.name].state_vars:
                return Binding("row", owner.name, var, side)
            param = ir.param_for(owner, var)
            if param is not None:
                return Binding("param", owner.name, var, side, param)
            return Binding("value", group.name, name, side)
        if name in group.state_vars and not (is_spike(name) and isinstance(op, ThresholdOp)):
            return Binding("row", group.name, name, "self")
        if name == NOT_REFRACTORY:
            return Binding("not_refractory", group.name, op.refractory_phase)
        param = ir.param_for(group.group, name)
        if param is not None:
            return Binding("param", group.name, name, "self", param)
        return Binding("value", group.name, name, "self")

    def _bind_synaptic(self, name, ir):
        """Bind a name in synaptic code: a pathway's, or the synapses' state updater's."""
        op, synapses = self.op, self.owner
        pre_group, post_group = base_group(synapses.source), base_group(synapses.target)
        if isinstance(op, PathwayOp) and name == f"{SPIKE}_{op.prepost}":
            # the event: the spike of ``delay`` steps ago, or a custom event
            spike = delayed_spike(op.delay) if op.delay else event_variable(op.event)
            if op.event_group is not None:
                return Binding("row", op.event_group.name, spike, op.prepost)
            return Binding("spike", op.event_source.name, spike, op.prepost)
        if name == f"{NOT_REFRACTORY}_post":
            return Binding("not_refractory", op.post_group.name, op.refractory_phase, "post")
        if name == f"{NOT_REFRACTORY}_pre":
            return Binding("not_refractory", op.pre_group.name, op.pre_refractory_phase, "pre")
        own = ir.groups.get(synapses.name)
        if own is not None and name in own.state_vars:  # per-synapse state
            return Binding("row", synapses.name, name,
                           "synapse" if isinstance(op, PathwayOp) else "self")
        index = synapses.variables.indices.get(name, "_idx")
        if index in ("_presynaptic_idx", "_postsynaptic_idx"):
            side = "pre" if index == "_presynaptic_idx" else "post"
            group = pre_group if side == "pre" else post_group
            group_ir = ir.groups.get(group.name)
            base = name[:-4] if side == "pre" else name[:-5]
            if group_ir is not None and base in group_ir.state_vars:
                return Binding("row", group.name, base, side)
            param = ir.param_for(group, base)
            if param is not None:
                return Binding("param", group.name, base, side, param)
            return Binding("value", group.name, base, side)
        param = ir.param_for(synapses, name)
        if param is not None:
            return Binding("param", synapses.name, name, "synapse", param)
        return Binding("value", synapses.name, name, "synapse")

    # -- evaluation -----------------------------------------------------------------------
    def _elements(self, inputs, active):
        """
        Element count and index arrays (pre, post, synapse) for pathways.

        A pathway's increments carry the event's spike (presynaptic for
        ``on_pre``, postsynaptic for ``on_post``) as a factor, and its spike
        row is zero outside the surrogate's support, so only synapses of
        active or spiking units of that side can contribute: they are found
        through the synapses' CSR by that side's unit, the others are skipped.
        ``active``: the units the step's thresholds found active so far
        (`Replayed.active`).
        """
        if not isinstance(self.op, PathwayOp) or self.op.every_synapse:
            return self.every_element(inputs)  # not gated by events ((summed) variables)
        synapses = self.op.synapses
        pre = inputs.values(synapses.name, "_synaptic_pre")
        post = inputs.values(synapses.name, "_synaptic_post")
        source = self.op.event_source.name
        if self.op.delay:  # units active when the delivered spikes were emitted
            active = inputs.earlier_active[(source, self.op.delay)]
        else:
            key = event_key(source, event_variable(self.op.event))
            active = active.get(key)
            if active is None:  # a source without rows: its spikes
                active = inputs.spikes[key] != 0
        units = pre if self.op.prepost == "pre" else post
        selected = self._outgoing(units, len(active)).select(np.flatnonzero(active))
        if self.op.synapse_subset is not None:  # this op's delay only
            selected = selected[self.op.synapse_subset[selected]]
        return len(selected), {"pre": pre[selected], "post": post[selected],
                               "synapse": selected, "self": None}

    def every_element(self, inputs):
        """Element count and index arrays as `_elements`, for all neurons or synapses."""
        if not isinstance(self.owner, Synapses):
            return self.op.group.n, dict(self._linked_index, self=None)
        name = self.owner.name
        pre = inputs.values(name, "_synaptic_pre")
        return len(pre), {"pre": pre, "post": inputs.values(name, "_synaptic_post"),
                          "synapse": np.arange(len(pre)), "self": None}

    def _outgoing(self, pre, n_pre):
        if self._csr is None or self._csr.n_synapses != len(pre):
            self._csr = OutgoingSynapses(pre, n_pre)
        return self._csr

    def value(self, binding, state, inputs, index):
        """The value of ``binding`` for the elements ``index`` (see `_elements`)."""
        if binding.kind == "param":
            value = binding.param.values()
            if binding.param.kind == "shared":
                return value.reshape(())
        elif binding.kind == "row":
            value = state[(binding.owner, binding.var)]
        elif binding.kind == "spike":
            value = inputs.earlier_spikes[(binding.owner, binding.var)] \
                if binding.var.startswith(f"{SPIKE}_d") \
                else inputs.spikes[event_key(binding.owner, binding.var)]
        elif binding.kind == "not_refractory":
            value = inputs.not_refractory[(binding.owner, binding.var)]
        elif binding.kind == "noise":
            return np.zeros(())  # solved from Brian2's state in `_solve_noise`
        else:
            value = np.asarray(inputs.values(binding.owner, binding.var))
            if value.size == 1:  # shared (t, dt, scalars) or a one-neuron group: the same
                return value.reshape(())  # value for every element
        selector = index.get(binding.side)
        return value if selector is None else value[selector]

    def step(self, state, inputs, active):
        """
        Evaluate the op at ``state``: its linearization, then advance ``state``.

        Parameters
        ----------
        state : dict
            ``(group, var)`` to the replayed values before the op; updated in place.
        inputs : StepInputs
        active : dict
            The units earlier thresholds of the step found active (`Replayed.active`).

        Returns
        -------
        linearizations : list of Linearization
        events : dict
            Thresholds: their event's key to the units inside the surrogate's
            support or sending the event; other ops: empty.
        """
        n, index = self._elements(inputs, active)
        args = [None] * len(self.symbols)
        for position, symbol in enumerate(self.symbols):
            binding = self.bindings[symbol]
            if binding.kind != "frozen":
                args[position] = self.value(binding, state, inputs, index)
        if self._frozen_fn is not None:
            base = [a for a, s in zip(args, self.symbols) if self.bindings[s].kind != "frozen"]
            frozen = dict(zip(self._frozen_symbols, self._frozen_fn(*base)))
            for position, symbol in enumerate(self.symbols):
                if self.bindings[symbol].kind == "frozen":
                    args[position] = frozen[symbol]
        if self.noise:
            self._solve_noise(args, state, inputs, n)
        forward = [_as_elements(v, n) for v in self._forward_fn(*args)]
        coefficients = [_as_elements(v, n) for v in self._derivative_fn(*args)]
        if isinstance(self.op, ThresholdOp):
            return self._threshold(state, inputs, forward, coefficients, index)
        linearizations = self._linearize(n, index, coefficients, inputs)
        if self.assigns:
            for (group, var, _), value in zip(self.outputs, forward):
                state[(group, var)] = value.copy()
        else:
            self._accumulate(state, index, forward)
        return linearizations, {}

    def _solve_noise(self, args, state, inputs, n):
        """
        Fill in the realised samples: ``xi = (s'_Brian2 - f) / g``, zero where
        ``g`` is (the sample then changes nothing). First the replay is checked
        against Brian2's state before the op, so that no upstream mismatch is
        taken for noise.
        """
        source = self.op.source.name
        group = self.op.group.name
        before, after = inputs.probes[(source, "before")], inputs.probes[(source, "after")]
        for var in {n.var for n in self.noise}:
            inputs.check(group, var, state[(group, var)], before[var], f"before '{source}'")
        position = {symbol: k for k, symbol in enumerate(self.symbols)}
        parts = self._noise_fn(*args)
        for k, sample in enumerate(self.noise):
            without = _as_elements(parts[2 * k], n)
            coefficient = _as_elements(parts[2 * k + 1], n)
            realised = np.zeros(n)
            np.divide(after[sample.var] - without, coefficient, out=realised,
                      where=coefficient != 0)
            args[position[sample.symbol]] = realised

    def _threshold(self, state, inputs, conditions, coefficients, index):
        """The spike's surrogate derivative, ``sum_k dP/dh_k psi(x_k) dx_k``, as one output."""
        group = self.op.group
        if self.op.constant:
            gates = [np.zeros(group.n)]
        else:
            truth = [(x > 0 if strict else x >= 0).astype(np.float64)
                     for x, strict in zip(conditions, self.op.strict)]
            gates = [_as_elements(slope, group.n) * self.surrogate(x)
                     for slope, x in zip(self._slopes(*truth), conditions)]
        if self.op.refractory:
            gates = [gate * inputs.not_refractory[(group.name, "updated")] for gate in gates]
        key = event_key(group.name, self.op.variable)
        active = np.logical_or.reduce([gate != 0 for gate in gates]) | (inputs.spikes[key] != 0)
        coefficients = [gates[output] * c for (output, _), c in zip(self.terms, coefficients)]
        state[(group.name, self.op.variable)] = inputs.spikes[key]
        linearization, = self._linearize(group.n, index, coefficients, inputs)
        merged = linearization.outputs[0]
        for out in linearization.outputs[1:]:
            merged.rows += out.rows
            merged.columns += out.columns
        linearization.outputs = [merged]
        return [linearization], {key: active}

    def _accumulate(self, state, index, increments):
        for (group, var, _), side, size, increment, assigns in zip(
                self.outputs, self.sides, self.sizes, increments, self.assigned):
            post = index[side]
            if assigns:
                hits = np.bincount(post[increment != 0], minlength=size)
                if np.any(hits > 1):
                    raise RuntimeError(
                        f"Synapses '{self.op.synapses.name}': several spiking synapses assign "
                        f"'{var}' of the same neuron in one step; the result of '=' then "
                        f"depends on synapse order and has no exact derivative. Use '+='.")
            updated = state[(group, var)].copy()
            np.add.at(updated, post, increment)
            state[(group, var)] = updated

    def _linearize(self, n, index, coefficients, inputs):
        outputs = [OutputLinearization((g, v), size, index[side])
                   for (g, v, _), size, side in zip(self.outputs, self.sizes, self.sides)]
        for (output, symbol), coef in zip(self.terms, coefficients):
            binding = self.bindings[symbol]
            selector = index.get(binding.side)
            if binding.kind == "row":
                outputs[output].rows.append(RowTerm((binding.owner, binding.var), selector, coef))
            else:
                param = binding.param
                if param.kind == "shared":
                    columns = np.full(n, param.offset)
                elif selector is None:
                    columns = param.offset + np.arange(n)
                else:
                    columns = param.offset + selector
                outputs[output].columns.append(ColumnTerm(columns, coef))
        if self.assigns:
            return [Linearization(True, outputs)]
        # one linearization: every output from the influence before the op
        return [Linearization(False, [_active(out) for out in outputs])]


def _active(out):
    """Drop synapses whose every coefficient is zero from the output ``out``
    (exact: they add nothing)."""
    if not out.rows and not out.columns:
        return out
    keep = np.zeros(len(out.index), dtype=bool)
    for term in out.rows + out.columns:
        keep |= term.coef != 0
    out.index = out.index[keep]
    for term in out.rows:
        term.index = term.index[keep] if term.index is not None else None
        term.coef = term.coef[keep]
    for term in out.columns:
        term.columns = term.columns[keep]
        term.coef = term.coef[keep]
    return out


def derive_ops(ir, surrogate, detach_reset):
    """
    Derive every op of ``ir``.

    Parameters
    ----------
    ir : StepIR
    surrogate : callable
    detach_reset : bool

    Returns
    -------
    ops : list of DerivedOp
        In schedule order.
    """
    return [DerivedOp(op, ir, surrogate, detach_reset) for op in ir.ops]
