"""
The learner inside Brian2's C++ standalone binary.

Under ``set_device('cpp_standalone')`` no Python runs during a simulation, so
`RTRL` cannot follow the network with `NetworkOperation` hooks. Instead it
contributes two code objects to the standalone project, generated through a
templater derived from Brian2's C++ standalone one (templates
``rtrl_snapshot.cpp`` and ``rtrl_learn.cpp`` in ``rtrl_brian/templates/cpp_standalone``):

- `StandaloneSnapshot`, first in every step (``when='before_start'``): starts
  trials (influence matrix zeroed, trial step back to 0) and copies the learned
  groups' state, the start of the step's replay;
- `StandaloneLearning`, last in every step (``when='after_end'``): turns
  Brian2's spike spaces into spike vectors, runs the generated step of
  `rtrl_brian.codegen.StepProgram` (replay, Jacobians, influence matrix; the
  code the compiled engine runs), checks the replay against Brian2's state,
  evaluates the loss and its gradient, accumulates gradients (all of it
  `rtrl_brian.learnstep`'s ``rtrl_learn``, which the compiled engine calls on
  the runtime device too) and updates the parameters (SGD or Adam, with
  gradient clipping) in Brian2's own arrays.

Everything the learner keeps (influence matrix, gradients, optimizer moments,
counters and per-step figures) lives in arrays of `StandaloneLearning`, a
plugin-owned `Group`; Brian2 writes them to its results directory like any
other, and the learner reads them back after the run (`read_history`,
`failure`).
"""

import copy
from dataclasses import dataclass

import numpy as np
from brian2 import Group, prefs
from brian2.codegen.generators.cpp_generator import CPPCodeGenerator
from brian2.core.names import Nameable
from brian2.core.variables import Variables
from brian2.devices.cpp_standalone.codeobject import CPPStandaloneCodeObject
from brian2.devices.device import get_device
from brian2.groups.group import CodeRunner

from .codegen import C_TYPES, StepProgram, stored_rows
from .compile import base_group, entries, is_current
from .errors import NotCompilable, UnsupportedConstructError
from .ir import SPIKE
from .learnstep import COUNTERS, ERRORS, FIGURES, LearnStep, missing_c_form
from .losses import per_part
from .targets import StandaloneTarget
from .templating import TEMPLATES

__all__ = ["RTRLStandaloneCodeObject", "StandaloneLearning", "StandaloneSnapshot",
           "BinaryResults", "check_standalone", "failure_exception", "standalone_functions",
           "COUNTERS", "ERRORS"]

#: Values per parameter entry the binary keeps for an optimizer at least (Adam's two
#: moments), so that one given after the learner is created runs.
OPTIMIZER_STATE = 2

#: Per-step figures recorded in the binary (dynamic arrays ``_history_<name>``).
HISTORY = FIGURES + ("step_seconds",)


@dataclass
class BinaryResults:
    """
    What the learner's arrays held after a standalone run (`StandaloneLearning.results`).

    Attributes
    ----------
    counters : dict
        The integer state (`COUNTERS`).
    history : dict
        Per-step figures (`HISTORY` and ``M_bytes``), float64 arrays.
    trial_losses : list of float
        The summed loss of each trial that ended.
    trial_loss : float
        The loss of the trial running at the end.
    grad : ndarray
        The accumulated gradient, per parameter.
    """

    counters: dict
    history: dict
    trial_losses: list
    trial_loss: float
    grad: np.ndarray


class RTRLStandaloneCodeObject(CPPStandaloneCodeObject):
    """Brian2's C++ standalone code object, with rtrl_brian's templates first."""

    templater = CPPStandaloneCodeObject.templater.derive(
        "rtrl_brian", templates_dir=f"{TEMPLATES}/{StandaloneTarget.templates}")


def _pointer(var):
    """The C name of a Brian2 array in standalone code (``_ptr_array_...``)."""
    return CPPCodeGenerator.get_array_name(var)


class StandaloneLearning(Group, CodeRunner):
    """
    The learner's arrays in the binary, and the code object of its step.

    Parameters
    ----------
    learner : RTRL
        Under a standalone device; its compiled engine's `StepProgram` is
        the step that runs.
    program : StepProgram
    """

    add_to_magic_network = False

    def __init__(self, learner, program, dtype=np.float64):
        self.learner = learner
        self.program = program
        self.dtype = np.dtype(dtype)  # the influence matrix's
        clock = learner.loss.group.clock
        Nameable.__init__(self, name=f"{learner.name}_learning")
        self.variables = Variables(self)
        layout, n_params = learner.layout, learner.ir.n_params
        arrays = self.variables
        arrays.add_constant("N", 1)  # a Group needs one; the arrays have sizes of their own
        # the state variables' rows (spike rows live within a step, see the compiled engine)
        self._place, n_stored = stored_rows(layout)
        arrays.add_array("M", size=max(1, n_stored * n_params), dtype=self.dtype)
        arrays.add_array("scale", size=max(1, layout.n_rows), dtype=np.float64)
        arrays.add_array("column_of", size=max(1, n_params), dtype=np.int64,
                         values=np.arange(max(1, n_params), dtype=np.int64))
        for name in ("grad", "pending", "before_update", "step_grad"):
            arrays.add_array(name, size=max(1, n_params), dtype=np.float64)
        # values kept per parameter entry: room for SGD's and Adam's (an optimizer may be
        # given after the learner is created), more if the learner's needs more
        optimizer = learner.optimizer
        self._optimizer_state = [f"_optimizer_state{k}" for k in range(
            max(OPTIMIZER_STATE, 0 if optimizer is None else optimizer.c_state_arrays))]
        for name in self._optimizer_state:
            arrays.add_array(name, size=max(1, n_params), dtype=np.float64)
        arrays.add_array("counters", size=len(COUNTERS), dtype=np.int64)
        arrays.add_array("trial_loss", size=1, dtype=np.float64)
        for name in HISTORY + ("trial_losses",):
            arrays.add_dynamic_array(f"_history_{name}", size=0, dtype=np.float64)
        #: The step the binary runs after Brian2's (`rtrl_brian.learnstep`), on these arrays.
        self._learn_step = LearnStep(learner, program)
        # the loss's data: sized anew for each run (every trial's, with trials(data=...))
        self._loss_arrays = [(k, name) for k, name, _ in self._learn_step.loss_arrays]
        for k, name, dtype in self._learn_step.loss_arrays:
            arrays.add_dynamic_array(f"_loss{k}_{name}", size=0, dtype=dtype)
        self._blocks = self._learn_step.blocks
        for k, (group, var) in enumerate(self._blocks):
            dtype = np.dtype(learner.brian_object(group).variables[var].dtype)
            if dtype != np.float64:  # the replay is compared with Brian2's values as doubles
                raise UnsupportedConstructError(
                    f"{learner.name}: '{group}.{var}' is {dtype.name} (Brian2's "
                    f"prefs.core.default_float_dtype?); the learner inside the binary needs "
                    f"its learned groups' state variables in float64.")
            arrays.add_array(f"_state{k}", size=layout.size((group, var)), dtype=np.float64)
            self._reference(f"_brian{k}", group, var)
        # spike vectors: of spike sources, thresholds and refractory groups (that spike)
        for group in self._learn_step.spiking:
            arrays.add_array(f"_spikes_{group}", size=len(learner.brian_object(group)),
                             dtype=np.float64)
            self._reference(f"_spikespace_{group}", group, "_spikespace")
        for group in self._learn_step.refractory:
            for phase in ("previous", "updated", "after_spikes"):
                arrays.add_array(f"_nr_{phase}_{group}", size=len(learner.brian_object(group)),
                                 dtype=np.float64)
            self._reference(f"_not_refractory_{group}", group, "not_refractory")
        for param in learner.ir.params:
            self._reference(f"_param{param.offset}", param.owner.name, param.name)
        #: Template keywords of the current run, computed by the snapshot first.
        self.run_keywords = None
        #: Whether the binary starts a trial at the next run's first step
        #: (`RTRL.reset_state` between runs).
        self.reset_pending = False
        #: Runs of the learner so far (the columns are fixed from the first on).
        self.runs = 0
        self._failure_reported = False
        # the external functions the step calls: Brian2 finds them here, so that the code
        # object defines them and their values (a TimedArray's) as for its own code objects
        self.namespace = {f"rtrl_function_{name}": learner.ir.functions[name]
                          for name in sorted(program.c_calls)}
        self._bind_lines = []
        for k, key in enumerate(program.slots):
            self._bind_lines += self._slot(k, key)
        CodeRunner.__init__(self, group=self, template="rtrl_learn", clock=clock,
                            when="after_end", order=2 ** 62, name=f"{learner.name}_learning",
                            needed_variables=list(arrays.keys()) + list(self.namespace),
                            codeobj_class=RTRLStandaloneCodeObject)
        self._enable_group_attributes()

    # -- what each slot of the step points at --------------------------------------------
    def _reference(self, name, owner, var):
        self.variables.add_reference(name, self.learner.brian_object(owner), var)

    def _slot(self, k, key):
        """C lines that point slot ``k`` of the step at its array."""
        kind = key[0]
        learner = self.learner
        stride = 1
        lines = []
        if kind == "state":
            name = f"_state{self._blocks.index(key[1])}"
            stride = int(learner.layout.size(key[1]) != 1)
        elif kind == "param":
            param = next(p for p in learner.ir.params if p.offset == key[1])
            name = f"_param{param.offset}"
            stride = int(param.size != 1)
        elif kind == "value":
            name = f"_value{k}"
            owner = learner.brian_object(key[1])
            var = owner.variables[key[2]]
            size = 1 if var.scalar else entries(owner, var)
            stride = int(size != 1)
            self._reference(name, key[1], key[2])
            if np.dtype(var.dtype) != np.float64:  # converted every step
                self.variables.add_array(f"_converted{k}", size=size, dtype=np.float64)
                lines.append(f"for (size_t _e = 0; _e < {size}; _e++) "
                             f"{self._ptr(f'_converted{k}')}[_e] = (double) "
                             f"{self._ptr(name)}[_e];")
                name = f"_converted{k}"
        elif kind == "spikes":
            name = f"_spikes_{key[1]}"
        elif kind == "not_refractory":
            name = f"_nr_{key[2]}_{key[1]}"
        elif kind == "active":
            name = f"_active_{key[1]}"
            self.variables.add_array(name, size=learner.layout.size((key[1], SPIKE)), dtype=bool)
        elif kind == "place":  # where each row is stored (see the compiled engine)
            name = "_place"
            self.variables.add_array(name, size=max(1, learner.layout.n_rows), dtype=np.int64,
                                     values=self._place)
        elif kind in ("outgoing", "order"):
            if f"_pre_{key[1]}" not in self.variables:
                self._reference(f"_pre_{key[1]}", key[1], "_synaptic_pre")
            return [f"_addresses[{k}] = (size_t) rtrl_csr_{key[1]}.{kind}.data(); "
                    f"_strides[{k}] = 1;"]
        elif kind == "post":
            name = f"_post_{key[1]}"
            self._reference(name, key[1], "_synaptic_post")
        elif kind == "offset":  # a constant of this build
            return [f"static const Py_ssize_t _offset{k} = {key[1]}; "
                    f"_addresses[{k}] = (size_t) &_offset{k}; _strides[{k}] = 0;"]
        else:  # 'call': refused by check_standalone
            return [f"_addresses[{k}] = 0; _strides[{k}] = 0;"]
        return lines + [f"_addresses[{k}] = (size_t) {self._ptr(name)}; _strides[{k}] = {stride};"]

    def _ptr(self, name):
        return _pointer(self.variables[name])

    @classmethod
    def attach(cls, learner, engine, dtype):
        """
        The code objects that run ``learner`` inside the binary, added to its
        contained objects (this one and its `StandaloneSnapshot`).

        Parameters
        ----------
        learner : RTRL
            Created under the cpp_standalone device.
        engine : str
        dtype : numpy.dtype

        Returns
        -------
        learning : StandaloneLearning

        Raises
        ------
        ValueError, UnsupportedConstructError
            What the binary cannot do, by name.
        """
        if engine == "dense":
            raise ValueError(f"{learner.name}: engine='dense' runs in Python only; under "
                             f"cpp_standalone the generated step runs in the binary (give "
                             f"engine='sparse' or 'compiled').")
        try:
            program = StepProgram(learner.ops, learner.layout, learner.surrogate,
                                  c_functions=standalone_functions(learner.ir.functions))
        except NotCompilable as error:
            raise UnsupportedConstructError(
                f"{learner.name}: under cpp_standalone the learning step runs as generated C, "
                f"which cannot be generated here: {error}.") from error
        _refuse(learner, check_standalone(learner, program))
        learning = cls(learner, program, dtype)
        learner.contained_objects.extend([StandaloneSnapshot(learning), learning])
        return learning

    def refuse_unsupported(self, run_namespace):
        """
        Refuse what the binary cannot do, before any code is generated for a run.

        Raises
        ------
        UnsupportedConstructError
        """
        learner = self.learner
        message = check_standalone(learner, self.program)
        if message is None and run_namespace is not None and not is_current(
                learner.ir, run_namespace, learner.network_objects()):
            message = ("names that resolve differently in this run's namespace than when the "
                       "learner was created (create the learner where run() is called)")
        _refuse(learner, message)

    # -- code generation -------------------------------------------------------------------
    def before_run(self, run_namespace):
        if self.run_keywords is None:  # no snapshot ran before it in this run
            self.refuse_unsupported(run_namespace)
            self.run_keywords = self.keywords()
        self.template_kwds, self.run_keywords = self.run_keywords, None
        super().before_run(run_namespace)

    def keywords(self):
        """What ``rtrl_learn.cpp`` and ``rtrl_snapshot.cpp`` fill in for this run."""
        learner, program = self.learner, self.program
        layout = learner.layout
        ptr = {name: self._ptr(name) for name in self.variables.keys()
               if not name.startswith("_history_") and name != "N"}
        dynamic = {name: get_device().get_array_name(self.variables[f"_history_{name}"],
                                                     access_data=False)
                   for name in HISTORY + ("trial_losses",)}
        synapses = sorted({key[1] for key in program.slots if key[0] == "outgoing"})
        csr = [(name, base_group(learner.brian_object(name).source).N, ptr[f"_pre_{name}"],
                f"_num_pre_{name}")
               for name in synapses]
        optimizer = learner.optimizer
        if optimizer is not None:
            if optimizer.c_state_arrays > len(self._optimizer_state):
                raise UnsupportedConstructError(
                    f"{learner.name}: under cpp_standalone the optimizer "
                    f"{type(optimizer).__name__} keeps {optimizer.c_state_arrays} values per "
                    f"parameter, but the binary has room for {len(self._optimizer_state)}: "
                    f"give it as RTRL(..., optimizer=...) when the learner is created.")
            state = [f"{ptr[name]}[_p]" for name in self._optimizer_state]
            updates = [(ptr[f"_param{p.offset}"], p.offset, p.size,
                        optimizer.c_update(f"{ptr[f'_param{p.offset}']}[_i]", "_g", state))
                       for p in learner.ir.params]
        per_trial = self._fill_loss_arrays()
        n_columns = self._fill_columns()
        kwds = {
            "step_c": program.c_source,
            "real": C_TYPES[self.dtype],
            "n_slots": max(1, len(program.slots)),
            "threads": max(1, int(prefs.devices.cpp_standalone.openmp_threads)),
            "bind_lines": self._bind_lines,
            "csr": csr,
            "ptr": ptr,
            "dynamic": dynamic,
            "n_rows": layout.n_rows,
            "n_params": learner.ir.n_params,
            "n_columns": n_columns,
            "blocks": [(f"_state{k}", f"_brian{k}", layout.size(block), k)
                       for k, block in enumerate(self._blocks)],
            "refractory": [(g, len(learner.brian_object(g)),
                            ptr[f"_spikes_{g}"] if g in self._learn_step.spiking else None)
                           for g in self._learn_step.refractory],
            "learn_c": self._learn_step.source(per_trial),
            "learn_arrays": [name for name, _ in self._learn_step.arrays],
            "figures": FIGURES,
            "dense_fixed": program.dense_multiply_adds(n_columns),
            "data_trials": 0 if learner.trial_schedule.data is None
            else len(learner.trial_schedule.data),
            "initial": [(self._ptr(f"_brian{self._blocks.index(block)}"), layout.size(block),
                         repr(value)) for block, value in learner.trial_schedule.initial],
            "params": [(ptr[f"_param{p.offset}"], p.offset, p.size) for p in learner.ir.params],
            "optimizer": optimizer is not None,
            "optimizer_prepare": "" if optimizer is None else optimizer.c_prepare(
                f"_counters[{COUNTERS.index('optimizer_steps')}]"),
            "updates": updates if optimizer is not None else [],
            "update_every": learner.update_every,
            "clip": learner.clip_grad_norm,
            "learning": learner.learning,
            "reset_first": self.reset_pending,
            "trial_steps": learner.trial_schedule.steps or 0,
            "progress": learner.binary_progress,
            "trial_offset": learner.trial_schedule.offset,
            "counter": {name: k for k, name in enumerate(COUNTERS)},
        }
        return kwds

    def _fill_columns(self):
        """The column of each parameter, -1 where pruned (`RTRL.prune` before the first
        run): written for this run; returns the number of columns."""
        learnable = self.learner.learnable_entries
        column_of = np.where(learnable, np.cumsum(learnable) - 1, -1).astype(np.int64)
        self.variables["column_of"].set_value(np.concatenate([column_of, [-1]])[
            :self.variables["column_of"].size])
        return int(np.sum(learnable))

    def _fill_loss_arrays(self):
        """
        Write the loss's data for this run: its arrays now, or with
        ``trials(data=...)`` every trial's, one after the other.

        Returns
        -------
        per_trial : dict
            Values per trial of each array (0 without per-trial data).
        """
        loss, data = self.learner.loss, self.learner.trial_schedule.data
        if data is None:
            stacked = {(k, name): [values] for k, part in enumerate(loss.parts)
                       for name, values in part.c_arrays().items()}
        else:
            stacked = {key: [] for key in self._loss_arrays}
            current = [copy.copy(part) for part in loss.parts]  # the loss keeps its data
            for values in data:
                for part, part_values in per_part(loss, values):
                    part.set_trial(part_values)
                for k, part in enumerate(loss.parts):
                    for name, array in part.c_arrays().items():
                        stacked[(k, name)].append(array)
            for part, kept in zip(loss.parts, current):
                vars(part).update(vars(kept))
        per_trial = {}
        for (k, name), arrays in stacked.items():
            if len({array.size for array in arrays}) > 1:
                raise UnsupportedConstructError(
                    f"{self.learner.name}: under cpp_standalone every trial's {name} must "
                    f"have the same size (trials(data=...) gives "
                    f"{sorted({array.size for array in arrays})} values).")
            values = np.concatenate(arrays)
            variable = self.variables[f"_loss{k}_{name}"]
            variable.resize(values.size)
            if values.size:
                variable.set_value(values)
            per_trial[(k, name)] = 0 if data is None else arrays[0].size
        return per_trial

    # -- results ---------------------------------------------------------------------------
    def results(self):
        """
        What the binary left after its run, or None before one.

        Returns
        -------
        results : BinaryResults or None

        Raises
        ------
        Exception
            The first time it is read after learning stopped in the binary: the
            error the runtime learner would have raised (`failure_exception`).
        """
        if not get_device().has_been_run:
            return None
        held = float(self.variables["M"].size * self.dtype.itemsize +
                     self.variables["scale"].size * 8)
        steps = len(self.read_history("loss"))
        results = BinaryResults(
            counters=self.counters(),
            history={key: np.full(steps, held) if key == "M_bytes" else self.read_history(key)
                     for key in HISTORY + ("M_bytes",)},
            trial_losses=self.read_history("trial_losses").tolist(),
            trial_loss=float(self.variables["trial_loss"].get_value()[0]),
            grad=np.array(self.variables["grad"].get_value(), dtype=np.float64))
        failure = self.failure()
        if failure is not None and not self._failure_reported:
            self._failure_reported = True
            raise failure_exception(self.learner.name, failure)
        return results

    def counters(self):
        """The integer state after the run (`COUNTERS`), as a dict."""
        return dict(zip(COUNTERS, (int(v) for v in self.variables["counters"].get_value())))

    def read_history(self, name):
        """One per-step figure recorded by the binary (`HISTORY`, or ``'trial_losses'``)."""
        return np.array(self.variables[f"_history_{name}"].get_value(), dtype=np.float64)

    def failure(self):
        """
        Why learning stopped in the binary, or None.

        Returns
        -------
        failure : dict or None
            ``kind`` (a value of `ERRORS`), ``step``, ``trial_step``,
            ``block`` (``(group, variable)``, or None) and ``index``.
        """
        counters = self.counters()
        if not counters["error"]:
            return None
        block = counters["error_block"]
        return {"kind": ERRORS[counters["error"]], "step": counters["error_step"],
                "trial_step": counters["error_trial_step"],
                "block": self._blocks[block] if 0 <= block < len(self._blocks) else None,
                "index": counters["error_index"]}


class StandaloneSnapshot(CodeRunner):
    """
    First code object of every step: trial starts and the replay's starting state.

    Parameters
    ----------
    learning : StandaloneLearning
        Holds the arrays it writes.
    """

    add_to_magic_network = False

    def __init__(self, learning):
        self.learning = learning
        CodeRunner.__init__(self, group=learning, template="rtrl_snapshot",
                            clock=learning.clock, when="before_start", order=-(2 ** 62),
                            name=f"{learning.learner.name}_snapshot",
                            needed_variables=list(learning.variables.keys()),
                            codeobj_class=RTRLStandaloneCodeObject)

    def before_run(self, run_namespace):
        self.learning.refuse_unsupported(run_namespace)
        # once per run, for both code objects (it also fills the loss's arrays)
        self.template_kwds = self.learning.run_keywords = self.learning.keywords()
        self.learning.reset_pending = False  # done at this run's first step
        super().before_run(run_namespace)


def standalone_functions(functions):
    """
    The external functions that Brian2 implements in the binary's C++.

    Parameters
    ----------
    functions : dict
        Name to `Function` (a `TimedArray`, a user function), as the network's
        code calls them (`rtrl_brian.ir.StepIR.functions`).

    Returns
    -------
    c_names : dict
        Name to the name of its C++ function, for those that have one
        (``@implementation('cpp', ...)``, every `TimedArray`).
    """
    c_names = {}
    for name, function in functions.items():
        try:
            implementation = function.implementations[RTRLStandaloneCodeObject]
        except KeyError:  # Python only
            continue
        c_names[name] = implementation.name or name
    return c_names


def _refuse(learner, message):
    if message is not None:
        raise UnsupportedConstructError(f"{learner.name}: not supported under cpp_standalone: "
                                        f"{message}.")


def check_standalone(learner, program):
    """
    What the standalone step does not support, as a message, or None.

    Parameters
    ----------
    learner : RTRL
    program : StepProgram
    """
    if program.calls:
        op = learner.ops[program.calls[0].op]
        return (f"'{op.owner.name}' calls a function without a C++ implementation in the "
                f"differentiated code (a user function implemented in Python only), which "
                f"the binary cannot evaluate for the learner; give it one with "
                f"@implementation('cpp', ...), or drive the network through an input group")
    if learner.sparsity:
        return "sparsity controllers (they run in Python after each step)"
    if learner.history_limit is not None:
        return "history_limit (the binary records every step)"
    missing = missing_c_form(learner.loss, learner.optimizer)
    if missing is not None:
        return missing
    if learner.trial_schedule.start is not None:
        return ("a trial start callback (Python cannot run during a standalone simulation); "
                "call trials(steps) without 'start'")
    if learner.optimizer is not None and learner.optimizer.groups:
        return "learning rates of parameter groups (the binary has one rate)"
    if learner.updater.bounds:
        return "bounds on parameters"
    return None


def failure_exception(name, failure):
    """
    The exception the runtime learner would have raised during the run.

    Parameters
    ----------
    name : str
        The learner's name.
    failure : dict
        As returned by `StandaloneLearning.failure`.
    """
    where = f"step {failure['step']} (step {failure['trial_step']} of the trial)"
    block = failure["block"]
    variable = None if block is None else f"'{block[0]}.{block[1]}'"
    stopped = ("Learning stopped there in the binary; the network ran on and the "
               "parameters kept their last finite values.")
    if failure["kind"] == "replay":
        return RuntimeError(
            f"{name}: at {where} the learner's replay of {variable} (neuron "
            f"{failure['index']}) differs from what Brian2 computed. Something changed the "
            f"network that rtrl_brian does not model (synaptic delays, a changed schedule, "
            f"or an unsupported construct); its gradients would not be exact. {stopped}")
    if failure["kind"] == "non-finite state":
        return FloatingPointError(f"{name}: at {where} {variable} of neuron "
                                  f"{failure['index']} is not finite as Brian2 computed "
                                  f"it. {stopped}")
    if failure["kind"] == "target too short":
        return IndexError(f"{name}: at {where} the loss's target, labels or mask had "
                          f"no entry for the trial step; call trials(steps) or give a "
                          f"longer one. {stopped}")
    what = ("the gradient" if failure["kind"] == "non-finite gradient"
            else "the update made a parameter")
    return FloatingPointError(f"{name}: at {where} {what} not finite (lower the "
                              f"learning rate or clip gradients with clip_grad_norm). "
                              f"{stopped}")
