"""
Parameter sparsity under control during online learning.

Brian2 cannot delete synapses from a `Synapses` object, so sparsity is a
property of the learner: a *pruned* synapse stays in the network with its
weight held at zero, and its influence-matrix column is freed (memory and work
fall with every pruned synapse; see `RTRL.prune`). Create the `Synapses` with
every candidate connection you may want to grow (for example ``connect()``
all-to-all), then prune to the sparsity you want:

``random_prune``
    A static random mask at a target sparsity (the method of Subramoney 2023).
``magnitude_prune``
    Prune the smallest-magnitude entries down to a target sparsity, once.
`MagnitudePruning`
    Gradual magnitude pruning on a schedule during online learning
    (Zhu & Gupta, "To prune, or not to prune", 2017).
`Rewiring`
    Sparse evolutionary training (Mocanu et al., Nat. Commun. 9, 2383, 2018),
    as used by Deep R-style methods: periodically prune the weakest synapses
    and regrow as many at random, keeping the sparsity constant.

Exactness: pruning never breaks it (a pruned synapse is a parameter fixed at
zero). A regrown synapse starts with a zero column, so its own gradient lacks
the influence it had on the state before regrowth; see `RTRL.regrow`.
"""

import numpy as np

__all__ = ["random_prune", "magnitude_prune", "MagnitudePruning", "Rewiring",
           "selected_entries"]


def selected_entries(owner, param, which):
    """
    Entries of a learned parameter chosen by a mask or by indices, as a mask.

    Parameters
    ----------
    owner : str
        The learner's name, for messages.
    param : ParamIR
    which : array of bool or int
        A mask over ``var[:]`` or indices into it.

    Returns
    -------
    selected : ndarray of bool

    Raises
    ------
    ValueError, TypeError
        A mask of another shape, indices out of range, or neither.
    """
    which = np.asarray(which)
    if which.dtype == bool:
        if which.shape != (param.size,):
            raise ValueError(f"{owner}: the mask for '{param.label}' must have shape "
                             f"({param.size},), like {param.label}[:]; got {which.shape}.")
        return which.copy()
    if not np.issubdtype(which.dtype, np.integer) and which.size:
        raise TypeError(f"{owner}: select entries of '{param.label}' with a boolean mask "
                        f"or integer indices, got dtype {which.dtype}.")
    if which.size and (which.min() < -param.size or which.max() >= param.size):
        raise ValueError(f"{owner}: indices into '{param.label}' must lie in "
                         f"[0, {param.size}), got {which.min()}..{which.max()}.")
    selected = np.zeros(param.size, dtype=bool)
    selected[which.astype(np.intp)] = True
    return selected


def _check_sparsity(sparsity):
    sparsity = float(sparsity)
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"'sparsity' must lie in [0, 1), got {sparsity}.")
    return sparsity


def _magnitude(var):
    return np.abs(np.asarray(var[:], dtype=float))


def _count_to_prune(learner, var, sparsity):
    pruned = learner.pruned(var)
    return max(0, int(round(sparsity * len(pruned))) - int(pruned.sum())), pruned


def random_prune(learner, var, sparsity, seed=None):
    """
    Prune entries of ``var`` at random until a fraction ``sparsity`` is pruned.

    Parameters
    ----------
    learner : RTRL
    var : VariableView
        One of the learner's parameters, e.g. ``S.w``.
    sparsity : float
        Target fraction of pruned entries, in ``[0, 1)``.
    seed : int, optional
    """
    count, pruned = _count_to_prune(learner, var, _check_sparsity(sparsity))
    if count:
        rng = np.random.default_rng(seed)
        learner.prune(var, rng.choice(np.flatnonzero(~pruned), size=count, replace=False))


def magnitude_prune(learner, var, sparsity):
    """
    Prune the active entries of ``var`` with the smallest ``|value|`` until a
    fraction ``sparsity`` is pruned.
    """
    count, pruned = _count_to_prune(learner, var, _check_sparsity(sparsity))
    if count:
        active = np.flatnonzero(~pruned)
        magnitude = _magnitude(var)[active]
        learner.prune(var, active[np.argsort(magnitude, kind="stable")[:count]])


class MagnitudePruning:
    """
    Gradual magnitude pruning during online learning.

    The target sparsity rises from ``initial`` to ``final`` between steps
    ``start`` and ``end`` along ``s(t) = final + (initial - final) * (1 - p)^3``
    with ``p = (t - start) / (end - start)``, pruning every ``every`` steps.

    Parameters
    ----------
    var : VariableView
    final : float
    start, end : int
        Learner steps (counted over all runs).
    every : int
    initial : float, optional
    """

    def __init__(self, var, final, start, end, every=100, initial=0.0):
        self.var = var
        self.final = _check_sparsity(final)
        self.initial = _check_sparsity(initial)
        if not 0 <= start < end:
            raise ValueError(f"MagnitudePruning: need 0 <= start < end, got {start}, {end}.")
        if every < 1:
            raise ValueError(f"MagnitudePruning: 'every' must be positive, got {every}.")
        self.start, self.end, self.every = int(start), int(end), int(every)

    def target(self, step):
        """The sparsity the schedule asks for at ``step``."""
        progress = min(1.0, max(0.0, (step - self.start) / (self.end - self.start)))
        return self.final + (self.initial - self.final) * (1.0 - progress) ** 3

    def __call__(self, learner, step):
        if step >= self.start and (step - self.start) % self.every == 0 or step == self.end:
            magnitude_prune(learner, self.var, self.target(step))


class Rewiring:
    """
    Prune the weakest fraction of the active entries and regrow as many.

    Every ``every`` steps, ``fraction`` of the active entries of ``var`` with
    the smallest ``|value|`` are pruned and the same number of pruned entries,
    drawn uniformly, are regrown at ``init`` (so the sparsity stays constant).

    Parameters
    ----------
    var : VariableView
    fraction : float
    every : int
    init : float, optional
        Value of regrown entries.
    seed : int, optional
    """

    def __init__(self, var, fraction=0.1, every=100, init=0.0, seed=None):
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"Rewiring: 'fraction' must lie in (0, 1), got {fraction}.")
        if every < 1:
            raise ValueError(f"Rewiring: 'every' must be positive, got {every}.")
        self.var, self.fraction, self.every, self.init = var, float(fraction), int(every), init
        self._rng = np.random.default_rng(seed)

    def __call__(self, learner, step):
        if step % self.every:
            return
        pruned = learner.pruned(self.var)
        active, candidates = np.flatnonzero(~pruned), np.flatnonzero(pruned)
        count = min(int(round(self.fraction * len(active))), len(candidates))
        if not count:
            return
        magnitude = _magnitude(self.var)[active]
        weakest = active[np.argsort(magnitude, kind="stable")[:count]]
        regrown = self._rng.choice(candidates, size=count, replace=False)
        learner.prune(self.var, weakest)
        learner.regrow(self.var, regrown, self.init)
