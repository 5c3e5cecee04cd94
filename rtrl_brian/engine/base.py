"""
The interface every influence-matrix engine implements.

A learner hands its engine the whole step: `Engine.prepare` once per
compilation of the network, `Engine.before_run` at the start of each run, and
every step `Engine.step` (the replay), `Engine.commit` (the influence-matrix
update, once the learner accepts the step) and `Engine.add_loss_gradient`.
The learner never asks which engine it holds.
"""

import time
from abc import ABC, abstractmethod

import numpy as np

from ..replay import Replayer, replay_agrees

__all__ = ["Engine"]


class Engine(ABC):
    """
    Storage and update of the influence matrix ``M = ds/dtheta``.

    Implements ``M_t = J_t M_{t-1} + Mbar_t`` one op at a time: each op's
    `Linearization` holds both its Jacobian ``J`` and its immediate influence
    ``Mbar``.

    Parameters
    ----------
    layout : StateLayout
        Row blocks.
    n_params : int
        Number of parameters. Each active parameter has a column; all are
        active at first (see `set_active`).
    threads : int, optional
        Threads the engine may use (see each engine).
    """

    #: Attributes that are not the engine's state (see `state`).
    _NOT_STATE = ("layout", "threads", "_ops", "_replayer", "_staged")

    def __init__(self, layout, n_params, threads=1):
        self.layout = layout
        self.n_params = n_params
        self.threads = threads
        #: Parameter index of each column of the influence matrix.
        self.columns = np.arange(n_params)
        #: Column of each parameter, -1 for inactive (pruned) parameters.
        self.column_of = np.arange(n_params)
        self._ops = []
        self._replayer = Replayer([])
        self._staged = []  # linearizations of the step replayed, until commit
        self.reset_operations()

    # -- the step --------------------------------------------------------------------------
    def prepare(self, ops, surrogate, params):
        """
        Take the learner's ops (again after each compilation of the network).

        Parameters
        ----------
        ops : list of DerivedOp
            In schedule order.
        surrogate : Surrogate
        params : list of ParamIR

        Raises
        ------
        NotCompilable
            An engine that generates code for the step cannot generate it.
        """
        self._ops = ops
        self._replayer = Replayer(ops)

    def before_run(self, target):
        """
        Get ready for a run.

        Parameters
        ----------
        target : str
            Brian2's ``prefs.codegen.target``.
        """

    def whole_step(self, learner):
        """
        An object that runs the learner's whole step after Brian2's, its
        bookkeeping included (`rtrl_brian.fused.FusedStep`), or None: this
        engine updates the influence matrix only (the learner's Python does
        the rest).
        """
        return None

    def step(self, state, inputs, values):
        """
        Replay one step; update the influence matrix now or at `commit`.

        This implementation replays op by op in Python and keeps each op's
        `Linearization` for `commit`, so that a step the learner refuses (its
        replay differs from Brian2, its loss has no target) leaves the matrix
        as it was.

        Parameters
        ----------
        state : dict
            ``(group, var)`` to the replayed values at the step's start (float64
            copies); advanced in place to the step's end. Spike entries are set.
        inputs : StepInputs
            Spikes, refractoriness and the realised random numbers of the step.
        values : callable
            ``values(owner, var)``: Brian2's current values.

        Returns
        -------
        active : dict
            Group name (`event_key` for custom events) to a bool array: units
            inside the surrogate's support or sending an event this step
            (`rtrl_brian.derive.Replayed.active`).
        """
        replayed = self._replayer.step(state, inputs)
        self._staged = replayed.linearizations  # a step the learner refused is dropped
        return replayed.active

    def commit(self):
        """Apply the step: ``M <- J M + Mbar`` for every op `step` replayed."""
        started = time.perf_counter()
        for linearization in self._staged:
            self.apply(linearization)
        self._staged = []
        self._seconds += time.perf_counter() - started

    def apply(self, linearization):
        """Apply one op (engines that use the op-by-op `step`): ``M <- J M + Mbar``."""
        raise NotImplementedError(f"{type(self).__name__} runs whole steps only.")

    @property
    def n_columns(self):
        """Number of columns (active parameters)."""
        return len(self.columns)

    def set_active(self, active):
        """
        Keep columns only for the parameters where ``active`` is true.

        Columns of parameters that stay active keep their values; columns of
        newly active parameters start at zero influence; columns of inactive
        parameters are freed.

        Parameters
        ----------
        active : ndarray of bool
            Length ``n_params``.
        """
        columns = np.flatnonzero(active)
        take = self.column_of[columns]
        self._take_columns(take)
        self.columns = columns
        self.column_of = np.full(self.n_params, -1)
        self.column_of[columns] = np.arange(len(columns))

    @abstractmethod
    def _take_columns(self, take):
        """Rebuild storage with column ``j`` taken from old column ``take[j]`` (-1: zero)."""

    def _column_entries(self, columns, coef):
        """Map parameter indices to columns; returns (kept positions, columns)."""
        coef = np.asarray(coef)
        if np.shape(columns) != coef.shape:
            columns = np.broadcast_to(columns, coef.shape)
        mapped = self.column_of[columns]
        kept = np.flatnonzero((mapped >= 0) & (coef != 0))
        return kept, mapped[kept]

    def _to_parameters(self, per_column):
        """Per-column values (last axis) as per-parameter values (zero where inactive)."""
        per_column = np.asarray(per_column)
        full = np.zeros(per_column.shape[:-1] + (self.n_params,))
        full[..., self.columns] = per_column
        return full

    @staticmethod
    def replay_agrees(replayed, actual):
        """
        Whether Brian2's ``actual`` values equal the ``replayed`` ones
        (`rtrl_brian.replay.replay_agrees`; an engine that compiles its step
        compiles this check too).
        """
        return replay_agrees(replayed, actual)

    def take_operations(self):
        """
        Work counted since the last call, and zero the counters.

        Returns
        -------
        counts : dict
            ``multiply_adds``: multiply-adds this engine did on the influence
            matrix; ``multiply_adds_dense``: those the dense reference engine
            does for the same ops (full Jacobian blocks times whole row
            blocks); ``bytes``: bytes of the influence matrix read or written;
            ``engine_seconds``: time spent updating and reading the matrix
            (for an engine that runs the whole step as one call, the replay
            included).
        """
        counts = {"multiply_adds": self._done, "multiply_adds_dense": self._dense,
                  "bytes": self._bytes, "engine_seconds": self._seconds}
        self.reset_operations()
        return counts

    def reset_operations(self):
        """Zero the work counters."""
        self._done = 0
        self._dense = 0
        self._bytes = 0
        self._seconds = 0.0

    @abstractmethod
    def reset(self):
        """Zero the influence matrix (start of a trial)."""

    def add_loss_gradient(self, block, dloss, grad):
        """
        Add the ``dL/dtheta`` contribution ``dloss @ M[block]`` to ``grad``
        (timed as engine work).

        Parameters
        ----------
        block : tuple
            ``(group, var)`` the loss reads.
        dloss : ndarray
            ``dL_t/ds`` for the rows of ``block`` (float64).
        grad : ndarray
            Length ``n_params``, float64, updated in place (inactive parameters
            get nothing).
        """
        started = time.perf_counter()
        self._add_loss_gradient(block, dloss, grad)
        self._seconds += time.perf_counter() - started

    def _add_loss_gradient(self, block, dloss, grad):
        """`add_loss_gradient` itself (here through `_loss_gradient`)."""
        grad[self.columns] += self._loss_gradient(block, dloss)

    def _loss_gradient(self, block, dloss):
        """``dloss @ M[block]`` per column (engines that override
        `_add_loss_gradient` need not implement it)."""
        raise NotImplementedError

    def state(self):
        """The matrix and bookkeeping, for saving (copied by the caller)."""
        return {key: value for key, value in vars(self).items()
                if key not in self._NOT_STATE}

    def load_state(self, state):
        """Restore what `state` returned."""
        vars(self).update(state)

    @abstractmethod
    def influence(self, block):
        """
        The rows of ``block`` of the influence matrix, densely.

        Parameters
        ----------
        block : tuple
            ``(group, var)``, a state variable or ``(group, SPIKE)``.

        Returns
        -------
        rows : ndarray
            ``(size of block, n_params)`` float64 (zero columns for inactive
            parameters): ``d var / d theta``.
        """

    @property
    @abstractmethod
    def nbytes(self):
        """Bytes held by the influence matrix."""
