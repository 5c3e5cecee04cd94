"""
Derivatives of the step IR: symbolic Jacobians, as numeric functions.

For every op the symbols of its expressions are *bound* to where their values
come from (`Binding`): a row block of the influence matrix (state that
parameters influence), a parameter's columns, a value Brian2 holds, a spike, or
a frozen sub-expression. The derivative of each output with respect to each
row- or column-bound symbol is taken once with sympy and turned into a numpy
function. A `DerivedOp` is frozen data: `rtrl_brian.replay` evaluates it at
each step into a `Linearization` and the replayed state.
"""

import functools
from dataclasses import dataclass

import sympy
from brian2 import Synapses
from brian2.codegen.runtime.numpy_rt import NumpyCodeObject

from .compile import base_group, linked_variables
from .ir import (NOT_REFRACTORY, SPIKE, LocalOp, PathwayOp, ThresholdOp, comparison_symbol,
                 delayed_spike, event_variable, is_spike)
from .symbolic import NUMPY_MODULES

__all__ = ["Binding", "DerivedOp", "derive_ops"]


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


@functools.lru_cache(maxsize=4096)
def _derivative(expr, symbol):
    return sympy.diff(expr, symbol)


def _lambdify(symbols, exprs, modules):
    return sympy.lambdify(symbols, list(exprs), modules=modules, cse=True)


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
            self.slopes = None if op.constant else sympy.lambdify(
                truth, [sympy.diff(op.combine, h) for h in truth], modules="numpy")
        else:
            self.outputs = [(op.group.name, var, expr) for var, expr in op.outputs.items()]
            self.assigns = True
            self.owner = op.group.group
        self.sides = self.sides or ["self"] * len(self.outputs)
        #: Rows of each output's block.
        self.sizes = [ir.groups[group].n for group, _, _ in self.outputs]
        #: Index arrays of linked variables read through an index (``'linked y'``).
        self.linked_index = {} if isinstance(self.owner, Synapses) else {
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
        self.noise_fn = _lambdify(self.symbols, [part for n in self.noise for part in (
            outputs[n.var].xreplace({n.symbol: 0}), sympy.diff(outputs[n.var], n.symbol))],
            modules) if self.noise else None
        base = [s for s in self.symbols if self.bindings[s].kind != "frozen"]
        self.frozen_fn = _lambdify(base, [f.expression for f in self.frozen], modules) \
            if self.frozen else None
        self.frozen_symbols = [f.symbol for f in self.frozen]
        self.forward_fn = _lambdify(self.symbols, [e for _, _, e in self.outputs], modules)
        self.terms = []  # (output index, symbol) per derivative
        derivatives = []
        for index, (_, _, expr) in enumerate(self.outputs):
            for symbol in self.symbols:
                if self.bindings[symbol].is_tangent and symbol in expr.free_symbols:
                    derivative = _derivative(expr, symbol)
                    if derivative != 0:
                        self.terms.append((index, symbol))
                        derivatives.append(derivative)
        self.derivative_fn = _lambdify(self.symbols, derivatives, modules)
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
