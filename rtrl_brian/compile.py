"""
Brian2 objects to the step IR (`rtrl_brian.ir`).

Reads exactly what Brian2 will execute: the abstract code of each group's state
updater (from `StateUpdateMethod.apply_stateupdater`, as Brian2's own
`StateUpdater` does), threshold conditions, resets, ``run_regularly`` blocks and
``on_pre`` pathways, ordered by Brian2's schedule (``when``, ``order``, name).
Pure: nothing in the user's network is changed.
"""

import re

import numpy as np
import sympy
from brian2 import NeuronGroup, Synapses, prefs
from brian2.core.functions import DEFAULT_FUNCTIONS, Function
from brian2.core.variables import Constant, Subexpression, VariableView
from brian2.equations.equations import DIFFERENTIAL_EQUATION, SUBEXPRESSION
from brian2.groups.group import CodeRunner
from brian2.groups.subgroup import Subgroup
from brian2.input.poissoninput import PoissonInput
from brian2.stateupdaters.base import StateUpdateMethod
from brian2.stateupdaters.exact import linear

from .errors import UnsupportedConstructError, unsupported
from .ir import (NOT_REFRACTORY, SPIKE, GroupIR, LocalOp, ParamIR, PathwayOp,
                 StepIR, ThresholdOp, comparison_symbol, delayed_spike, event_variable)
from .delays import delay_line, delay_steps
from .noise import check_noise, random_functions, replace_random_calls
from .symbolic import SymbolicCode, assign, parse_statements, substitute, to_sympy

__all__ = ["is_current", "compile_step", "owner_of", "base_group", "check_bracketed"]

#: Variables Brian2 maintains itself; user code may read but not write them.
_INTERNAL = frozenset({"t", "dt", "i", "j", "N", "t_in_timesteps", "lastspike",
                       "not_refractory", "lastupdate", "_spikespace"})


def owner_of(view):
    """
    The group that owns a Brian2 variable, and the variable's name.

    Parameters
    ----------
    view : VariableView
        E.g. ``S.w`` or ``G.v``.

    Returns
    -------
    owner, name : Group, str

    Raises
    ------
    TypeError
        If ``view`` is not a Brian2 variable of a group.
    """
    if not isinstance(view, VariableView):
        raise TypeError(f"Expected a Brian2 group variable such as 'S.w' or 'G.v', "
                        f"got {type(view).__name__} {view!r}.")
    try:
        owner = view.group
        subgroup = isinstance(owner, Subgroup)
    except ReferenceError as exc:  # Brian2's variables refer to their group weakly
        raise ValueError(f"The group that owned the variable '{view.name}' no longer exists: "
                         f"keep a reference to the group (or synapses) while learning "
                         f"it.") from exc
    if subgroup:
        raise UnsupportedConstructError(
            f"Cannot learn through Subgroup '{owner.name}': use the variable of the "
            f"full group '{owner.source.name}' instead."
        )
    return owner, view.name


def base_group(group):
    """
    The group that holds a group's state: the owner of a `Subgroup`, else itself.

    Brian2 stores a subgroup's variables in its owner's arrays and synapses
    from or onto a subgroup index them by the owner's neuron numbers, so the
    learner treats them as synapses of the owner.
    """
    return group.source if isinstance(group, Subgroup) else group


def _sort_key(obj, schedule):
    slots = {}
    for position, when in enumerate(schedule):
        slots[f"before_{when}"] = 3 * position
        slots[when] = 3 * position + 1
        slots[f"after_{when}"] = 3 * position + 2
    return (slots[obj.when], obj.order, obj.name)


class Scope:
    """
    The Brian2 objects a compilation looks among for synapses, groups and inputs.

    Parameters
    ----------
    objects : iterable of BrianObject, optional
        The objects of the network being run (with their contained objects).
        None: every live object, what a learner created before its network
        can see.
    """

    def __init__(self, objects=None):
        def live(cls):
            return [ref() for ref in cls.__instances__() if ref() is not None]

        #: Whether the objects are a network's (not every live one).
        self.of_network = objects is not None
        if objects is None:
            self.synapses, self.groups = live(Synapses), live(NeuronGroup)
            self.poisson_inputs = live(PoissonInput)
        else:
            objects = list(objects)
            self.synapses = [obj for obj in objects if isinstance(obj, Synapses)]
            self.groups = [obj for obj in objects if isinstance(obj, NeuronGroup)]
            self.poisson_inputs = [obj for obj in objects if isinstance(obj, PoissonInput)]

    def inputs_of(self, group):
        """The `PoissonInput` objects that act on ``group`` or a subgroup of it, by name."""
        return sorted((obj for obj in self.poisson_inputs
                       if _member(base_group(obj.group), {group.name: group})),
                      key=lambda obj: obj.name)

    def incoming(self, members):
        """The synapses that write into one of ``members`` (a name-keyed dict), by name."""
        return sorted((s for s in self.synapses if _member(base_group(s.target), members)),
                      key=lambda s: s.name)


def _member(obj, objects):
    """Whether ``obj`` is one of ``objects`` (a name-keyed dict), by identity.

    Names are only unique within a network; objects left over from another
    network may share them. ``==`` also sees through Brian2's weak proxies.
    """
    other = objects.get(obj.name)
    return other is not None and other == obj


def _check_group(group):
    """Refuse group-level constructs that have no exact derivative."""
    if isinstance(group, Subgroup):
        raise UnsupportedConstructError(
            f"Cannot learn through Subgroup '{group.name}': connect the full "
            f"group '{group.source.name}' instead."
        )
    if not isinstance(group, NeuronGroup):
        raise TypeError(f"'{group.name}' is a {group.__class__.__name__}: only NeuronGroup "
                        f"and Synapses variables can be learned through.")
    for name, (owner, _, index) in linked_variables(group).items():
        if not isinstance(owner, NeuronGroup) or index == "0":
            raise unsupported(group, f"{name} : (linked)", f"a linked variable of "
                              f"{type(owner).__name__} '{owner.name}'",
                              "Only per-neuron variables of a NeuronGroup can be linked.")


def linked_variables(group):
    """
    ``{name: (owner, variable, index)}`` for each linked variable of a
    `NeuronGroup` (``y : 1 (linked)``, ``G.y = linked_var(H, 'x')``): the group
    and variable it reads and the name of Brian2's index variable (``'_idx'``
    for one-to-one links, else an array of the owner's neuron numbers). Links to
    groups that no longer exist (left over from an earlier network) are left out.
    """
    linked = {}
    equations = getattr(group, "equations", None)
    for eq in equations.ordered if equations is not None else ():
        if "linked" in eq.flags:
            var = group.variables[eq.varname]
            try:
                var.owner.name
            except ReferenceError:
                continue
            linked[eq.varname] = (var.owner, var.name, group.variables.indices[eq.varname])
    return linked


def _check_synapses(synapses):
    """Refuse synaptic constructs that have no exact derivative (yet)."""
    for name, updater in synapses.summed_updaters.items():
        if _postsynaptic_name(synapses, name) is None:
            raise unsupported(synapses, f"{name} = {updater.expression} (summed)",
                              "a (summed) variable of the presynaptic group",
                              "Sum into the postsynaptic group.")


class _Compiler:
    """Collects groups, parameters and ops for `compile_step`."""

    def __init__(self, params, namespace, scope):
        self.namespace = namespace
        self.param_views = [owner_of(p) for p in params]
        self.scope = scope
        self.synapses = scope.synapses
        self.functions = {}
        #: Every name resolution made: ``(object, identifiers, identities)``.
        self.resolutions = []

    # -- discovery ----------------------------------------------------------
    def learned_groups(self):
        """Names of groups that some parameter influences, to a fixed point."""
        learned = {}
        for owner, _ in self.param_views:
            group = base_group(owner.target) if isinstance(owner, Synapses) else owner
            _check_group(group)
            learned[group.name] = group
        changed = True
        while changed:
            changed = False
            for synapses in self.synapses:
                source, target = base_group(synapses.source), base_group(synapses.target)
                if _member(source, learned) and not _member(target, learned):
                    _check_group(target)
                    learned[target.name] = target
                    changed = True
                if _member(target, learned) and not _member(source, learned) \
                        and _pathway_writes(synapses)["pre"]:  # e.g. on_post='v_pre += w'
                    _check_group(source)
                    learned[source.name] = source
                    changed = True
            for group in self.scope.groups:  # groups reading a learned group's variables
                if not _member(group, learned) and any(
                        _member(owner, learned) for owner, _, _ in
                        linked_variables(group).values()):
                    _check_group(group)
                    learned[group.name] = group
                    changed = True
        return learned

    def incoming(self, learned):
        """Every Synapses object that writes into a learned group."""
        incoming = self.scope.incoming(learned)
        for synapses in incoming:
            _check_synapses(synapses)
        return incoming

    # -- resolution -----------------------------------------------------------
    def resolve(self, obj, identifiers):
        """Resolve names like Brian2 does: the object's namespace, then ours."""
        try:
            resolved = obj.resolve_all(identifiers, self.namespace, user_identifiers=set())
        except KeyError as exc:
            raise KeyError(f"While compiling '{obj.name}' for learning: {exc}") from exc
        self.resolutions.append((obj, frozenset(identifiers), _identities(resolved)))
        return resolved

    def external_values(self, resolved):
        """Numeric values for the resolved external constants (base units)."""
        values = {}
        for name, var in resolved.items():
            if isinstance(var, Constant):
                values[name] = float(var.get_value())
            elif isinstance(var, Function) and name not in DEFAULT_FUNCTIONS:
                self.functions[name] = var
        return values

    def sympify(self, obj, expr, line, learnable, prefix, symbolic=None):
        """
        Make the sympy expression ``expr`` of ``obj`` differentiable.

        External constants are replaced by their values; reserved names (those
        starting with ``_``) are left alone.
        Returns the expression and the `SymbolicCode` that holds its frozen parts.
        """
        names = {str(s) for s in expr.free_symbols}
        names |= {f.func.__name__ for f in expr.atoms(sympy.core.function.AppliedUndef)}
        resolved = self.resolve(obj, {n for n in names if not n.startswith("_") and n != "int_"})
        constants = self.external_values(resolved)
        expr = expr.xreplace({s: sympy.Float(constants[str(s)]) for s in expr.free_symbols
                              if str(s) in constants})
        if symbolic is None:
            symbolic = SymbolicCode(lambda name: name in self.functions, learnable, prefix)
        try:
            return symbolic.differentiable(expr), symbolic
        except NotImplementedError as exc:
            raise unsupported(obj, line, str(exc)) from exc


def _subexpressions(group, suffix=""):
    """Sympy definitions of a group's subexpressions, names suffixed."""
    definitions = {}
    equations = getattr(group, "equations", None)
    for eq in (equations.ordered if equations is not None else ()):
        if eq.type == SUBEXPRESSION:
            expr = to_sympy(eq.expr.code)
            if suffix:
                expr = expr.xreplace({s: sympy.Symbol(f"{s}{suffix}", real=True)
                                      for s in expr.free_symbols
                                      if str(s) in group.variables})
            definitions[f"{eq.varname}{suffix}"] = expr
    return definitions


def _inline(code, definitions):
    """Parse ``code`` (unless it is sympy already) and substitute subexpressions
    into it, recursively."""
    expr = to_sympy(code) if isinstance(code, str) else code
    for _ in range(len(definitions) + 1):
        replace = {s: definitions[str(s)] for s in expr.free_symbols if str(s) in definitions}
        if not replace:
            break
        expr = expr.xreplace(replace)
    return expr


def _written_state(group, synapses_list, inputs):
    """State variables of ``group``: integrated ones plus every written one (by its
    events, run_regularly blocks, the PoissonInputs ``inputs`` and ``synapses_list``)."""
    written = [eq.varname for eq in group.equations.ordered  # ordered: no set order
               if eq.type == DIFFERENTIAL_EQUATION]
    codes = [group.event_codes[event] or "" for event in sorted(group.event_codes)]
    codes += [obj.abstract_code for _, obj in _run_regularly_blocks(group)]
    codes += [obj.abstract_code for obj in inputs]
    for code in codes:
        for var, _, _, _ in parse_statements(code):
            if var in group.variables and var not in written:  # others: temporaries
                written.append(var)
    for synapses in synapses_list:
        writes = _pathway_writes(synapses)
        for side, end in (("post", synapses.target), ("pre", synapses.source)):
            if base_group(end).name != group.name:
                continue
            summed = [_postsynaptic_name(synapses, name) for name in synapses.summed_updaters]
            for base in (summed if side == "post" else []) + writes[side]:
                if base in group.variables and base not in written:
                    written.append(base)
    return written


def _pathway_writes(synapses):
    """The variables the pathways of ``synapses`` write, in statement order, by
    where they live: ``'pre'`` and ``'post'`` (neuron variables, by their names in
    the neuron group) and ``'synapse'`` (per-synapse variables)."""
    writes = {"pre": [], "post": [], "synapse": []}
    for pathway in synapses._pathways:
        for var, _, _, _ in parse_statements(pathway.code):
            index = synapses.variables.indices.get(var)
            if index == "_postsynaptic_idx":
                writes["post"].append(_postsynaptic_name(synapses, var))
            elif index == "_presynaptic_idx":
                writes["pre"].append(var[:-4])
            elif index == "_idx" and var in synapses.variables:
                writes["synapse"].append(var)
    return writes


def _synaptic_state(synapses, param_views):
    """
    Per-synapse state variables of ``synapses``: integrated ones (clock- or
    event-driven), those ``on_pre`` writes, and Brian2's ``lastupdate`` where
    event-driven equations use it. Learned parameters are left out (a write
    to one is refused when the pathway is compiled).
    """
    learned = {name for owner, name in param_views if owner.name == synapses.name}
    equations = list(synapses.equations.ordered)
    if synapses.event_driven is not None:
        equations += synapses.event_driven.ordered
    state = [eq.varname for eq in equations if eq.type == DIFFERENTIAL_EQUATION]
    for var in _pathway_writes(synapses)["synapse"]:
        if var not in learned and var not in state:
            state.append(var)
    if synapses.event_driven is not None:
        state.append("lastupdate")
    return state


def _event_driven_code(synapses, pathway):
    """
    The code Brian2 runs for ``pathway``: the event-driven equations solved
    over ``t - lastupdate``, the pathway's statements, then ``lastupdate = t``
    (as `SynapticPathway.update_abstract_code`).
    """
    if synapses.event_driven is None:
        return pathway.code
    update = linear(synapses.event_driven, pathway.group.variables)
    update = re.sub(r"\bdt\b", "(t - lastupdate)", update)
    return f"{update}\n{pathway.code}\nlastupdate = t"


def _multilinear(formula, comparisons):
    """
    The multilinear polynomial of a boolean ``formula``: ``and`` a product,
    ``or`` ``1 - (1 - a)(1 - b)``, ``not`` ``1 - a``, comparison ``k`` of
    ``comparisons`` (appended to as found) `comparison_symbol` ``(k)``.
    """
    if isinstance(formula, sympy.And):
        return sympy.Mul(*[_multilinear(arg, comparisons) for arg in formula.args])
    if isinstance(formula, sympy.Or):
        return 1 - sympy.Mul(*[1 - _multilinear(arg, comparisons) for arg in formula.args])
    if isinstance(formula, sympy.Not):
        return 1 - _multilinear(formula.args[0], comparisons)
    if isinstance(formula, sympy.core.relational.Relational) and not isinstance(
            formula, (sympy.Eq, sympy.Ne)):
        if formula not in comparisons:
            comparisons.append(formula)
        return comparison_symbol(comparisons.index(formula))
    raise NotImplementedError(f"'{formula}' (a threshold is one comparison '<', '<=', '>', "
                              f"'>=', or comparisons joined by 'and', 'or', 'not')")


def _postsynaptic_name(synapses, name):
    """
    The postsynaptic variable a name in synaptic code refers to, or None.

    As in Brian2: ``v_post``, or ``v`` without a suffix when ``synapses`` has no
    variable of its own by that name.
    """
    if synapses.variables.indices.get(name) != "_postsynaptic_idx":
        return None
    return name[:-5] if name.endswith("_post") else name


def _with_suffixes(synapses, expr):
    """``expr`` with every unsuffixed postsynaptic name written ``name_post``."""
    return expr.xreplace({symbol: sympy.Symbol(f"{symbol}_post", real=True)
                          for symbol in expr.free_symbols
                          if _postsynaptic_name(synapses, str(symbol)) == str(symbol)})


def _conditional_write(group, var):
    """Whether Brian2 makes writes to ``group.var`` conditional on ``not_refractory``."""
    return getattr(group.variables[var], "conditional_write", None) is not None


class GatedWrites:
    """
    The ``(unless refractory)`` variables one pathway uses, side by side.

    Brian2 makes a pathway's writes to such a variable conditional on a flag it
    names ``not_refractory``: the written side's own flag (``_not_refractory_pre``
    or ``_post``), as long as no ``(unless refractory)`` variable of the other side
    appears in the pathway. Otherwise one name stands for two flags: Brian2 gates
    every write with one of them, whichever it met first, or fails to run; that
    case is refused (`check`).
    """

    def __init__(self, source, target):
        self.groups = {"pre": source, "post": target}
        self.used = {"pre": {}, "post": {}}  # suffixed name -> 'a read of' / 'a write to'
        self.writes = []  # (side, suffixed name, line) of the gated writes

    def _gated(self, side, name):
        group = self.groups[side]
        return name in group.variables and _conditional_write(group, name)

    def read(self, expr):
        """Note the ``(unless refractory)`` variables ``expr`` reads."""
        for symbol in sorted(map(str, expr.free_symbols)):
            for side in ("pre", "post"):
                suffix = f"_{side}"
                if symbol.endswith(suffix) and self._gated(side, symbol[:-len(suffix)]):
                    self.used[side].setdefault(symbol, "a read of")

    def write(self, side, name, line):
        """Note a write to ``name`` of ``side``; whether Brian2 gates it."""
        if not self._gated(side, name):
            return False
        self.used[side][f"{name}_{side}"] = "a write to"
        self.writes.append((side, f"{name}_{side}", line))
        return True

    def gates(self, side):
        """Whether a write of ``side`` is gated."""
        return any(written == side for written, _, _ in self.writes)

    def check(self, synapses):
        """Refuse a gated write next to an ``(unless refractory)`` variable of the
        other side."""
        for side, suffixed, line in self.writes:
            other = "pre" if side == "post" else "post"
            if self.used[other]:
                name, use = sorted(self.used[other].items())[0]
                raise unsupported(
                    synapses, line, f"{use} '{name}', an '(unless refractory)' variable of "
                    f"the {other}synaptic group, while writing the '(unless refractory)' "
                    f"variable '{suffixed}'",
                    "Both groups' flags are called 'not_refractory' there: Brian2 gates "
                    "the pathway's writes with one of them, or fails to run, which is not "
                    f"what the equations say. Use a {other}synaptic variable without the "
                    "flag, or drop '(unless refractory)' on one side.")


def entries(owner, var):
    """
    Number of entries of a per-neuron or per-synapse variable.

    Also under a standalone device before its build, where Brian2 knows the
    number of synapses only if they were created from arrays.

    Raises
    ------
    UnsupportedConstructError
        For synapses created by generated code under a standalone device.
    """
    if not isinstance(owner, Synapses):
        return int(var.size)
    try:
        return int(np.asarray(owner.variables["N"].get_value()).reshape(-1)[0])
    except NotImplementedError as exc:
        raise UnsupportedConstructError(
            f"'{owner.name}': under a standalone device the number of synapses must be known "
            f"before the build, which it is not for synapses created by a condition or a "
            f"probability: create them from arrays, {owner.name}.connect(i=sources, "
            f"j=targets), drawing the connectivity with numpy.") from exc


def _is_run_regularly(obj):
    return (isinstance(obj, CodeRunner) and obj.template == "stateupdate"
            and type(obj).__name__ == "CodeRunner")


def _run_regularly_blocks(group):
    """
    ``(owner, block)`` for each ``run_regularly`` block acting on ``group``.

    ``owner`` is ``group``, or the `Subgroup` the block was created on (Brian2
    keeps such subgroups among the group's contained objects).
    """
    for obj in group.contained_objects:
        if _is_run_regularly(obj):
            yield group, obj
        elif isinstance(obj, Subgroup):
            yield from ((obj, block) for block in obj.contained_objects
                        if _is_run_regularly(block))


def _in_parent_indices(subgroup, expr):
    """``expr`` of a subgroup's code with ``i`` and ``N`` in its owner's terms."""
    i = sympy.Symbol("i", real=True)
    return expr.xreplace({i: i - subgroup.start,
                          sympy.Symbol("N", real=True): sympy.Integer(len(subgroup))})


def _collect_params(compiler, learned):
    params, offset = [], 0
    seen = set()
    for owner, name in compiler.param_views:
        label = f"{owner.name}.{name}"
        if label in seen:
            raise ValueError(f"Parameter '{label}' is listed twice in params.")
        seen.add(label)
        var = owner.variables[name]
        if isinstance(var, Subexpression):
            raise ValueError(f"'{label}' is a subexpression, not a parameter; learn the "
                             f"parameters it is computed from instead.")
        if name in _INTERNAL or getattr(var, "read_only", False):
            raise ValueError(f"'{label}' is maintained by Brian2 and cannot be learned.")
        if isinstance(owner, Synapses):
            kind = "shared" if var.scalar else "synapse"
            if owner.name in learned and name in learned[owner.name].state_vars:
                raise ValueError(f"'{label}' is a state variable of '{owner.name}' (it changes "
                                 f"during the run); only constants (parameters) can be learned.")
            if not var.scalar and owner.variables.indices[name] != "_idx":
                raise ValueError(f"'{label}' is a pre- or postsynaptic variable; learn it "
                                 f"on its own group instead.")
        else:
            if name in owner.equations.diff_eq_names or name in learned[owner.name].state_vars:
                raise ValueError(
                    f"'{label}' is a state variable of '{owner.name}' (it changes during "
                    f"the run); only constants (parameters) can be learned.")
            kind = "shared" if var.scalar else "neuron"
        size = 1 if var.scalar else entries(owner, var)
        if not np.issubdtype(var.dtype, np.floating):
            raise TypeError(f"'{label}' has dtype {np.dtype(var.dtype).name}; learnable parameters "
                            f"must be floating point.")
        params.append(ParamIR(owner, name, kind, size, offset))
        offset += size
    return params


def compile_step(params, namespace, objects=None, schedule=None):
    """
    Compile the time step of the network around ``params`` into a `StepIR`.

    Parameters
    ----------
    params : list of VariableView
        The variables to learn, e.g. ``[S.w, G.v_th]``.
    namespace : dict
        Namespace for external names, as Brian2's ``run`` would use.
    objects : iterable of BrianObject, optional
        The network's objects, among which synapses into learned groups,
        groups linked to them and PoissonInputs are looked for (default:
        every live object; see `Scope`).
    schedule : list of str, optional
        Brian2's schedule; default ``prefs.core.network.default_schedule``.

    Returns
    -------
    ir : StepIR

    Raises
    ------
    UnsupportedConstructError
        For any construct that cannot be differentiated exactly.
    TypeError, ValueError
        For parameters that are not learnable variables.
    """
    if not params:
        raise ValueError("'params' is empty: give at least one variable to learn, e.g. [S.w].")
    schedule = schedule or prefs.core.network.default_schedule
    scope = Scope(objects)
    compiler = _Compiler(params, namespace, scope)
    learned_objects = compiler.learned_groups()
    incoming = compiler.incoming(learned_objects)

    dt = float(next(iter(learned_objects.values())).clock.dt_)
    depths = _delay_depths(incoming, dt)
    groups = {}
    for name, group in sorted(learned_objects.items()):
        state_vars = _written_state(group, incoming, scope.inputs_of(group))
        for var in state_vars:
            if var in _INTERNAL:
                raise unsupported(group, var, f"a write to the Brian2-maintained variable '{var}'")
        if group.events.get("spike") is not None:
            state_vars.append(SPIKE)
            state_vars += [delayed_spike(k) for k in range(1, depths.get(name, 0) + 1)]
        state_vars += [event_variable(event) for event in sorted(group.events)
                       if event != "spike"]
        clock_dt = float(group.clock.dt_)
        groups[name] = GroupIR(group, len(group), tuple(state_vars))
        if abs(clock_dt - float(next(iter(learned_objects.values())).clock.dt_)) > 0:
            raise unsupported(group, f"dt={group.clock.dt}", "a clock different from the other "
                              "learned groups", "Give all learned groups the same clock.")
    for synapses in incoming:
        state_vars = _synaptic_state(synapses, compiler.param_views)
        if state_vars:
            groups[synapses.name] = GroupIR(synapses, entries(synapses, None), tuple(state_vars))
    params_ir = _collect_params(compiler, groups)
    for param in params_ir:
        if isinstance(param.owner, Synapses) and param.owner.name not in {s.name for s in incoming}:
            where = ("is not part of the network being run; add it to the network"
                     if scope.of_network else "is not part of the compiled network")
            raise ValueError(f"Parameter '{param.label}': '{param.owner.name}' {where}.")

    builder = _OpBuilder(compiler, groups, params_ir, schedule, dt)
    scheduled = []
    for group_ir in groups.values():
        if depths.get(group_ir.name):
            scheduled.append(delay_line(group_ir, depths[group_ir.name]))
        scheduled += builder.group_ops(group_ir)
    for synapses in incoming:
        scheduled += builder.summed_ops(synapses) + builder.pathway_ops(synapses)
    scheduled.sort(key=lambda op: _sort_key(op.source, schedule))
    _check_order(scheduled)

    spike_sources = {base_group(s.source).name: base_group(s.source) for s in incoming}
    structure = _structure(groups, params_ir, scope)
    return StepIR(groups, params_ir, scheduled, spike_sources, dict(compiler.functions), dt,
                  compiler.resolutions, structure)


def _delay_depths(incoming, dt):
    """Group name to how many steps back the delays of its outgoing synapses reach."""
    depths = {}
    for synapses in incoming:
        source = base_group(synapses.source).name
        for pathway in synapses._pathways:
            steps = delay_steps(pathway, dt)
            if steps is not None and steps.size:
                depths[source] = max(depths.get(source, 0), int(steps.max()))
    return depths


def _identities(resolved):
    """What a resolution depends on: constants by value, other objects by identity."""
    return {name: ("constant", float(var.get_value())) if isinstance(var, Constant)
            else ("object", id(var)) for name, var in resolved.items()}


def _structure(groups, params, scope):
    """Sizes, wiring and time step the IR was built for."""
    incoming = scope.incoming({name: g.group for name, g in groups.items()})
    sizes = [(p.label, p.size if p.kind == "shared" else entries(p.owner, p.owner.variables[p.name]))
             for p in params]
    steps = sorted({float(g.group.clock.dt_) for g in groups.values()})
    delays = [None if (d := delay_steps(pathway, steps[0])) is None else d.tobytes()
              for s in incoming for pathway in s._pathways]
    return [s.name for s in incoming], sizes, steps, delays


def is_current(ir, namespace, objects=None):
    """
    Whether ``compile_step`` would build the same IR with ``namespace`` (and
    ``objects``, as there).

    True when every external name resolves to the same constant value or the
    same object, and no synapses or parameter sizes changed.
    """
    if _structure(ir.groups, ir.params, Scope(objects)) != ir.structure:
        return False
    for obj, identifiers, identities in ir.resolutions:
        try:
            resolved = obj.resolve_all(identifiers, namespace, user_identifiers=set())
        except KeyError:
            return False
        if _identities(resolved) != identities:
            return False
    return True


def check_bracketed(ops, source, before, after, schedule=None):
    """
    Refuse probes ``before`` and ``after`` of ``source`` that would bracket
    another op of the step too (`rtrl_brian.noise.probe_names`).
    """
    schedule = schedule or prefs.core.network.default_schedule
    low, high = _sort_key(before, schedule), _sort_key(after, schedule)
    for op in ops:
        if op.source is not source and low < _sort_key(op.source, schedule) < high:
            raise unsupported(source, f"when='{source.when}', order={source.order}",
                              f"random numbers drawn in the same schedule slot, order and "
                              f"neighbouring name as '{op.source.name}'",
                              f"Give '{source.name}' an 'order' of its own.")


def _check_order(ops):
    """Pathways must follow the threshold of their source in the schedule."""
    thresholded = set()
    for op in ops:
        if isinstance(op, ThresholdOp):
            thresholded.add((op.group.name, op.event))
        elif isinstance(op, PathwayOp) and not op.every_synapse and op.event_group is not None \
                and (op.event_group.name, op.event) not in thresholded:
            raise unsupported(op.synapses, f"when='{op.source.when}', order={op.source.order}",
                              "a pathway scheduled before its source's threshold",
                              "Keep Brian2's default schedule.")


class _OpBuilder:
    """Builds the ops of one group or one Synapses object."""

    def __init__(self, compiler, groups, params, schedule, dt):
        self.compiler = compiler
        self.groups = groups
        self.params = params
        self.schedule = schedule
        self.dt = dt

    def refractory_phase(self, source, group):
        """Which ``not_refractory`` value (`REFRACTORY_PHASES`) ``source`` reads of ``group``."""
        key = _sort_key(source, self.schedule)
        if key < _sort_key(group.state_updater, self.schedule):
            return "previous"
        thresholder = group.thresholder.get("spike")
        if thresholder is not None and key > _sort_key(thresholder, self.schedule):
            return "after_spikes"
        return "updated"

    def learnable(self, group, suffix=""):
        names = {f"{v}{suffix}" for v in self.groups[group.name].state_vars} \
            if group.name in self.groups else set()
        names |= {f"{p.name}{suffix}" for p in self.params if p.owner.name == group.name}
        for name, (owner, var, _) in linked_variables(group).items():
            if (owner.name in self.groups and var in self.groups[owner.name].state_vars) or \
                    any(p.owner.name == owner.name and p.name == var for p in self.params):
                names.add(f"{name}{suffix}")
        return names

    # -- neuron groups ----------------------------------------------------------
    def group_ops(self, group_ir):
        group = group_ir.group
        if isinstance(group, Synapses):  # per-synapse state: its clock-driven equations
            return [self.state_update(group_ir)] if group.equations.diff_eq_names else []
        ops = []
        definitions = _subexpressions(group)
        if group.equations.diff_eq_names:
            ops.append(self.state_update(group_ir))
        for owner, obj in _run_regularly_blocks(group):
            if float(obj.clock.dt_) != float(group.clock.dt_):
                raise unsupported(owner, f"run_regularly('{obj.abstract_code}', dt={obj.clock.dt})",
                                  "a run_regularly block with its own dt",
                                  "Use the group's clock (dt=None).")
            ops.append(self.local(group_ir, "run_regularly", obj, obj.abstract_code,
                                  definitions, None if owner is group else owner))
        for obj in self.compiler.scope.inputs_of(group):
            ops.append(self.local(group_ir, "input", obj, obj.abstract_code, definitions,
                                  obj.group if isinstance(obj.group, Subgroup) else None))
        for event in sorted(group.events):  # the spike and custom events
            ops.append(self.threshold(group_ir, definitions, event))
            reset = group.event_codes.get(event)
            if reset:
                ops.append(self.local(group_ir, "reset", group.resetter[event], reset,
                                      definitions))
        return ops

    def state_update(self, group_ir):
        group = group_ir.group
        updater = group.state_updater
        names = group.equations.names | group.equations.identifiers | {"dt"}
        variables = self.compiler.resolve(group, names)
        try:
            code = StateUpdateMethod.apply_stateupdater(
                group.equations, variables, updater.method_choice,
                method_options=updater.method_options, group_name=group.name)
        except Exception as exc:
            raise unsupported(group, str(group.equations).strip(),
                              f"an integration method that failed: {exc}") from exc
        if not isinstance(code, str):
            raise unsupported(group, f"method='{updater.method_choice}'",
                              "a state updater that does not produce abstract code (GSL)")
        code = code.replace("int(not_refractory)", NOT_REFRACTORY)
        return self.local(group_ir, "state_update", updater, code, {})

    def local(self, group_ir, kind, source, code, definitions, subgroup=None):
        """
        A local op from abstract ``code`` (neuron by neuron, or synapse by
        synapse for the state updater of `Synapses`); on the neurons of
        ``subgroup`` only, if given (its ``i`` and ``N`` are then the
        subgroup's, as in Brian2). Random calls become samples read back from
        Brian2 (`rtrl_brian.noise`).
        """
        group = group_ir.group
        values = {}
        symbolic = None
        randoms, samples = random_functions(source), []
        learnable = self.learnable(group)
        if isinstance(group, Synapses):  # its own names and both sides' (suffixed)
            definitions, learnable = self.synaptic_context(group)[2:]
        learnable = learnable | {SPIKE}
        not_refractory = sympy.Symbol(NOT_REFRACTORY, real=True)
        for var, op, expr_code, line in parse_statements(code):
            if kind == "state_update" and var == "not_refractory":
                continue  # read back from Brian2 as the refractoriness flag
            if var in _INTERNAL:
                raise unsupported(group, line, f"a write to the Brian2-maintained variable '{var}'")
            if var in linked_variables(group):
                raise unsupported(subgroup or group, line, f"a write to the linked variable '{var}'")
            try:
                parsed, drawn = replace_random_calls(to_sympy(expr_code), line, randoms,
                                                     len(samples))
            except NotImplementedError as exc:
                raise unsupported(subgroup or group, line, str(exc)) from exc
            samples += drawn
            if subgroup is not None:
                parsed = _in_parent_indices(subgroup, parsed)
            if isinstance(group, Synapses):
                if drawn:
                    raise unsupported(group, line, "random numbers in synaptic equations")
                parsed = self.synaptic_names(group, parsed, line)
            rhs = substitute(_inline(parsed, definitions), values)
            rhs, symbolic = self.compiler.sympify(subgroup or group, rhs, line, learnable,
                                                  f"{group.name}_{kind}", symbolic)
            old = values.get(var, sympy.Symbol(var, real=True))
            assign(values, var, op, rhs)
            if kind in ("run_regularly", "input") and var in group.variables and \
                    _conditional_write(group, var):  # Brian2's 'stateupdate' template
                values[var] = old + not_refractory * (values[var] - old)
        outputs = {var: value for var, value in values.items() if var in group_ir.state_vars}
        if subgroup is not None and outputs:
            i = sympy.Symbol("i", real=True)
            inside = symbolic.indicator(sympy.And(i >= subgroup.start, i < subgroup.stop))
            outputs = {var: sympy.Symbol(var, real=True)
                       + inside * (value - sympy.Symbol(var, real=True))
                       for var, value in outputs.items()}
        if kind == "reset":
            z = sympy.Symbol(event_variable(source.event), real=True)
            outputs = {var: sympy.Symbol(var, real=True)
                       + z * (value - sympy.Symbol(var, real=True))
                       for var, value in outputs.items()}
        phase = "updated" if kind == "state_update" else self.refractory_phase(source, group)
        frozen = symbolic.frozen if symbolic else []
        try:
            noise = check_noise(outputs, frozen, samples)
        except NotImplementedError as exc:
            line, reason = exc.args
            raise unsupported(subgroup or group, line, reason) from exc
        return LocalOp(kind, source, group_ir, outputs, frozen, code, phase, noise)

    def threshold(self, group_ir, definitions, event="spike"):
        """Generation of the group's ``event``: its spikes or a custom event."""
        group = group_ir.group
        condition = group.events[event]
        inlined = _inline(condition, definitions)
        line = f"threshold='{condition}'" if event == "spike" else \
            f"events={{'{event}': '{condition}'}}"
        refractory = group._refractory is not False and event == "spike"  # as Brian2
        if isinstance(inlined, (bool, sympy.logic.boolalg.BooleanAtom)):
            # 'True', or 't >= 0*ms' (Brian2's parser knows t >= 0): the spike is a
            # constant, its surrogate derivative zero
            return ThresholdOp(group.thresholder[event], group_ir, [sympy.Integer(0)], [],
                               refractory, constant=True, event=event)
        comparisons = []
        try:
            combine = _multilinear(inlined, comparisons)
        except NotImplementedError as exc:
            raise unsupported(group, line, f"a threshold condition {exc}",
                              "Each comparison gives the surrogate derivative an argument "
                              "x = lhs - rhs.") from exc
        conditions, symbolic = [], None
        for comparison in comparisons:
            lhs, rhs = comparison.lhs, comparison.rhs
            upward = isinstance(comparison, (sympy.StrictGreaterThan, sympy.GreaterThan))
            x, symbolic = self.compiler.sympify(group, lhs - rhs if upward else rhs - lhs, line,
                                                self.learnable(group),
                                                f"{group.name}_threshold", symbolic)
            conditions.append(x)
        strict = tuple(isinstance(c, (sympy.StrictGreaterThan, sympy.StrictLessThan))
                       for c in comparisons)
        return ThresholdOp(group.thresholder[event], group_ir, conditions, symbolic.frozen,
                           refractory, combine=combine, strict=strict, event=event)

    # -- synapses ----------------------------------------------------------------
    def synaptic_context(self, synapses):
        """The groups holding both sides' state, the subexpressions visible in synaptic
        code, and the names of learned quantities there."""
        source, target_group = base_group(synapses.source), base_group(synapses.target)
        definitions = _subexpressions(synapses)
        definitions.update(_subexpressions(source, "_pre"))
        definitions.update(_subexpressions(target_group, "_post"))
        learnable = self.learnable(synapses)
        learnable |= self.learnable(source, "_pre") | self.learnable(target_group, "_post")
        return source, target_group, definitions, learnable

    def synaptic_names(self, synapses, expr, line):
        """``expr`` of synaptic code with every name as Brian2 reads it (`_with_suffixes`);
        reads of linked variables of either side are refused."""
        expr = _with_suffixes(synapses, expr)
        for symbol in sorted(expr.free_symbols, key=str):
            for suffix, end in (("_pre", synapses.source), ("_post", synapses.target)):
                if str(symbol).endswith(suffix) and \
                        str(symbol)[:-len(suffix)] in linked_variables(base_group(end)):
                    raise unsupported(synapses, line, f"a read of the linked variable "
                                      f"'{symbol}'", "Read the variable it links to.")
        return expr

    def pathway_ops(self, synapses):
        """
        One op per pathway (``on_pre`` or ``on_post``) and distinct delay. The
        statements act in order for each synapse with an event: per-synapse
        state is composed symbolically, writes to neuron variables of either
        side become increments gated by the event.
        """
        ops = []
        source, target_group, definitions, learnable = self.synaptic_context(synapses)
        own = self.groups.get(synapses.name)
        own_state = own.state_vars if own is not None else ()
        for pathway in synapses._pathways:
            event = sympy.Symbol(f"{SPIKE}_{pathway.prepost}", real=True)
            written = set()
            increments, symbolic = {"pre": [], "post": []}, None
            values = {}  # synaptic state and temporaries so far, from the values before
            gated = GatedWrites(source, target_group)
            for var, op, expr_code, line in parse_statements(_event_driven_code(synapses,
                                                                                pathway)):
                rhs = substitute(_inline(self.synaptic_names(synapses, to_sympy(expr_code), line),
                                         definitions), values)
                rhs, symbolic = self.compiler.sympify(synapses, rhs, line, learnable,
                                                      pathway.name, symbolic)
                gated.read(rhs)
                if var in own_state or var not in synapses.variables:  # per synapse
                    assign(values, var, op, rhs)
                    continue
                side, name = self.neuron_write(synapses, pathway, var, op, rhs, line, written)
                written.add(f"{name}_{side}")
                if op == "-=":
                    rhs = -rhs
                elif op == "=":
                    rhs = rhs - sympy.Symbol(f"{name}_{side}", real=True)
                if gated.write(side, name, line):
                    rhs = sympy.Symbol(f"{NOT_REFRACTORY}_{side}", real=True) * rhs
                increments[side].append((name, event * rhs, op == "="))
            gated.check(synapses)
            synaptic = {var: event * (value - sympy.Symbol(var, real=True))
                        for var, value in values.items() if var in own_state}
            steps = delay_steps(pathway, self.dt)
            delays = np.unique(steps) if steps is not None and steps.size else np.zeros(1, int)
            if pathway.prepost == "post" and delays.any():
                raise unsupported(synapses, f"on_post='{pathway.code}'",
                                  "a delayed on_post pathway")
            if pathway.event != "spike" and delays.any():
                raise unsupported(synapses, f"on_event='{pathway.event}'",
                                  "a delayed pathway on a custom event")
            for delay in delays:  # one op per distinct delay
                ops.append(PathwayOp(pathway, synapses, self.groups.get(source.name),
                                     self.groups[target_group.name], increments["post"],
                                     symbolic.frozen if symbolic else [],
                                     self.refractory_phase(pathway, target_group),
                                     source, target_group, int(delay),
                                     None if len(delays) == 1 else steps == delay,
                                     synaptic=synaptic, prepost=pathway.prepost,
                                     presynaptic=increments["pre"], event=pathway.event,
                                     pre_refractory_phase=self.refractory_phase(
                                         pathway, source) if gated.gates("pre") else None))
        return ops

    def neuron_write(self, synapses, pathway, var, op, rhs, line, written):
        """
        The side (``'pre'`` or ``'post'``) and variable a pathway statement writes,
        after refusing what has no exact, order-independent derivative.
        """
        source, target = base_group(synapses.source), base_group(synapses.target)
        index = synapses.variables.indices.get(var)
        if index == "_postsynaptic_idx":
            side, name = "post", _postsynaptic_name(synapses, var)
        elif index == "_presynaptic_idx":
            side, name = "pre", var[:-4]
        else:
            raise self.refused_write(synapses, var, line)
        if op not in ("+=", "-=", "="):
            raise unsupported(synapses, line, f"the operator '{op}'", "Use '+=', '-=' or '='.")
        reads = {str(s) for s in rhs.free_symbols}
        suffixed = f"{name}_{side}"
        if reads & written or (op != "=" and suffixed in reads):
            raise unsupported(synapses, line, f"a read of a {side}synaptic variable that "
                              "this pathway also writes (its result would depend on the "
                              "order of synapses)")
        other = "pre" if side == "post" else "post"
        if source.name == target.name and f"{name}_{other}" in reads:
            raise unsupported(synapses, line, f"a read of '{name}_{other}', which the "
                              f"pathway writes on the {side}synaptic side")
        return side, name

    def summed_ops(self, synapses):
        """
        Each ``(summed)`` variable: zeroed on its neurons, then the sum over
        synapses, every step, at the summed-variable updater's place.
        """
        ops = []
        source, target_group, definitions, learnable = self.synaptic_context(synapses)
        for name, updater in sorted(synapses.summed_updaters.items()):
            target = _postsynaptic_name(synapses, name)
            line = f"{name} = {updater.expression} (summed)"
            subgroup = synapses.target if isinstance(synapses.target, Subgroup) else None
            ops.append(self.local(self.groups[target_group.name], "summed_reset", updater,
                                  f"{target} = 0", {}, subgroup))
            parsed = self.synaptic_names(synapses, to_sympy(updater.expression.code), line)
            expr, symbolic = self.compiler.sympify(synapses, _inline(parsed, definitions), line,
                                                   learnable, updater.name)
            if f"{target}_post" in {str(s) for s in expr.free_symbols}:
                raise unsupported(synapses, line, f"a read of the summed variable '{target}'")
            ops.append(PathwayOp(updater, synapses, self.groups.get(source.name),
                                 self.groups[target_group.name], [(target, expr, False)],
                                 symbolic.frozen, "updated", source, target_group,
                                 every_synapse=True))
        return ops

    def refused_write(self, synapses, var, line):
        """The error for a pathway's write to a learned parameter or a shared variable."""
        if any(p.owner.name == synapses.name and p.name == var for p in self.params):
            return unsupported(synapses, line, f"a write to the learned parameter '{var}' "
                               "(plasticity of a learned parameter)",
                               "The optimizer owns learned parameters; learn another "
                               "variable, or remove the plasticity rule.")
        return unsupported(synapses, line, f"a write to the shared variable '{var}' in a "
                           "pathway", "Every event would write it, in the order of synapses; "
                           "make it a per-synapse variable.")
