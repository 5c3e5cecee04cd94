"""
The learner's whole step in one C call on the runtime device.

With ``engine='compiled'`` the influence matrix is updated by one call of
generated C per step, but the learner's bookkeeping around it (spike vectors
from Brian2's spike spaces, binding arrays, the replay check, the loss and its
derivative, the gradient read-out and accumulation, the per-step figures) is
Python: about 0.1-0.3 ms a step, most of a small network's step and the part
that threads cannot shorten. `FusedStep` runs instead ``rtrl_learn``
(`rtrl_brian.learnstep`), the function the C++ standalone binary runs after
Brian2's step, from the learner's end hook: one call, its arrays bound once per
run, the figures written to a buffer that `RTRL.history` empties.

What stays Python: trial starts (with ``trials(start=...)`` callbacks), the
copy of the learned groups' state at the start of each step, functions without
a C form of Brian2's values (a `TimedArray` drive: numpy, before the call),
Brian2 values that are not float64 (converted), the optimizer (every
``update_every`` steps, `rtrl_brian.update`) and the messages when something
fails (the same as the Python bookkeeping's). The compiled engine uses it where
the learned groups' state is float64 and the loss has a C form (`why_not`);
results are those of the Python bookkeeping (tests compare them bitwise).
"""

import copy

import numpy as np

from .ir import SPIKE
from .learnstep import COUNTERS, FIGURES, LearnStep, missing_c_form
from .losses import per_part
from .replay import StepInputs
from .update import non_finite

__all__ = ["FusedStep"]

#: Steps whose figures the buffer holds before `FusedStep.flush` empties it.
BUFFERED_STEPS = 4096

_ERROR_BLOCK = COUNTERS.index("error_block")


class FusedStep:
    """
    The learner's step after Brian2's as one call of ``rtrl_learn``.

    Parameters
    ----------
    learner : RTRL
    engine : CompiledEngine
        The learner's engine, prepared (its `StepProgram` generated).
    """

    def __init__(self, learner, engine):
        self.learner = learner
        self.engine = engine
        self.learn_step = LearnStep(learner, engine.program)
        refractory = learner._refractory_groups()  # all of them: see snapshot
        size = {name: len(learner.brian_object(name)) for name in
                self.learn_step.spiking + refractory}
        #: The replayed state, per block: the learned groups' state at the start of
        #: the step (`snapshot`), advanced by the step.
        self.state = {block: np.zeros(learner.layout.size(block))
                      for block in self.learn_step.blocks}
        self.spikes = {name: np.zeros(size[name]) for name in self.learn_step.spiking}
        self.not_refractory = {(name, "previous"): np.zeros(size[name]) for name in refractory}
        self.not_refractory.update({(name, phase): np.zeros(size[name])
                                    for name in self.learn_step.refractory
                                    for phase in ("updated", "after_spikes")})
        self.counters = np.zeros(len(COUNTERS), dtype=np.int64)
        self.figures = np.zeros((BUFFERED_STEPS, len(FIGURES)))
        self.rows = 0  # rows of figures not yet in the learner's history
        self._loss_code = None
        self._learning = None
        self._arrays_kept = {}  # what the bound addresses point into
        self._n_columns = self._dense_fixed = 0  # of the matrix bound
        self._inputs = None
        self._changing = []  # slots bound anew at every step
        self._bound = ()

    @staticmethod
    def why_not(learner, program):
        """
        Why the learner's bookkeeping must stay Python, in words, or None.

        Parameters
        ----------
        learner : RTRL
        program : StepProgram
        """
        if learner.partition is not None:
            return "partition='mpi' (the ranks combine their gradients in Python)"
        if learner.sparsity:
            return "sparsity controllers (they run in Python after each step)"
        for call in program.calls:  # evaluated before the C call: of Brian2's values only
            op = learner.ops[call.op]
            if any(op.bindings[symbol].kind != "value" for symbol in call.symbols):
                return (f"a function without a C implementation, of spikes or refractoriness, "
                        f"in '{op.owner.name}'")
        missing = missing_c_form(learner.loss)
        if missing is not None:
            return missing
        for group, var in (block for block in learner.layout.blocks if block[1] != SPIKE):
            dtype = np.dtype(learner.brian_object(group).variables[var].dtype)
            if dtype != np.float64:
                return f"'{group}.{var}' is {dtype.name}, not float64"
        return None

    # -- compilation and binding ------------------------------------------------------
    def source(self):
        """``rtrl_learn`` for the loss's data as the run's first step sees it (the data's
        sizes are part of the loss's C code): a trial's that starts there, with
        ``trials(data=...)``, else the loss's as it is."""
        learner = self.learner
        loss, schedule, trial = learner.loss, learner.trial_schedule, learner._trials_started
        parts = loss.parts
        if schedule.data is not None and trial < len(schedule.data) and \
                (learner._steps_total - schedule.offset) % schedule.steps == 0:
            copies = {id(part): copy.copy(part) for part in parts}  # the loss keeps its data
            for part, values in per_part(loss, schedule.data[trial]):
                copies[id(part)].set_trial(values)
            parts = [copies[id(part)] for part in parts]
        self._loss_code = _loss_code(parts)
        return self.learn_step.source(parts=parts)

    def unbind(self):
        """Bind the arrays again at the next step (a trial starts: the loss's data may
        be other arrays)."""
        self._learning = None

    def bind(self):
        """
        Point ``rtrl_learn`` at this run's arrays (at the first step of a run, of
        a trial, and when the engine or the learner replaced one): False, and
        nothing bound, where the loss's data changed sizes, and with them its C
        code.
        """
        learner, engine = self.learner, self.engine
        self.flush()  # the figures of the steps before, with the matrix's size then
        if _loss_code(learner.loss.parts) != self._loss_code:
            return False
        self._inputs = StepInputs(self.spikes, self.not_refractory, learner._values)
        self._changing = engine.bind(self.state, self._inputs, learner._values)
        own = {"M": engine.M, "scale": engine.scale, "_place": engine.place,
               "column_of": engine.column_of, "grad": learner._grad,
               "pending": learner._pending, "step_grad": learner._step_grad}
        for name in self.learn_step.spiking:
            own[f"_spikes_{name}"] = self.spikes[name]
            own[f"_spikespace_{name}"] = learner._values(name, "_spikespace")
        for name in self.learn_step.refractory:
            own[f"_not_refractory_{name}"] = learner._values(name, "not_refractory")
            for phase in ("after_spikes", "updated"):
                own[f"_nr_{phase}_{name}"] = self.not_refractory[(name, phase)]
        for name in self.learn_step.active:
            own[f"_active_{name}"] = engine.active[name]
        for k, block in enumerate(self.learn_step.blocks):
            own[f"_state{k}"] = self.state[block]
            own[f"_brian{k}"] = learner._values(*block)
        own.update((f"_loss{j}_{name}", values) for j, part in enumerate(learner.loss.parts)
                   for name, values in part.c_arrays().items())
        arrays = np.array([_address(name, own[name], ctype, engine.dtype)
                           for name, ctype in self.learn_step.arrays], dtype=np.uintp)
        self._learning = engine.learning(arrays, self.counters, self.figures)
        self._n_columns = engine.n_columns
        self._dense_fixed = engine.program.dense_multiply_adds(self._n_columns)
        self._arrays_kept = own
        self._bound = self._replaceable()
        return True

    def _replaceable(self):
        """The arrays the engine or the learner may replace between steps (pruning,
        restoring a state): `step` binds again when one is not the one bound."""
        return (self.engine.M, self.engine.scale, self.engine.column_of, self.learner._grad,
                self.learner._pending)

    # -- per step -------------------------------------------------------------------------
    def snapshot(self):
        """The learned groups' state at the start of the step: where the replay starts."""
        values = self.learner._values
        for block, state in self.state.items():
            state[:] = values(*block)
        for (name, phase), array in self.not_refractory.items():
            if phase == "previous":  # every group's (the Python bookkeeping's, should
                array[:] = values(name, "not_refractory")  # it take over: RTRL)

    def step(self, step, steps_total):
        """
        The step after Brian2's: returns its loss, or None, with nothing done,
        where the loss's data changed sizes (`bind`).

        Raises
        ------
        RuntimeError, FloatingPointError, IndexError
            As the Python bookkeeping raises them (`StepObserver._check_value`,
            the loss).
        """
        if self._learning is None or any(a is not b for a, b in
                                         zip(self._bound, self._replaceable())):
            if not self.bind():
                return None
        if self.rows == BUFFERED_STEPS:
            self.flush()
        if self._changing:  # a function without a C form (a TimedArray), converted values
            self.engine.rebind(self._changing, self.state, self._inputs, self.learner._values)
        error = self._learning.step(self.engine.n_params, self._n_columns, self._dense_fixed,
                                    self.engine.threads, step, steps_total, 0, self.rows)
        if error:
            self._raise(error)
        self.rows += 1
        return float(self.figures[self.rows - 1, 0])

    def flush(self):
        """Move the buffered figures into the learner's history."""
        history, rows = self.learner._history, self.figures[:self.rows]
        for k, key in enumerate(FIGURES):
            history[key].extend(rows[:, k])
        history["M_bytes"].extend(np.full(self.rows, float(self.engine.nbytes)))
        if self.rows:
            self.learner._run_most_active = max(self.learner._run_most_active,
                                                float(np.max(rows[:, 1])))
        self.rows = 0

    def _raise(self, error):
        """The exception of the Python bookkeeping for ``rtrl_learn``'s ``error``."""
        learner = self.learner
        if error in (1, 2):  # the replay, or Brian2's state
            block = self.learn_step.blocks[int(self.counters[_ERROR_BLOCK])]
            learner._check_value(*block, self.state[block], learner._values(*block))
        elif error == 3:
            learner._steps_total += 1  # as the Python bookkeeping counts it
            raise non_finite(learner.name, learner.ir.params, "the gradient of",
                             learner._step_grad, "before it was used", learner._where())
        elif error == 5:
            t = float(np.asarray(learner._values(learner.loss.group.name, "t")).reshape(-1)[0])
            for part in learner.loss.parts:
                part.evaluate([self.state[block] for block in part.blocks], learner._step, t)
        raise RuntimeError(f"{learner.name}: the learning step stopped with error {error} "
                           f"(counters {self.counters.tolist()}) where the Python "
                           f"bookkeeping found nothing to report.")


def _loss_code(parts):
    """The C code of the loss's parts, with their arrays' names."""
    return [part.c_code({name: name for name in part.c_arrays()}) for part in parts]


#: The numpy types each C type of `LearnStep.arrays` may be read from.
_NUMPY_TYPES = {"double": (np.float64,), "int64_t": (np.int64,), "int32_t": (np.int32,),
                "char": (np.bool_, np.int8), "unsigned char": (np.bool_, np.uint8)}


def _address(name, array, ctype, real):
    """The address of ``array``'s data, checked to be contiguous and of ``ctype``
    (``RTRL_REAL``: the influence matrix's ``real``)."""
    expected = (real,) if ctype == "RTRL_REAL" else _NUMPY_TYPES[ctype]
    if array.dtype.type not in [np.dtype(t).type for t in expected] or \
            not array.flags.c_contiguous:
        raise TypeError(f"The learning step reads '{name}' as contiguous {ctype}, but it is "
                        f"{array.dtype} (contiguous: {array.flags.c_contiguous}).")
    return array.ctypes.data
