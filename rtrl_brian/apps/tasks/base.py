"""
What every task provides: trials as arrays, their Brian2 input group, the loss and a score.
"""

from dataclasses import dataclass

import numpy as np
from brian2 import SpikeGeneratorGroup, defaultclock

__all__ = ["Trial", "Task"]

#: Seed-sequence tag of each split: held-out trials never repeat training trials.
SPLITS = {"train": 0, "test": 1}


@dataclass
class Trial:
    """
    One trial of a task.

    Attributes
    ----------
    inputs : ndarray
        ``(steps, n_inputs)``: spikes (bool) for spiking tasks, values (float)
        for analog tasks.
    target : ndarray or None
        ``(steps, n_outputs)`` for regression tasks.
    labels : ndarray or None
        ``(steps,)`` class per step for classification tasks (read where ``mask``).
    mask : ndarray
        ``(steps,)`` bool: the steps the loss and the score count.
    """

    inputs: np.ndarray
    target: np.ndarray = None
    labels: np.ndarray = None
    mask: np.ndarray = None


class Task:
    """
    Base class of the built-in tasks.

    A task generates trials of ``steps`` time steps (one step is
    ``defaultclock.dt``) deterministically from its seed: ``trial(k, 'train')``
    is always the same trial, and held-out trials (``'test'``) come from a
    separate stream. `input_group` turns a sequence of trials into one Brian2
    group, so that many trials run in one ``run()`` (see `RTRL.trials`).

    Subclasses set ``n_inputs``, ``n_outputs``, ``steps``, ``classification``
    and ``analog`` and implement `_generate`.
    """

    #: Inputs are values sent every step (`rtrl_brian.models.analog_input`), not spikes.
    analog = False
    #: Classification (cross-entropy on masked steps) rather than regression (MSE).
    classification = True
    #: What a synapse from the input group multiplies its weight by (None: the event alone).
    input_value = None

    def __init__(self, seed=0):
        self.seed = int(seed)

    def trial(self, k, split="train"):
        """
        Trial ``k`` of a split.

        Parameters
        ----------
        k : int
        split : {'train', 'test'}

        Returns
        -------
        trial : Trial
        """
        if split not in SPLITS:
            raise ValueError(f"{type(self).__name__}: split must be one of {sorted(SPLITS)}, "
                             f"got {split!r}.")
        rng = np.random.default_rng([self.seed, SPLITS[split], int(k)])
        return self._generate(rng, int(k), split)

    def _generate(self, rng, k, split):
        raise NotImplementedError

    def training_order(self, trials, rng):
        """
        Indices of the training trials to present, in order.

        Parameters
        ----------
        trials : int
        rng : numpy.random.Generator
            The training run's generator (tasks drawn from a fixed set shuffle it).

        Returns
        -------
        order : ndarray of int
        """
        return np.arange(trials)

    def input_group(self, trials, name="task_inputs", dt=None):
        """
        One Brian2 group that plays ``trials`` one after the other.

        Parameters
        ----------
        trials : list of Trial
        name : str
        dt : Quantity, optional
            One step of the task, the group's time step (default: Brian2's
            ``defaultclock``).

        Returns
        -------
        group : SpikeGeneratorGroup
            (Analog tasks override this.) Synapses from it read no value:
            see `input_value`.
        """
        raster = np.concatenate([trial.inputs for trial in trials])
        step_index, indices = np.nonzero(raster)
        step = defaultclock.dt if dt is None else dt
        return SpikeGeneratorGroup(self.n_inputs, indices, step_index * step, name=name, dt=dt)

    def loss(self, var, trial):
        """
        The loss this task trains with, set up for ``trial``.

        Parameters
        ----------
        var : VariableView
            The readout, e.g. ``out.y``.
        trial : Trial

        Returns
        -------
        loss : MSE or CrossEntropy
        """
        from ...losses import MSE, CrossEntropy

        if self.classification:
            return CrossEntropy(var, labels=trial.labels, mask=trial.mask)
        return MSE(var, trial.target)

    def loss_data(self, trial):
        """What the loss needs of ``trial`` (`Loss.set_trial`): its labels or target."""
        return trial.labels if self.classification else trial.target

    def score(self, outputs, trial):
        """
        How well ``outputs`` solve ``trial``.

        Parameters
        ----------
        outputs : ndarray
            ``(steps, n_outputs)``: the readout at the end of each step.
        trial : Trial

        Returns
        -------
        score : float
            Classification: the fraction of decisions right, one per
            `decision_windows` (the class whose output summed over the window
            is largest). Regression: the normalised mean squared error
            ``mean((y - y*)**2) / var(y*)`` over the masked steps.
        """
        outputs = np.asarray(outputs, dtype=float)
        if outputs.shape != (self.steps, self.n_outputs):
            raise ValueError(f"{type(self).__name__}.score: outputs must have shape "
                             f"{(self.steps, self.n_outputs)}, got {outputs.shape}.")
        if self.classification:
            right = [np.argmax(outputs[window].sum(axis=0)) == trial.labels[window.start]
                     for window in self.decision_windows(trial)]
            return float(np.mean(right))
        mask = trial.mask if trial.mask is not None else slice(None)
        error = outputs[mask] - trial.target[mask]
        return float(np.mean(error ** 2) / np.var(trial.target[mask]))

    def decision_windows(self, trial):
        """
        The steps of each decision in a classification trial.

        Parameters
        ----------
        trial : Trial

        Returns
        -------
        windows : list of slice
            Default: each maximal run of consecutive masked steps.
        """
        edges = np.flatnonzero(np.diff(np.concatenate([[0], trial.mask.astype(int), [0]])))
        return [slice(start, stop) for start, stop in zip(edges[::2], edges[1::2])]

    @property
    def score_name(self):
        """``'accuracy'`` or ``'nmse'``."""
        return "accuracy" if self.classification else "nmse"


def population_raster(rng, steps, populations, size, rates):
    """
    Poisson spikes of populations of ``size`` inputs.

    Parameters
    ----------
    rng : numpy.random.Generator
    steps : int
    populations : int
    size : int
        Inputs per population.
    rates : ndarray
        ``(steps, populations)``: spike probability per input and step.

    Returns
    -------
    raster : ndarray of bool
        ``(steps, populations * size)``.
    """
    probability = np.repeat(np.asarray(rates, dtype=float), size, axis=1)
    return rng.random((steps, populations * size)) < probability
