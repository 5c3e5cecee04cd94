"""
Spiral direction classification, the task of Subramoney (2023, arXiv:2303.05641).
"""

import numpy as np

from ...models import analog_input
from .base import Task, Trial

__all__ = ["Spiral"]


class Spiral(Task):
    """
    Spiral direction classification: two analog inputs
    ``(+-sin(t + phi) / (1 + t), cos(t + phi) / (1 + t))`` for ``t`` evenly
    spaced in ``[0, 2 pi]``, a random phase ``phi`` per sequence; the label is
    the direction (1 for ``+sin``, counter-clockwise). Cross-entropy on the
    last step. A fixed set of ``sequences`` is split 70/15/15 into training,
    validation and test sequences.

    Parameters
    ----------
    sequences : int
    steps : int
        Points per spiral.
    seed : int

    Attributes
    ----------
    inputs : ndarray
        ``(sequences, steps, 2)``.
    labels : ndarray
        ``(sequences,)``.
    train, validation, test : ndarray
        Sequence indices of the split.
    """

    analog = True
    input_value = "x"

    def __init__(self, sequences=10_000, steps=17, seed=0):
        super().__init__(seed)
        self.steps, self.n_inputs, self.n_outputs = int(steps), 2, 2
        rng = np.random.default_rng(self.seed)
        t = np.linspace(0.0, 2 * np.pi, self.steps)
        phase = rng.uniform(0.0, 2 * np.pi, (sequences, 1))
        self.labels = rng.integers(0, 2, sequences)
        sign = np.where(self.labels == 1, 1.0, -1.0)[:, None]
        self.inputs = np.stack([sign * np.sin(t + phase) / (1 + t),
                                np.cos(t + phase) / (1 + t)], axis=-1)
        order = rng.permutation(sequences)
        n_train, n_validation = int(0.7 * sequences), int(0.15 * sequences)
        self.train = order[:n_train]
        self.validation = order[n_train:n_train + n_validation]
        self.test = order[n_train + n_validation:]

    def _generate(self, rng, k, split):
        indices = self.train if split == "train" else self.test
        if k >= len(indices):
            raise IndexError(f"Spiral has {len(indices)} {split} sequences; trial {k} asked for.")
        sequence = indices[k]
        mask = np.arange(self.steps) == self.steps - 1
        return Trial(self.inputs[sequence], labels=np.full(self.steps, self.labels[sequence]),
                     mask=mask)

    def training_order(self, trials, rng):
        """A random permutation of the first ``trials`` training sequences."""
        if trials > len(self.train):
            raise ValueError(f"Spiral has {len(self.train)} training sequences; "
                             f"{trials} asked for.")
        return rng.permutation(trials)

    def input_group(self, trials, name="task_inputs", dt=None):
        """An `analog_input` group playing the trials' values (read as ``x_pre``)."""
        return analog_input(np.concatenate([trial.inputs for trial in trials]), dt=dt, name=name)
