"""
The Brian2 object that follows a network step by step and linearizes it.

`StepObserver` is the common base of `RTRL` and `BPTT`. It owns two
`NetworkOperation` hooks: one before every other object in a step (snapshot of
the learned groups' state) and one after every other object (the derivative
work). In between Brian2 runs the step as usual. The end hook replays the step
from the snapshot through the compiled ops, using Brian2's own spikes, obtains
each op's linearization, and checks that the replay ends where Brian2 ended:
anything the compiler did not model (a user `NetworkOperation` changing state,
say) is reported instead of silently giving wrong gradients.

Under Brian2's C++ standalone device, which skips `NetworkOperation` objects,
`RTRL` contributes code objects to the binary instead (`rtrl_brian.standalone`);
other observers refuse standalone devices.
"""

import collections
import copy
import functools

import numpy as np
from brian2 import BrianObject, Network, NetworkOperation, Quantity
from brian2.core.namespace import get_local_namespace
from brian2.devices.device import get_device

from .compile import check_bracketed, compile_step, is_current, owner_of
from .errors import UnsupportedConstructError
from .derive import derive_ops
from .ir import SPIKE, PathwayOp, delayed_spike, event_key, event_variable, is_spike
from .linear import StateLayout
from .losses import Loss
from .noise import probe_names
from .replay import REPLAY_RTOL, Replayer, StepInputs, replay_agrees
from .surrogates import Triangle
from .targets import StandaloneTarget, device_target
from .trials import TrialSchedule, initial_values, trial_data

__all__ = ["StepObserver"]


def _difference(before, after):
    """What differs between two compilations of a learner's network, in words."""
    synapses_before, synapses_after = before.structure[0], after.structure[0]
    gone = sorted(set(synapses_before) - set(synapses_after))
    new = sorted(set(synapses_after) - set(synapses_before))
    if gone:
        return (f"{', '.join(repr(name) for name in gone)} wrote into learned groups then but "
                f"is not part of the network being run: add it, or create the learner where "
                f"only the network's objects exist")
    if new:
        return f"{', '.join(repr(name) for name in new)} now writes into learned groups"
    return "state blocks or parameter count differ"


def _probed(ir):
    """``(object name, variables)`` of each op of ``ir`` that draws random numbers."""
    return [(op.source.name, sorted({n.var for n in op.noise}))
            for op in ir.ops if getattr(op, "noise", None)]


class StepObserver(BrianObject):
    """
    Base class: compile, hook into the schedule, linearize every step.

    Parameters
    ----------
    params : list of VariableView
        Variables to learn.
    loss : MSE or CrossEntropy
    surrogate : Triangle, optional
        Default ``Triangle(width=1.0, gain=0.3)``.
    detach_reset : bool
        Treat the spike in resets as a constant.
    name : str
    namespace : dict, optional
        Namespace for external names at construction; default: the caller's
        locals and globals (``level`` frames above the subclass constructor).
        Each run re-resolves names in the run's namespace, as Brian2 does.
    level : int
    """

    add_to_magic_network = True

    #: Whether the class runs inside Brian2's C++ standalone binary (`RTRL` does).
    supports_standalone = False

    def __init__(self, params, loss, surrogate=None, detach_reset=False, name="observer*",
                 namespace=None, level=0):
        if not isinstance(loss, Loss):
            raise TypeError(f"'loss' must be a loss of rtrl_brian.losses (MSE, CrossEntropy or "
                            f"a subclass of Loss), got {type(loss).__name__}.")
        surrogate = Triangle() if surrogate is None else surrogate
        if not callable(surrogate):
            raise TypeError(f"'surrogate' must be callable like rtrl_brian.surrogates.Triangle, "
                            f"got {type(surrogate).__name__}.")
        # the learned groups' clock (one dt for all, checked by compile_step): a network
        # on a clock of its own steps the learner once per step of its own
        BrianObject.__init__(self, when="end", name=name, clock=loss.group.clock)
        #: Created under the C++ standalone device (`rtrl_brian.standalone`).
        self.standalone = self._on_standalone_device()
        self._check_device()
        self.params = list(params)
        self.loss = loss
        self.surrogate = surrogate
        self.detach_reset = bool(detach_reset)
        if namespace is None:
            namespace = get_local_namespace(level=level + 1)
        self._compile(namespace)
        self._probes = {}
        if not self.standalone:
            self.contained_objects.extend([
                NetworkOperation(self._on_step_start, when="before_start", order=-(2 ** 62),
                                 name=f"{self.name}_start", clock=self.clock),
                NetworkOperation(self._on_step_end, when="after_end", order=2 ** 62,
                                 name=f"{self.name}_end", clock=self.clock)])
            self.contained_objects.extend(self._create_probes())
        self._start_state = None
        self._step = 0
        self._checked_network = False
        self._steps_total = 0
        self._trial_steps = None
        self._trial_start = None
        self._trial_data, self._trial_initial = None, ()
        self._trial_offset = 0
        self._trials_started = 0
        self._dt = None
        self._learning = True

    def trials(self, steps, start=None, data=None, initial=None):
        """
        Split the run into trials of ``steps`` steps, without stopping Brian2.

        At the very beginning of every ``steps``-th step (counted from now),
        before anything else in the step runs, the learner sets the variables
        of ``initial`` to their values, points the loss at the trial's entry of
        ``data``, calls ``start(trial)`` (``trial`` = 0, 1, ...), which may
        reset the network's state, change labels or learning rates, or record
        results, and then `reset_state`. One long ``run()`` then replaces many
        short ones and their per-run overhead.

        Parameters
        ----------
        steps : int or None
            Trial length in time steps; None switches trials off.
        start : callable, optional
            Python: not under cpp_standalone (``data`` and ``initial`` are).
        data : sequence, optional
            One entry per trial, the loss's data for it (`Loss.set_trial`: a
            target for `MSE`, labels for `CrossEntropy`, a tuple per part for
            a sum).
        initial : dict, optional
            Values that state variables of the learned groups take at the
            start of every trial, e.g. ``{rec.v: 0, out.y: 0}`` (one number
            each, in the variable's units).
        """
        if steps is not None and (int(steps) != steps or steps < 1):
            raise ValueError(f"{self.name}: trial 'steps' must be a positive integer, got "
                             f"{steps!r}.")
        initial = initial_values(self.name, initial, self.layout)
        data = trial_data(self.name, data, self.loss)
        self._trial_steps = None if steps is None else int(steps)
        self._trial_start = start
        self._trial_data, self._trial_initial = data, initial
        self._trial_offset = self._steps_total
        self._trials_started = 0

    @property
    def trial_schedule(self):
        """The trials `trials` set: a `TrialSchedule` (``steps`` None: no trials)."""
        return TrialSchedule(self._trial_steps, self._trial_offset, self._trial_start,
                             self._trial_data, self._trial_initial)

    def brian_object(self, name):
        """The Brian2 object ``name`` whose values the learner reads: a learned group, a
        spike source or synapses."""
        return self._objects[name]

    @property
    def learning(self):
        """
        Whether steps are differentiated (default True).

        False: the network runs on, trials still start (``start`` callbacks,
        `reset_state`), but nothing is linearized, recorded or accumulated, so
        held-out trials cost no more than the simulation. Setting it back to
        True calls `reset_state`: influence starts at zero from that step, as
        at a trial start.
        """
        return self._learning

    @learning.setter
    def learning(self, value):
        if value and not self._learning:
            self.reset_state()
        self._learning = bool(value)

    # -- compilation ----------------------------------------------------------------------
    def _compile(self, namespace, objects=None):
        ir = compile_step(self.params, namespace, objects)
        for group, name in (block for part in self.loss.parts for block in part.blocks):
            if group not in ir.groups:
                raise ValueError(f"The loss reads '{group}.{name}', but no parameter in "
                                 f"'params' influences '{group}'.")
            if name not in ir.groups[group].state_vars:
                names = ", ".join(v for v in ir.groups[group].state_vars if not is_spike(v))
                raise ValueError(f"The loss reads '{group}.{name}', which is not a state "
                                 f"variable of '{group}' (state variables: {names}).")
        layout = StateLayout(ir.groups)
        if hasattr(self, "ir") and (layout.blocks != self.layout.blocks
                                    or ir.n_params != self.ir.n_params):
            raise RuntimeError(f"{self.name}: the network changed since the learner was "
                               f"created ({_difference(self.ir, ir)}); create a new learner.")
        if hasattr(self, "_probed") and _probed(ir) != self._probed:
            raise RuntimeError(
                f"{self.name}: the network's random inputs changed since the learner was "
                f"created (objects drawing random numbers into learned groups); create a "
                f"new learner.")
        self.ir = ir
        self.layout = layout
        #: How many steps back each spike source's synaptic delays reach.
        self._depths = {}
        for op in ir.ops:
            if isinstance(op, PathwayOp) and op.delay:
                name = op.pre_group.name
                self._depths[name] = max(self._depths.get(name, 0), op.delay)
        previous = getattr(self, "_earlier", {})
        self._earlier = {name: collections.deque(previous.get(name, ()), maxlen=depth + 1)
                         for name, depth in self._depths.items()}
        self.ops = derive_ops(ir, self.surrogate, self.detach_reset)
        self._replayer = Replayer(self.ops)
        self._objects = dict(ir.spike_sources)
        self._objects.update({name: g.group for name, g in ir.groups.items()})
        for op in ir.ops:
            if hasattr(op, "synapses"):
                self._objects[op.synapses.name] = op.synapses
        self._event_sources = self._find_event_sources()

    def _create_probes(self):
        """Probes just before and after each op that draws random numbers."""
        probes = []
        for op in self.ir.ops:
            if not getattr(op, "noise", None):
                continue
            source, variables = op.source, sorted({n.var for n in op.noise})
            for phase, name in zip(("before", "after"), probe_names(source.name, self.name)):
                probes.append(NetworkOperation(
                    functools.partial(self._probe, source.name, phase, op.group.name, variables),
                    when=source.when, order=source.order, name=name, clock=source.clock))
            check_bracketed(self.ir.ops, source, *probes[-2:])
        self._probed = _probed(self.ir)
        return probes

    def _probe(self, source, phase, group, variables):
        if self._learning:
            self._probes[(source, phase)] = {var: np.array(self._values(group, var),
                                                           dtype=np.float64)
                                             for var in variables}

    def _on_standalone_device(self):
        """Whether Brian2's device is cpp_standalone (False: the runtime device); other
        devices are refused by name."""
        try:
            return isinstance(device_target(get_device()), StandaloneTarget)
        except ValueError as error:
            raise UnsupportedConstructError(f"{self.name}: {error}") from error

    def _check_device(self):
        device = get_device()
        standalone = self._on_standalone_device()
        if standalone and not self.supports_standalone:
            raise UnsupportedConstructError(
                f"{self.name}: the device '{type(device).__name__}' is not supported: "
                f"{type(self).__name__} runs as a NetworkOperation, which standalone devices "
                f"skip. Use the runtime device (numpy or cython targets) or RTRL, which runs "
                f"inside the cpp_standalone binary.")
        if standalone != self.standalone:
            raise RuntimeError(
                f"{self.name}: the learner was created for the "
                f"{'standalone' if self.standalone else 'runtime'} device but runs on "
                f"'{type(device).__name__}'; create it after set_device().")

    def before_run(self, run_namespace):
        self._check_device()
        dt = float(self.loss.group.clock.dt_)
        if self._step and self._dt is not None and dt != self._dt:
            raise ValueError(
                f"{self.name}: dt changed from {self._dt * 1e3:g} ms to {dt * 1e3:g} ms in the "
                f"middle of a trial (after {self._step} steps): its targets, labels and masks "
                f"are indexed by steps of the old dt. Call reset_state() to start a new trial "
                f"first, or keep dt.")
        self._dt = dt
        objects = self.network_objects()
        if run_namespace is not None and not is_current(self.ir, run_namespace, objects):
            self._compile(run_namespace, objects)
        self._checked_network = False
        super().before_run(run_namespace)

    def running_network(self):
        """
        The `Network` that runs this learner, or None where no single network
        holds it (Brian2 gives its objects no reference to their network).
        """
        holders = [net for net in (ref() for ref in Network.__instances__())
                   if net is not None and self in net.objects
                   and getattr(self, "_network", None) in (None, net.id)]
        return holders[0] if len(holders) == 1 else None

    def network_objects(self):
        """
        The objects (with their contained ones) of the network that runs this
        learner, to compile from; None where no single network holds it.
        """
        network = self.running_network()
        return None if network is None else network.sorted_objects

    # -- per step -----------------------------------------------------------------------
    def _values(self, owner, var):
        """Brian2's array of ``owner.var``."""
        return self._objects[owner].variables[var].get_value()

    def _read_state(self):
        state = {(name, var): np.array(self._values(name, var), dtype=np.float64)
                 for name, group in self.ir.groups.items()
                 for var in group.state_vars if not is_spike(var)}
        for name, depth in self._depths.items():  # the delay lines before their shift
            if name in self.ir.groups:
                state[(name, SPIKE)] = self._earlier_step(name, 1)[0]
                state.update({(name, delayed_spike(k)): self._earlier_step(name, k + 1)[0]
                              for k in range(1, depth)})
        return state

    def _earlier_step(self, name, steps):
        """``(spikes, active units)`` of group ``name`` ``steps`` steps before this one
        (none before the learner's first step: Brian2's queues were empty too)."""
        history = self._earlier[name]
        if steps <= len(history):
            return history[steps - 1]
        return np.zeros(len(self._objects[name])), np.zeros(len(self._objects[name]), bool)

    def _remember_spikes(self, spikes=None, active=None):
        """Keep this step's spikes and active units for synaptic delays (default:
        Brian2's spikes; active: those that spiked)."""
        for name, history in self._earlier.items():
            sent = self._spikes(name) if spikes is None else spikes[name]
            units = None if active is None else active.get(name)
            history.appendleft((sent, sent != 0 if units is None else units))

    def _check_network(self):
        network = self._network
        for obj in self._objects.values():
            if getattr(obj, "_network", network) != network:
                raise ValueError(f"{self.name}: '{obj.name}' is not part of the network being "
                                 f"run; add it, or remove the learner.")
        self._checked_network = True

    def _on_step_start(self):
        if not self._checked_network:
            self._check_network()
        if self._trial_steps and (self._steps_total - self._trial_offset) % self._trial_steps == 0:
            self.trial_schedule.begin(self._trials_started, self.brian_object, self.loss)
            if self._trial_start is not None:
                self._trial_start(self._trials_started)
            self._trials_started += 1
            self.reset_state()
        if self._learning:
            self._snapshot()

    def _snapshot(self):
        """Keep the learned groups' state at the start of the step: the replay's start."""
        self._start_state = self._read_state()
        self._start_not_refractory = {name: self._not_refractory(name)
                                      for name in self._refractory_groups()}

    def _spikes(self, name, event="spike"):
        space = self._values(name, f"_{event}space")
        spikes = np.zeros(len(space) - 1)
        spikes[space[:space[-1]]] = 1.0
        return spikes

    def _find_event_sources(self):
        """``(key, object name, event)`` of every event the step reads: spikes of the
        spike sources and thresholded groups, other events under `event_key`."""
        sources = [(name, name, "spike") for name in self._objects
                   if name in self.ir.spike_sources or (name in self.ir.groups
                                                        and self.ir.groups[name].has_threshold)]
        sources += [(event_key(name, event_variable(event)), name, event)
                    for name in self._objects
                    for event in getattr(self._objects[name], "events", {})
                    if event != "spike" and (name in self.ir.spike_sources
                                             or name in self.ir.groups)]
        return sources

    def _inputs(self):
        spikes = {key: self._spikes(name, event) for key, name, event in self._event_sources}
        not_refractory = {}
        for name in self._refractory_groups():
            after_spikes = self._not_refractory(name)
            not_refractory[(name, "previous")] = self._start_not_refractory[name]
            not_refractory[(name, "updated")] = np.maximum(after_spikes, spikes.get(name, 0.0))
            not_refractory[(name, "after_spikes")] = after_spikes
        earlier = {(name, k): self._earlier_step(name, k)
                   for name, depth in self._depths.items() for k in range(1, depth + 1)}
        return StepInputs(
            spikes, not_refractory, self._values, probes=self._probes, check=self._check_value,
            earlier_spikes={(name, delayed_spike(k)): value[0]
                            for (name, k), value in earlier.items()},
            earlier_active={key: value[1] for key, value in earlier.items()})

    def _refractory_groups(self):
        return [name for name, group in self.ir.groups.items()
                if "not_refractory" in group.group.variables]

    def _not_refractory(self, name):
        return self._values(name, "not_refractory").astype(np.float64)

    def _on_step_end(self):
        if not self._learning:
            self._steps_total += 1  # trials go on counting
            self._remember_spikes()
            return
        self._step_now = self._steps_total  # this step's number, for messages
        state = dict(self._start_state)
        inputs = self._inputs()
        replayed = self._replay(state, inputs)
        self._remember_spikes(inputs.spikes, replayed.active)
        self._check_replay(state)
        t = float(np.asarray(self._values(self.loss.group.name, "t")).reshape(-1)[0])
        loss, dlosses = 0.0, []
        for part in self.loss.parts:
            value, derivatives = part.evaluate([state[block] for block in part.blocks],
                                               self._step, t)
            loss += value
            dlosses += zip(part.blocks, derivatives)
        self._steps_total += 1  # this step counts as done for what _consume triggers
        self._consume(replayed.linearizations, loss, dlosses)
        self._step += 1

    def _replay(self, state, inputs):
        """Replay the step from ``state`` (advanced in place): a `Replayed`."""
        return self._replayer.step(state, inputs)

    def _where(self):
        """This step, for messages: since the learner started and within the trial."""
        return f"step {self._step_now} (step {self._step} of the trial)"

    def _check_replay(self, state):
        for (name, var), replayed in state.items():
            if not is_spike(var):
                self._check_value(name, var, replayed, self._values(name, var))

    def _check_value(self, name, var, replayed, actual, where="at the end of the step"):
        """Raise if Brian2's ``actual`` value of ``name.var`` is not finite or differs
        from the ``replayed`` one (``where`` in the step, for the message)."""
        if self._replay_agrees(replayed, actual):
            return
        if not np.all(np.isfinite(actual)):
            worst = int(np.flatnonzero(~np.isfinite(actual))[0])
            raise FloatingPointError(
                f"{self.name}: at {self._where()} '{name}.{var}' of neuron {worst} is "
                f"{actual[worst]} as Brian2 computed it. Learning stopped; the parameters "
                f"keep their last finite values (lower the learning rate, clip gradients "
                f"with clip_grad_norm, or check the inputs).")
        magnitude = np.abs(actual)
        difference = np.abs(replayed - actual)
        scale = max(1.0, float(np.max(magnitude, initial=0.0)))
        # as numpy.allclose(rtol=REPLAY_RTOL, atol=REPLAY_RTOL * scale); NaN fails
        if not np.all(difference <= REPLAY_RTOL * (scale + magnitude)):
            worst = int(np.argmax(np.where(np.isnan(difference), np.inf, difference)))
            raise RuntimeError(
                f"{self.name}: at step {self._step}, {where}, the learner's replay of "
                f"'{name}.{var}' (neuron {worst}: {replayed[worst]!r}) differs from what Brian2 computed "
                f"({actual[worst]!r}). Something changed the network that rtrl_brian does "
                f"not model (a NetworkOperation, a changed schedule, or an unsupported "
                f"construct); its gradients would not be exact.")

    def _replay_agrees(self, replayed, actual):
        """`replay_agrees` (learners whose engine compiles it use that one)."""
        return replay_agrees(replayed, actual)

    def _consume(self, linearizations, loss, dlosses):
        """
        Use one step: its linearizations, its loss, and ``dlosses``, the loss's
        derivative by each block it reads (a list of ``(block, dloss)``).
        """
        raise NotImplementedError

    def reset_state(self):
        """Start a new trial: trial step 0; subclasses cut the gradient path here."""
        self._step = 0

    # -- Brian2's store/restore -------------------------------------------------------------
    #: Step and trial counters saved with the learner's state.
    _COUNTERS = ("_step", "_steps_total", "_trial_steps", "_trial_offset", "_trials_started",
                 "_dt")

    def _fingerprint(self):
        """What a saved state must match: parameters, state blocks and their sizes."""
        return {"class": type(self).__name__,
                "params": [(p.label, p.size) for p in self.ir.params],
                "blocks": [(block, self.layout.size(block)) for block in self.layout.blocks]}

    def _full_state(self):
        """
        The learner's state, for Brian2's `Network.store` (in memory or on disk).

        Everything learning depends on is included (subclasses add theirs:
        `_learning_state`); the trial callback, data and initial values are
        not: call `trials` again before restoring.
        """
        state = {name: getattr(self, name) for name in self._COUNTERS}
        state.update(fingerprint=self._fingerprint(), learning=self._learning_state(),
                     earlier={name: list(history) for name, history in self._earlier.items()})
        return copy.deepcopy(state)

    def _restore_from_full_state(self, state):
        """Restore a state saved by `_full_state` (Brian2's `Network.restore`)."""
        saved, current = state["fingerprint"], self._fingerprint()
        if saved != current:
            differences = [f"{key}: saved {saved[key]}, here {current[key]}"
                           for key in current if saved.get(key) != current[key]]
            raise ValueError(f"{self.name}: the stored state belongs to a different learner or "
                             f"network ({'; '.join(differences)}). Restore it into the network "
                             f"and learner it was stored from.")
        state = copy.deepcopy(state)
        for name in self._COUNTERS:
            setattr(self, name, state[name])
        for name, history in self._earlier.items():
            history.clear()
            history.extend(state["earlier"].get(name, ()))
        self._load_learning_state(state["learning"])
        self._start_state = None

    def _learning_state(self):
        raise NotImplementedError

    def _load_learning_state(self, state):
        raise NotImplementedError

    def _with_units(self, param, grad):
        """``grad`` of ``param`` as a Quantity: loss units per unit of the parameter."""
        return Quantity(grad, dim=self.loss.dimensions / param.owner.variables[param.name].dim)

    def _param_view(self, var):
        """The `ParamIR` of a user variable, or a clear error."""
        owner, name = owner_of(var)
        param = self.ir.param_for(owner, name)
        if param is None:
            raise KeyError(f"'{owner.name}.{name}' is not one of this learner's parameters "
                           f"({', '.join(p.label for p in self.ir.params)}).")
        return param
