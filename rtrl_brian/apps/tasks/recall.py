"""
Delayed recall: remember a short sequence of bits and play it back.
"""

import numpy as np

from .base import Task, Trial, population_raster

__all__ = ["DelayedRecall"]


class DelayedRecall(Task):
    """
    Delayed recall (a copy task in spikes): ``n_items`` random bits are shown
    one after the other, each for ``item_steps`` on the population coding its
    value; after ``delay_steps`` a recall cue is on for ``n_items *
    item_steps`` steps, during which the network must output the bits in the
    order shown, one per ``item_steps`` (two readouts, cross-entropy on the
    recall steps; ``n_items`` decisions per trial).

    Inputs: four populations of ``population`` neurons: bit 0, bit 1, recall
    cue, background noise.

    Parameters
    ----------
    n_items : int
    item_steps, delay_steps : int
    population : int
    rate, background_rate : float
        Spike probability per input and step while a population is on
        (background: always).
    seed : int
    """

    def __init__(self, n_items=3, item_steps=30, delay_steps=60, population=10, rate=0.05,
                 background_rate=0.01, seed=0):
        super().__init__(seed)
        self.n_items, self.item_steps = int(n_items), int(item_steps)
        self.delay_steps, self.population = int(delay_steps), int(population)
        self.rate, self.background_rate = float(rate), float(background_rate)
        self.n_inputs = 4 * self.population
        self.n_outputs = 2
        self.recall_start = self.n_items * self.item_steps + self.delay_steps
        self.steps = self.recall_start + self.n_items * self.item_steps

    def _generate(self, rng, k, split):
        bits = rng.integers(0, 2, self.n_items)
        rates = np.zeros((self.steps, 4))
        labels = np.zeros(self.steps, dtype=int)
        for item, bit in enumerate(bits):
            shown = slice(item * self.item_steps, (item + 1) * self.item_steps)
            rates[shown, bit] = self.rate
            recalled = self.recall_start + item * self.item_steps
            labels[recalled:recalled + self.item_steps] = bit
        rates[self.recall_start:, 2] = self.rate
        rates[:, 3] = self.background_rate
        raster = population_raster(rng, self.steps, 4, self.population, rates)
        return Trial(raster, labels=labels, mask=np.arange(self.steps) >= self.recall_start)

    def decision_windows(self, trial):
        """One decision per recalled item: its ``item_steps`` in the recall period."""
        return [slice(self.recall_start + item * self.item_steps,
                      self.recall_start + (item + 1) * self.item_steps)
                for item in range(self.n_items)]
