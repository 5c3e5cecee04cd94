"""
Pattern generation: reproduce a sum of sines from a frozen input spike pattern.
"""

import numpy as np

from .base import Task, Trial

__all__ = ["PatternGeneration"]


class PatternGeneration(Task):
    """
    Pattern generation as in the e-prop experiments (Bellec et al., Nat.
    Commun. 11, 3625, 2020): every trial presents the same frozen random input
    spike pattern, and the readout must reproduce the same target, a sum of
    sines (regression, MSE; scored by normalised mean squared error).

    Parameters
    ----------
    steps : int
        Trial length in time steps.
    n_inputs : int
    rate : float
        Spike probability per input and step.
    n_outputs : int
        Readouts, each with its own target.
    n_sines : int
        Sines per target, with periods between ``steps/4`` and ``steps``.
    amplitude : float
        Peak of each target.
    seed : int
    """

    classification = False

    def __init__(self, steps=200, n_inputs=20, rate=0.1, n_outputs=1, n_sines=4,
                 amplitude=0.5, seed=0):
        super().__init__(seed)
        self.steps, self.n_inputs, self.n_outputs = int(steps), int(n_inputs), int(n_outputs)
        rng = np.random.default_rng(self.seed)
        self.raster = rng.random((self.steps, self.n_inputs)) < rate
        t = np.arange(self.steps)
        targets = []
        for _ in range(self.n_outputs):
            periods = rng.uniform(steps / 4, steps, n_sines)
            phases = rng.uniform(0, 2 * np.pi, n_sines)
            weights = rng.uniform(0.5, 1.0, n_sines)
            signal = sum(w * np.sin(2 * np.pi * t / p + ph)
                         for w, p, ph in zip(weights, periods, phases))
            targets.append(amplitude * signal / np.max(np.abs(signal)))
        self.target = np.stack(targets, axis=1)

    def _generate(self, rng, k, split):
        return Trial(self.raster, target=self.target, mask=np.ones(self.steps, dtype=bool))
