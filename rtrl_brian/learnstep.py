"""
The learner's whole step as one C function, for the binary and the runtime device.

After Brian2's step the learner turns Brian2's spike spaces into spike vectors,
runs the generated step of `rtrl_brian.codegen.StepProgram` (replay,
Jacobians, influence matrix), checks the replay against Brian2's state,
evaluates the loss and its derivative, reads this step's gradient out of the
influence matrix and accumulates it. `LearnStep` renders all of that as one C
function, ``rtrl_learn`` (template ``c/rtrl_learn.c``), over the learner's
arrays by position (`LearnStep.arrays`): Brian2's C++ standalone binary calls it
in its last code object of every step (`rtrl_brian.standalone`), and the
compiled engine calls it on the runtime device (`rtrl_brian.fused`), so that
both run the same code and no Python runs per step in either.
"""

import numpy as np

from .errors import NotCompilable
from .ir import SPIKE, ThresholdOp
from .replay import REPLAY_RTOL
from .templating import render

__all__ = ["LearnStep", "FIGURES", "COUNTERS", "ERRORS", "missing_c_form"]

#: Integer state of the learner in C, in the order of its ``counters`` array.
COUNTERS = ("step", "steps_total", "pending_steps", "optimizer_steps", "trials_started",
            "error", "error_step", "error_trial_step", "error_block", "error_index")

#: What a non-zero ``error`` counter means.
ERRORS = {1: "replay", 2: "non-finite state", 3: "non-finite gradient", 4: "non-finite update",
          5: "target too short"}

#: The per-step figures ``rtrl_learn`` writes, in order (``RTRL.history``'s keys).
FIGURES = ("loss", "active_fraction", "multiply_adds", "multiply_adds_dense", "bytes",
           "engine_seconds")

_C_TYPES = {np.dtype(np.float64): "double", np.dtype(np.int64): "int64_t"}


class LearnStep:
    """
    The arrays ``rtrl_learn`` reads and writes, and its source.

    Parameters
    ----------
    learner : RTRL
    program : StepProgram
        The learner's generated step.

    Attributes
    ----------
    arrays : list of tuple
        ``(name, C type)`` of each array, in the order of ``rtrl_learn``'s
        ``arrays`` argument: ``M`` (the influence matrix's stored rows),
        ``scale``, ``_place`` and ``column_of`` (as the compiled engine's),
        ``grad``, ``pending`` and ``step_grad`` (per parameter), per spiking
        group ``g`` ``_spikes_g`` (written) and ``_spikespace_g`` (Brian2's),
        per group with refractoriness ``_not_refractory_g`` (Brian2's),
        ``_nr_after_spikes_g`` and ``_nr_updated_g`` (written; the step reads
        ``_nr_previous_g`` through its slot), per group with a threshold
        ``_active_g``, per state block ``k`` (`blocks`) ``_statek`` (the
        replayed state: the step's state slot) and ``_briank`` (Brian2's), and
        per array ``name`` of loss part ``j`` ``_lossj_name``.
    blocks : list of tuple
        The learned groups' state variables ``(group, variable)``.
    spiking, refractory, active : list of str
        Groups whose spikes the step reads, whose refractoriness it reads,
        whose active units it counts.
    loss_arrays : list of tuple
        ``(part, name, dtype)`` of each array the loss's C form reads.
    """

    def __init__(self, learner, program):
        self.learner = learner
        self.program = program
        layout = learner.layout
        self.blocks = [block for block in layout.blocks if block[1] != SPIKE]
        self.spiking = sorted({key[1] for key in program.slots
                               if key[0] in ("spikes", "active", "not_refractory")
                               and "_spikespace" in learner.brian_object(key[1]).variables})
        self.refractory = sorted({key[1] for key in program.slots
                                  if key[0] == "not_refractory"})
        self.active = [key[1] for key in program.slots if key[0] == "active"]
        self.loss_arrays = [(j, name, np.dtype(values.dtype))
                            for j, part in enumerate(learner.loss.parts)
                            for name, values in part.c_arrays().items()]
        self.arrays = [("M", "RTRL_REAL"), ("scale", "double"), ("_place", "int64_t"),
                       ("column_of", "int64_t"), ("grad", "double"), ("pending", "double"),
                       ("step_grad", "double")]
        self.arrays += [entry for group in self.spiking for entry in (
            (f"_spikes_{group}", "double"), (f"_spikespace_{group}", "int32_t"))]
        self.arrays += [entry for group in self.refractory for entry in (
            (f"_not_refractory_{group}", "char"), (f"_nr_after_spikes_{group}", "double"),
            (f"_nr_updated_{group}", "double"))]
        self.arrays += [(f"_active_{group}", "unsigned char") for group in self.active]
        self.arrays += [entry for k in range(len(self.blocks)) for entry in (
            (f"_state{k}", "double"), (f"_brian{k}", "double"))]
        self.arrays += [(f"_loss{j}_{name}", _C_TYPES[dtype])
                        for j, name, dtype in self.loss_arrays]

    def source(self, per_trial=None, parts=None):
        """
        The C function ``rtrl_learn`` (after the step's ``rtrl_step``).

        Parameters
        ----------
        per_trial : dict, optional
            Values per trial of each loss array ``(part, name)`` where its
            arrays hold several trials' data one after another (the trial is
            ``rtrl_learn``'s ``data_trial``); default: one trial's.
        parts : list of Loss, optional
            The loss's parts with the data whose sizes the code is for
            (default: the learner's loss as it is).

        Returns
        -------
        source : str
        """
        learner, layout = self.learner, self.learner.layout
        per_trial = per_trial or {}
        loss_parts = []
        for j, part in enumerate(learner.loss.parts if parts is None else parts):
            names = {name: f"(_loss{j}_{name} + _data_trial * {per_trial.get((j, name), 0)})"
                     for k, name, _ in self.loss_arrays if k == j}
            loss_parts.append(([(self.blocks.index(block), layout.rows(block).start)
                                for block in part.blocks], part.n, part.c_code(names)))
        n = {group: len(learner.brian_object(group)) for group in
             self.spiking + self.refractory + self.active}
        return render(
            "c", "rtrl_learn.c", arrays=self.arrays, counter={name: k for k, name in enumerate(COUNTERS)},
            spiking=[(group, n[group]) for group in self.spiking],
            refractory=[(group, n[group], group in self.spiking) for group in self.refractory],
            active=[(group, n[group]) for group in self.active],
            blocks=[(k, layout.size(block)) for k, block in enumerate(self.blocks)],
            replay_rtol=repr(REPLAY_RTOL), loss_parts=loss_parts,
            threshold_units=sum(op.op.group.n for op in learner.ops
                                if isinstance(op.op, ThresholdOp)),
            loss_rows=sum(part.n * len(part.blocks) for part in learner.loss.parts))


def missing_c_form(loss, optimizer=None):
    """Why the loss or the optimizer (None: none) has no C form, or None."""
    try:
        for part in loss.parts:
            part.c_code({name: name for name in part.c_arrays()})
        if optimizer is not None:
            optimizer.c_prepare("count")
            optimizer.c_update("value", "gradient", ["state"] * optimizer.c_state_arrays)
    except NotCompilable as error:
        return str(error)
    return None
