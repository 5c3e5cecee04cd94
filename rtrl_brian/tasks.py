"""
Built-in tasks, generated in code.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["PatternGeneration", "pattern_generation"]


@dataclass
class PatternGeneration:
    """
    A pattern-generation trial (as in the e-prop experiments, Bellec et al. 2020).

    Attributes
    ----------
    indices, step_index : ndarray
        Input spikes: neuron and time step, for a `SpikeGeneratorGroup`.
    target : ndarray
        ``(steps, 1)``: the sum of sines to reproduce.
    n_inputs, steps : int
    """

    indices: np.ndarray
    step_index: np.ndarray
    target: np.ndarray
    n_inputs: int
    steps: int


def pattern_generation(steps=200, n_inputs=20, rate=0.1, n_sines=4, amplitude=0.5, seed=0):
    """
    A frozen random input spike pattern and a target that is a sum of sines.

    Parameters
    ----------
    steps : int
        Trial length in time steps.
    n_inputs : int
    rate : float
        Spike probability per input and step.
    n_sines : int
        Number of sines (periods between ``steps/4`` and ``steps``).
    amplitude : float
        Peak of the normalised target.
    seed : int

    Returns
    -------
    task : PatternGeneration
    """
    rng = np.random.default_rng(seed)
    raster = rng.random((steps, n_inputs)) < rate
    step_index, indices = np.nonzero(raster)
    t = np.arange(steps)
    periods = rng.uniform(steps / 4, steps, n_sines)
    phases = rng.uniform(0, 2 * np.pi, n_sines)
    weights = rng.uniform(0.5, 1.0, n_sines)
    signal = sum(w * np.sin(2 * np.pi * t / p + ph) for w, p, ph in zip(weights, periods, phases))
    target = amplitude * signal / np.max(np.abs(signal))
    return PatternGeneration(indices, step_index, target[:, None], n_inputs, steps)
