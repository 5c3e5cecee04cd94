"""
The step IR: what one time step of a Brian2 network does, as data.

`rtrl_brian.compile` builds it from Brian2 objects; `rtrl_brian.derive` turns
each op into numeric forward and derivative functions. The IR holds sympy
expressions whose symbols are named after the identifiers Brian2 uses (``v``,
``w``, ``c_pre``, ``v_post``) plus a few reserved ones:

``_z``, ``_z_pre``
    The spike (0 or 1) of the neuron, of the presynaptic neuron.
``_not_refractory``, ``_not_refractory_post``
    Brian2's ``not_refractory`` flag of the neuron (of the postsynaptic
    neuron) as the op sees it: 1 or 0. Brian2 updates the flag twice per step
    (the state updater recomputes it, the thresholder clears it for spiking
    neurons), so which value an op reads depends on its place in the schedule:
    see `REFRACTORY_PHASES`. Brian2 makes every write to an ``(unless
    refractory)`` variable conditional on it, except in resets.
"""

from dataclasses import dataclass, field

import sympy

__all__ = [
    "SPIKE",
    "delayed_spike",
    "event_variable",
    "event_key",
    "is_spike",
    "StepStart",
    "NOT_REFRACTORY",
    "REFRACTORY_PHASES",
    "GroupIR",
    "ParamIR",
    "LocalOp",
    "ThresholdOp",
    "comparison_symbol",
    "PathwayOp",
    "StepIR",
]

#: Name of the pseudo state variable holding a group's spikes.
SPIKE = "_z"


def delayed_spike(steps):
    """Name of the pseudo state variable holding a group's spikes of ``steps`` steps ago."""
    return f"{SPIKE}_d{steps}"


def event_variable(event):
    """Name of the pseudo state variable holding a group's events of kind ``event``
    (`SPIKE` for ``'spike'``; custom events of ``NeuronGroup(events=...)``)."""
    return SPIKE if event == "spike" else f"{SPIKE}_event_{event}"


def event_key(group, var):
    """Key of a group's events ``var`` (`event_variable`) in `StepInputs.spikes` and
    `Replayed.active`: the group's name for spikes, ``(name, var)`` otherwise."""
    return group if var == SPIKE else (group, var)


def is_spike(var):
    """Whether ``var`` holds events: `SPIKE`, a delayed spike (`delayed_spike`) or
    a custom event (`event_variable`)."""
    return var == SPIKE or var.startswith(f"{SPIKE}_d") or var.startswith(f"{SPIKE}_event_")


#: Name of the per-neuron refractoriness flag in expressions.
NOT_REFRACTORY = "_not_refractory"
#: The values of ``not_refractory`` an op can see, in schedule order: before the
#: group's state updater (the previous step's final value), between the state
#: updater and the thresholder, and after the thresholder (spiking neurons cleared).
REFRACTORY_PHASES = ("previous", "updated", "after_spikes")


@dataclass
class GroupIR:
    """
    A `NeuronGroup` whose state parameters influence, or `Synapses` with
    per-synapse state (short-term plasticity, clock-driven synaptic equations).

    Attributes
    ----------
    group : NeuronGroup or Synapses
    n : int
        Number of neurons (of synapses).
    state_vars : tuple of str
        Variables with rows in the influence matrix, in row order; includes
        `SPIKE` when the group has a threshold, then its spikes of 1, 2, ...
        steps ago (`delayed_spike`) as far back as its synaptic delays reach,
        then its custom events (`event_variable`).
    """

    group: object
    n: int
    state_vars: tuple

    @property
    def name(self):
        return self.group.name

    @property
    def has_threshold(self):
        return SPIKE in self.state_vars


@dataclass
class ParamIR:
    """
    One learnable Brian2 variable: a block of columns of the influence matrix.

    Attributes
    ----------
    owner : Group
        The `NeuronGroup` or `Synapses` that owns the variable.
    name : str
        The variable's name in ``owner``.
    kind : {'synapse', 'neuron', 'shared'}
        One column per synapse, per neuron, or a single column.
    size : int
    offset : int
        Index of its first column.
    """

    owner: object
    name: str
    kind: str
    size: int
    offset: int

    @property
    def label(self):
        """``owner.name``: how messages, results and stored state name it."""
        return f"{self.owner.name}.{self.name}"

    @property
    def description(self):
        """The label, and for synapses the groups they connect: ``'s.w (rec -> out)'``."""
        source, target = getattr(self.owner, "source", None), getattr(self.owner, "target", None)
        if source is None or target is None:
            return self.label
        return f"{self.label} ({source.name} -> {target.name})"

    @property
    def span(self):
        """Its slice of the parameter (column) index space."""
        return slice(self.offset, self.offset + self.size)

    def values(self):
        """The current values (a view on Brian2's array, in base units)."""
        return self.owner.variables[self.name].get_value()


@dataclass(frozen=True)
class StepStart:
    """The start of a step, before every Brian2 object (where delay lines shift)."""

    name: str
    when: str = "before_start"
    order: float = float("-inf")


@dataclass
class LocalOp:
    """
    Neuron-local update of one group: state updater, ``run_regularly``, reset,
    or an input such as a `PoissonInput`.

    Attributes
    ----------
    kind : {'state_update', 'run_regularly', 'reset', 'input', 'delay_line', 'summed_reset'}
    source : CodeRunner
        The Brian2 object that executes it (gives the schedule position).
    group : GroupIR
    outputs : dict
        Maps each written state variable to its new value (sympy), in terms of
        the values before the op. A reset's value already contains the spike:
        ``s + _z * (reset(s) - s)`` (for a custom event's code, ``run_on_event``,
        the event's variable, `event_variable`, in place of ``_z``).
    frozen : list of Frozen
        Piecewise-constant sub-expressions, evaluated numerically.
    code : str
        The Brian2 code it came from (for messages).
    refractory_phase : str
        Which ``not_refractory`` value `NOT_REFRACTORY` stands for (one of
        `REFRACTORY_PHASES`).
    noise : list of Noise
        Random samples the op draws, read back from Brian2 (`rtrl_brian.noise`).
    """

    kind: str
    source: object
    group: GroupIR
    outputs: dict
    frozen: list = field(default_factory=list)
    code: str = ""
    refractory_phase: str = "updated"
    noise: list = field(default_factory=list)


@dataclass
class ThresholdOp:
    """
    Spike generation of one group: ``z = P(H(x_0), H(x_1), ...)``, one
    surrogate argument ``x_k = lhs - rhs`` per comparison of its condition.

    A single comparison is ``z = H(x_0)``. Comparisons joined by ``and``,
    ``or``, ``not`` make ``P`` the multilinear polynomial of the formula
    (``and``: product; ``or``: ``1 - (1 - a)(1 - b)``; ``not``: ``1 - a``);
    its surrogate derivative is ``sum_k dP/dh_k psi(x_k) dx_k``, ``dP/dh_k`` at
    the comparisons' realised values.

    Attributes
    ----------
    source : Thresholder
    group : GroupIR
    conditions : list of sympy.Expr
        The ``x_k``, oriented so that comparison ``k`` holds where ``x_k > 0``
        (``x_k >= 0`` where it is not strict).
    frozen : list of Frozen
    refractory : bool
        Whether the group has a refractory period (spikes are gated by it).
    constant : bool
        The condition is a constant (``'True'``): spikes depend on nothing
        learned, no unit is inside the surrogate's support, ``conditions`` are
        unused.
    combine : sympy.Expr
        ``P`` in the symbols `comparison_symbol` ``(k)``.
    strict : tuple of bool
        Per comparison, whether it is strict (``>``, ``<``).
    event : str
        The event it generates: ``'spike'`` or a custom event
        (``NeuronGroup(events=...)``; never gated by refractoriness, as in Brian2).
    """

    source: object
    group: GroupIR
    conditions: list
    frozen: list = field(default_factory=list)
    refractory: bool = False
    constant: bool = False
    combine: object = None
    strict: tuple = (True,)
    event: str = "spike"

    @property
    def variable(self):
        """The pseudo state variable of its events (`event_variable`)."""
        return event_variable(self.event)


def comparison_symbol(k):
    """The symbol standing for the truth value of comparison ``k`` in `ThresholdOp.combine`."""
    return sympy.Symbol(f"_h{k}", real=True)


@dataclass
class PathwayOp:
    """
    A pathway: ``post += _z_pre * f`` per synapse, per statement (``on_pre``;
    for ``on_post``, ``_z_post`` is the event).

    Attributes
    ----------
    source : SynapticPathway
    synapses : Synapses
    pre : GroupIR or None
        The presynaptic group when parameters influence it, else None (input).
    post : GroupIR
    increments : list of tuple
        ``(post_var, g, assigns)`` with ``g = _z_pre * f`` the per-synapse
        increment (times ``_not_refractory_post`` for ``(unless refractory)``
        variables, as Brian2 gates such writes), applied one statement after the other; ``assigns`` marks
        ``=`` statements.
    frozen : list of Frozen
    refractory_phase : str
        Which ``not_refractory`` value of the postsynaptic group
        ``_not_refractory_post`` stands for (one of `REFRACTORY_PHASES`).
    pre_group, post_group : NeuronGroup
        The groups holding the pre- and postsynaptic state: the synapses'
        source and target, or their owners where those are subgroups (synapses
        index them by the owner's neuron numbers).
    delay : int
        Synaptic delay in steps: the events of this op are the spikes of
        ``delay`` steps ago (`delayed_spike`).
    synapse_subset : ndarray of bool or None
        The synapses with this delay, where the pathway's delays differ (one op
        per delay); None: all synapses.
    every_synapse : bool
        A ``(summed)`` variable: every synapse contributes every step (no
        spike), into a postsynaptic variable that a `LocalOp` of kind
        ``'summed_reset'`` zeroed just before.
    prepost : {'pre', 'post'}
        Whose events trigger it: ``on_pre`` or ``on_post`` (as Brian2's
        `SynapticPathway.prepost`).
    event : str
        Which events: ``'spike'`` or a custom event (``on_event=``).
    presynaptic : list of tuple
        ``(pre_var, g, assigns)`` as `increments`, into presynaptic variables
        (times ``_not_refractory_pre`` for ``(unless refractory)`` ones).
    pre_refractory_phase : str or None
        Which ``not_refractory`` value of the presynaptic group
        ``_not_refractory_pre`` stands for; None where no write uses it.
    synaptic : dict
        Per-synapse state the pathway writes (event-driven updates, ``x -=
        u*x``, ``lastupdate = t``): each variable's increment ``_z_pre *
        (new - old)``, the new value in terms of the values before the op
        (statements composed in order). The `increments` read the state as
        it is at their statement.
    """

    source: object
    synapses: object
    pre: object
    post: GroupIR
    increments: list
    frozen: list = field(default_factory=list)
    refractory_phase: str = "after_spikes"
    pre_group: object = None
    post_group: object = None
    delay: int = 0
    synapse_subset: object = None
    every_synapse: bool = False
    synaptic: dict = field(default_factory=dict)
    prepost: str = "pre"
    presynaptic: list = field(default_factory=list)
    event: str = "spike"
    pre_refractory_phase: str = None

    @property
    def event_group(self):
        """The `GroupIR` whose events trigger the pathway, or None (an input)."""
        return self.pre if self.prepost == "pre" else self.post

    @property
    def event_source(self):
        """The group whose events trigger the pathway."""
        return self.pre_group if self.prepost == "pre" else self.post_group


@dataclass
class StepIR:
    """
    Everything the learner needs about one time step.

    Attributes
    ----------
    groups : dict
        Group name to `GroupIR`, for the groups parameters influence.
    params : list of ParamIR
        In column order.
    ops : list
        `LocalOp`, `ThresholdOp` and `PathwayOp`, in Brian2's schedule order.
    spike_sources : dict
        Name to group, for every group whose spikes a pathway reads.
    functions : dict
        External functions (`TimedArray`, user `Function`) by name.
    dt : float
        Time step in seconds.
    resolutions : list
        Every external-name resolution made while compiling (see
        `rtrl_brian.compile.is_current`).
    structure : tuple
        Synapses and parameter sizes the IR was built for.
    """

    groups: dict
    params: list
    ops: list
    spike_sources: dict
    functions: dict
    dt: float
    resolutions: list = field(default_factory=list)
    structure: tuple = ()

    @property
    def n_params(self):
        return sum(p.size for p in self.params)

    def param_for(self, owner, name):
        """The `ParamIR` of ``owner.name``, or None."""
        for param in self.params:
            if param.owner.name == owner.name and param.name == name:
                return param
        return None
