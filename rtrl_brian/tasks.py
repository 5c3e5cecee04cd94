"""
Built-in tasks, generated in code.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["PatternGeneration", "pattern_generation", "Spiral", "spiral"]


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


@dataclass
class Spiral:
    """
    Spiral direction classification (the task of Subramoney 2023, arXiv:2303.05641).

    Attributes
    ----------
    inputs : ndarray
        ``(sequences, steps, 2)``: ``(+-sin(t + phi) / (1 + t), cos(t + phi) / (1 + t))``
        for ``t`` in ``[0, 2 pi]``.
    labels : ndarray
        ``(sequences,)``: 1 for the ``+sin`` (counter-clockwise) spirals, else 0.
    train, validation, test : ndarray
        Sequence indices of the 70/15/15 split.
    """

    inputs: np.ndarray
    labels: np.ndarray
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    @property
    def steps(self):
        return self.inputs.shape[1]


def spiral(sequences=10_000, steps=17, seed=0):
    """
    Generate the spiral task: random phases, random directions, a 70/15/15 split.

    Parameters
    ----------
    sequences : int
    steps : int
        Points per spiral (``t`` evenly spaced in ``[0, 2 pi]``).
    seed : int

    Returns
    -------
    task : Spiral
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 2 * np.pi, steps)
    phase = rng.uniform(0.0, 2 * np.pi, (sequences, 1))
    labels = rng.integers(0, 2, sequences)
    sign = np.where(labels == 1, 1.0, -1.0)[:, None]
    inputs = np.stack([sign * np.sin(t + phase) / (1 + t), np.cos(t + phase) / (1 + t)], axis=-1)
    order = rng.permutation(sequences)
    n_train, n_validation = int(0.7 * sequences), int(0.15 * sequences)
    return Spiral(inputs, labels, order[:n_train], order[n_train:n_train + n_validation],
                  order[n_train + n_validation:])
