"""
Replay of the step: the derived ops (`rtrl_brian.derive`) evaluated on each step's values.

`Replayer.step` runs a step's ops in schedule order from the replayed state at
the step's start, using Brian2's spikes and refractoriness of the step
(`StepInputs`): each op advances the state and returns its `Linearization`;
thresholds also return the units inside the surrogate's support or sending an
event, which the step's pathways then walk (`Replayed`). The derived ops are
frozen data; what changes from step to step lives here.
"""

from dataclasses import dataclass, field

import numpy as np
from brian2 import Synapses

from .connectivity import OutgoingSynapses
from .ir import SPIKE, PathwayOp, ThresholdOp, event_key, event_variable
from .linear import ColumnTerm, Linearization, OutputLinearization, RowTerm

__all__ = ["Replayer", "Replayed", "StepInputs", "every_element", "binding_value", "REPLAY_RTOL",
           "replay_agrees"]

#: Relative tolerance of the replay-vs-Brian2 consistency check.
REPLAY_RTOL = 1e-8


def replay_agrees(replayed, actual):
    """
    Whether Brian2's ``actual`` values of a variable are finite and equal the
    ``replayed`` ones to `REPLAY_RTOL`: as ``numpy.allclose(replayed, actual,
    rtol=REPLAY_RTOL, atol=REPLAY_RTOL * scale)``, ``scale`` the largest
    magnitude (at least 1); NaN disagrees.
    """
    magnitude = np.abs(actual)
    scale = magnitude.max(initial=1.0)
    return bool(np.isfinite(scale)) and bool(
        np.all(np.abs(replayed - actual) <= REPLAY_RTOL * (scale + magnitude)))


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
    One replayed step (`Replayer.step`).

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


class Replayer:
    """
    Replays a step's derived ops, keeping what they need from step to step
    (the outgoing synapses of each pathway's sources).

    Parameters
    ----------
    ops : list of DerivedOp
        In schedule order.
    """

    def __init__(self, ops):
        self.ops = [OpReplay(op) for op in ops]

    def step(self, state, inputs):
        """
        Replay one step op by op from ``state`` (advanced in place).

        Parameters
        ----------
        state : dict
            ``(group, var)`` to the values at the step's start (float64 copies).
        inputs : StepInputs

        Returns
        -------
        replayed : Replayed
        """
        linearizations, active = [], {}
        for op in self.ops:
            found, events = op.step(state, inputs, active)
            linearizations.extend(found)
            active.update(events)
        return Replayed(linearizations, active)


def every_element(derived, inputs):
    """Element count and index arrays (pre, post, synapse) of a derived op, for every neuron
    or synapse of its owner."""
    if not isinstance(derived.owner, Synapses):
        return derived.op.group.n, dict(derived.linked_index, self=None)
    name = derived.owner.name
    pre = inputs.values(name, "_synaptic_pre")
    return len(pre), {"pre": pre, "post": inputs.values(name, "_synaptic_post"),
                      "synapse": np.arange(len(pre)), "self": None}


def binding_value(binding, state, inputs, index):
    """The value of ``binding`` for the elements ``index`` (see `OpReplay._elements`)."""
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


class OpReplay:
    """
    One derived op at each step: its forward map and its linearization from the
    step's values.

    Parameters
    ----------
    derived : DerivedOp
    """

    def __init__(self, derived):
        self.derived = derived
        self._csr = None

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
        if not isinstance(self.derived.op, PathwayOp) or self.derived.op.every_synapse:
            return every_element(self.derived, inputs)  # not gated by events ((summed) variables)
        synapses = self.derived.op.synapses
        pre = inputs.values(synapses.name, "_synaptic_pre")
        post = inputs.values(synapses.name, "_synaptic_post")
        source = self.derived.op.event_source.name
        if self.derived.op.delay:  # units active when the delivered spikes were emitted
            active = inputs.earlier_active[(source, self.derived.op.delay)]
        else:
            key = event_key(source, event_variable(self.derived.op.event))
            active = active.get(key)
            if active is None:  # a source without rows: its spikes
                active = inputs.spikes[key] != 0
        units = pre if self.derived.op.prepost == "pre" else post
        selected = self._outgoing(units, len(active)).select(np.flatnonzero(active))
        if self.derived.op.synapse_subset is not None:  # this op's delay only
            selected = selected[self.derived.op.synapse_subset[selected]]
        return len(selected), {"pre": pre[selected], "post": post[selected],
                               "synapse": selected, "self": None}

    def _outgoing(self, pre, n_pre):
        if self._csr is None or self._csr.n_synapses != len(pre):
            self._csr = OutgoingSynapses(pre, n_pre)
        return self._csr

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
        args = [None] * len(self.derived.symbols)
        for position, symbol in enumerate(self.derived.symbols):
            binding = self.derived.bindings[symbol]
            if binding.kind != "frozen":
                args[position] = binding_value(binding, state, inputs, index)
        if self.derived.frozen_fn is not None:
            base = [a for a, s in zip(args, self.derived.symbols) if self.derived.bindings[s].kind != "frozen"]
            frozen = dict(zip(self.derived.frozen_symbols, self.derived.frozen_fn(*base)))
            for position, symbol in enumerate(self.derived.symbols):
                if self.derived.bindings[symbol].kind == "frozen":
                    args[position] = frozen[symbol]
        if self.derived.noise:
            self._solve_noise(args, state, inputs, n)
        forward = [_as_elements(v, n) for v in self.derived.forward_fn(*args)]
        coefficients = [_as_elements(v, n) for v in self.derived.derivative_fn(*args)]
        if isinstance(self.derived.op, ThresholdOp):
            return self._threshold(state, inputs, forward, coefficients, index)
        linearizations = self._linearize(n, index, coefficients, inputs)
        if self.derived.assigns:
            for (group, var, _), value in zip(self.derived.outputs, forward):
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
        source = self.derived.op.source.name
        group = self.derived.op.group.name
        before, after = inputs.probes[(source, "before")], inputs.probes[(source, "after")]
        for var in {n.var for n in self.derived.noise}:
            inputs.check(group, var, state[(group, var)], before[var], f"before '{source}'")
        position = {symbol: k for k, symbol in enumerate(self.derived.symbols)}
        parts = self.derived.noise_fn(*args)
        for k, sample in enumerate(self.derived.noise):
            without = _as_elements(parts[2 * k], n)
            coefficient = _as_elements(parts[2 * k + 1], n)
            realised = np.zeros(n)
            np.divide(after[sample.var] - without, coefficient, out=realised,
                      where=coefficient != 0)
            args[position[sample.symbol]] = realised

    def _threshold(self, state, inputs, conditions, coefficients, index):
        """The spike's surrogate derivative, ``sum_k dP/dh_k psi(x_k) dx_k``, as one output."""
        group = self.derived.op.group
        if self.derived.op.constant:
            gates = [np.zeros(group.n)]
        else:
            truth = [(x > 0 if strict else x >= 0).astype(np.float64)
                     for x, strict in zip(conditions, self.derived.op.strict)]
            gates = [_as_elements(slope, group.n) * self.derived.surrogate(x)
                     for slope, x in zip(self.derived.slopes(*truth), conditions)]
        if self.derived.op.refractory:
            gates = [gate * inputs.not_refractory[(group.name, "updated")] for gate in gates]
        key = event_key(group.name, self.derived.op.variable)
        active = np.logical_or.reduce([gate != 0 for gate in gates]) | (inputs.spikes[key] != 0)
        coefficients = [gates[output] * c for (output, _), c in zip(self.derived.terms, coefficients)]
        state[(group.name, self.derived.op.variable)] = inputs.spikes[key]
        linearization, = self._linearize(group.n, index, coefficients, inputs)
        merged = linearization.outputs[0]
        for out in linearization.outputs[1:]:
            merged.rows += out.rows
            merged.columns += out.columns
        linearization.outputs = [merged]
        return [linearization], {key: active}

    def _accumulate(self, state, index, increments):
        for (group, var, _), side, size, increment, assigns in zip(
                self.derived.outputs, self.derived.sides, self.derived.sizes, increments, self.derived.assigned):
            post = index[side]
            if assigns:
                hits = np.bincount(post[increment != 0], minlength=size)
                if np.any(hits > 1):
                    raise RuntimeError(
                        f"Synapses '{self.derived.op.synapses.name}': several spiking synapses assign "
                        f"'{var}' of the same neuron in one step; the result of '=' then "
                        f"depends on synapse order and has no exact derivative. Use '+='.")
            updated = state[(group, var)].copy()
            np.add.at(updated, post, increment)
            state[(group, var)] = updated

    def _linearize(self, n, index, coefficients, inputs):
        outputs = [OutputLinearization((g, v), size, index[side])
                   for (g, v, _), size, side in zip(self.derived.outputs, self.derived.sizes, self.derived.sides)]
        for (output, symbol), coef in zip(self.derived.terms, coefficients):
            binding = self.derived.bindings[symbol]
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
        if self.derived.assigns:
            return [Linearization(True, outputs)]
        # one linearization: every output from the influence before the op
        return [Linearization(False, [_active(out) for out in outputs])]


def _as_elements(value, n):
    """One value per element (scalars and 1-element arrays are broadcast)."""
    value = np.asarray(value, dtype=np.float64)
    return np.broadcast_to(value.reshape(()), (n,)) if value.size == 1 else value


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
