"""
Evidence accumulation: count cues on two sides, answer after a delay.
"""

import numpy as np

from .base import Task, Trial, population_raster

__all__ = ["EvidenceAccumulation"]


class EvidenceAccumulation(Task):
    """
    The evidence (cue) accumulation task of e-prop (Bellec et al., Nat.
    Commun. 11, 3625, 2020; Morcos & Harvey 2016), as in NEST's e-prop
    example.

    Four input populations of ``population`` neurons: left cues, right cues,
    recall cue, background noise. A trial shows ``n_cues`` cues, each on the
    left or the right (probability 1/2 each) for ``cue_steps`` followed by
    ``gap_steps`` of silence, then a delay of ``delay_steps``, then the recall
    cue for ``recall_steps``. During the recall the network must say which
    side had more cues (two readouts, cross-entropy on the recall steps; one
    decision per trial).

    The defaults are shorter than e-prop's (100 ms cues, 50 ms gaps, a delay
    that fills 2,250 ms trials) so that online training fits in minutes; the
    memory the task needs still spans several membrane time constants.

    Parameters
    ----------
    n_cues : int
        Odd, so that there is always a majority.
    cue_steps, gap_steps, delay_steps, recall_steps : int
    population : int
        Inputs per population.
    cue_rate, background_rate : float
        Spike probability per input and step while a population is on
        (background: always).
    seed : int
    """

    def __init__(self, n_cues=7, cue_steps=40, gap_steps=20, delay_steps=100, recall_steps=60,
                 population=10, cue_rate=0.04, background_rate=0.01, seed=0):
        super().__init__(seed)
        if n_cues < 1 or n_cues % 2 == 0:
            raise ValueError(f"EvidenceAccumulation: n_cues must be odd and positive, "
                             f"got {n_cues}.")
        self.n_cues, self.cue_steps, self.gap_steps = int(n_cues), int(cue_steps), int(gap_steps)
        self.delay_steps, self.recall_steps = int(delay_steps), int(recall_steps)
        self.population = int(population)
        self.cue_rate, self.background_rate = float(cue_rate), float(background_rate)
        self.n_inputs = 4 * self.population
        self.n_outputs = 2
        self.recall_start = self.n_cues * (self.cue_steps + self.gap_steps) + self.delay_steps
        self.steps = self.recall_start + self.recall_steps

    def _generate(self, rng, k, split):
        sides = rng.integers(0, 2, self.n_cues)  # 0: left, 1: right
        rates = np.zeros((self.steps, 4))
        for cue, side in enumerate(sides):
            start = cue * (self.cue_steps + self.gap_steps)
            rates[start:start + self.cue_steps, side] = self.cue_rate
        rates[self.recall_start:, 2] = self.cue_rate
        rates[:, 3] = self.background_rate
        raster = population_raster(rng, self.steps, 4, self.population, rates)
        label = int(np.sum(sides) > self.n_cues // 2)
        mask = np.arange(self.steps) >= self.recall_start
        return Trial(raster, labels=np.full(self.steps, label), mask=mask)
