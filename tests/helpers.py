"""Shared helpers for the tests: relative errors, input spike trains, synapses."""

import numpy as np
from brian2 import Synapses


def relative_error(actual, expected):
    """``max|actual - expected| / max|expected|`` (absolute if ``expected`` is 0)."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    scale = np.max(np.abs(expected), initial=0.0)
    difference = np.max(np.abs(actual - expected), initial=0.0)
    return difference / scale if scale > 0 else difference


def input_raster(rng, n_inputs, steps, rate):
    """A 0/1 ``(steps, n_inputs)`` raster and matching SpikeGeneratorGroup arguments."""
    raster = (rng.random((steps, n_inputs)) < rate).astype(float)
    step_index, neuron = np.nonzero(raster)
    return raster, neuron, step_index


def dense_weights(synapses, n_pre, n_post):
    """The weight matrix ``W[i, j]`` of a Synapses object (zeros where unconnected)."""
    weights = np.zeros((n_pre, n_post))
    weights[synapses.i[:], synapses.j[:]] = synapses.w[:]
    return weights


def synapse_gradient(grad_matrix, synapses):
    """Per-synapse entries of a dense gradient matrix, in synapse order."""
    return grad_matrix[synapses.i[:], synapses.j[:]]


def weighted_synapses(source, target, on_pre, weights, **connect):
    """
    Synapses with a ``w : 1`` variable, connected by ``connect(**connect)``.

    ``weights(n)`` draws the ``n`` initial weights.
    """
    synapses = Synapses(source, target, "w : 1", on_pre=on_pre)
    synapses.connect(**connect)
    synapses.w = weights(len(synapses))
    return synapses
