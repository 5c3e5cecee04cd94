"""
Trials of a learner: one long Brian2 run split into trials of a fixed length.

`StepObserver.trials` sets a `TrialSchedule`. At the first step of every
trial, before anything else in the step runs, the learner sets the state
variables named in ``initial`` to their values, points the loss at the trial's
entry of ``data`` (`Loss.set_trial`: a target, labels), calls the ``start``
callback, and zeroes the influence matrix. ``initial`` and ``data`` are plain
data, so the learner inside the C++ standalone binary does the same without
Python (where ``start`` callbacks cannot run): a whole training run of many
trials in one build.
"""

import copy
from typing import Callable, NamedTuple, Optional

import numpy as np
from brian2 import DimensionMismatchError
from brian2.units.fundamentalunits import get_dimensions

from .compile import owner_of
from .ir import is_spike
from .losses import per_part

__all__ = ["TrialSchedule", "initial_values", "trial_data"]


class TrialSchedule(NamedTuple):
    """Trials of a learner (`StepObserver.trials`)."""

    #: Trial length in steps (None: no trials).
    steps: Optional[int]
    #: The learner's step count when the first trial began.
    offset: int
    #: ``start(trial)``, called at each trial's first step (or None).
    start: Optional[Callable]
    #: Per trial, the loss's data (`Loss.set_trial`), or None.
    data: Optional[list] = None
    #: ``((group name, variable), value in base units)`` set at each trial's first step.
    initial: tuple = ()

    def begin(self, trial, groups, loss):
        """
        What the runtime learner does at the first step of trial ``trial``
        before the ``start`` callback: initial values, then the loss's data.

        Parameters
        ----------
        trial : int
        groups : callable
            ``groups(name)``: the Brian2 group of that name.
        loss : Loss
        """
        for (group, var), value in self.initial:
            groups(group).variables[var].get_value()[:] = value
        if self.data is not None:
            if trial >= len(self.data):
                raise IndexError(f"trials(): 'data' has {len(self.data)} entries but trial "
                                 f"{trial} of the schedule started; give one per trial.")
            loss.set_trial(self.data[trial])


def initial_values(name, initial, layout):
    """
    ``initial`` ({variable: value}) checked and in base units, as
    `TrialSchedule.initial`.

    Raises
    ------
    ValueError, TypeError, DimensionMismatchError
        A variable the learner does not replay, or a value that is not one
        number in its units.
    """
    checked = []
    for view, value in (initial or {}).items():
        group, var = owner_of(view)
        if (group.name, var) not in layout.blocks or is_spike(var):
            raise ValueError(f"{name}: trials(initial=...) sets state variables of the learned "
                             f"groups; '{group.name}.{var}' is not one.")
        if np.ndim(value) != 0:
            raise TypeError(f"{name}: trials(initial=...) takes one value per variable, got "
                            f"shape {np.shape(value)} for '{group.name}.{var}'.")
        dimensions = group.variables[var].dim
        if get_dimensions(value) is not dimensions and float(value) != 0:
            raise DimensionMismatchError(f"{name}: the initial value of '{group.name}.{var}' "
                                         f"must have its units", get_dimensions(value),
                                         dimensions)
        value = float(np.asarray(value))
        if not np.isfinite(value):
            raise ValueError(f"{name}: the initial value of '{group.name}.{var}' is not "
                             f"finite.")
        checked.append(((group.name, var), value))
    return tuple(checked)


def trial_data(name, data, loss):
    """
    ``data`` checked against ``loss`` (`Loss.set_trial` on a copy of each part,
    so that nothing changes on an error), as a list.

    Raises
    ------
    ValueError, TypeError, NotImplementedError
        An entry the loss does not take, named by its trial.
    """
    if data is None:
        return None
    data = list(data)
    if not data:
        raise ValueError(f"{name}: trials(data=...) needs one entry per trial, got none.")
    for trial, values in enumerate(data):
        try:
            for part, part_values in per_part(loss, values):
                copy.copy(part).set_trial(part_values)
        except (ValueError, TypeError, NotImplementedError) as error:
            raise type(error)(f"{name}: trials(data=...), trial {trial}: {error}") from error
    return data
