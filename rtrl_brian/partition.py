"""
One network's influence matrix across MPI ranks: each rank keeps a block of its columns.

The columns of the influence matrix (one per learned parameter) never mix: a
step's row operations are the same for every column. So K processes, each
simulating the same network (deterministically: the same seed), can each keep
and update only their own block of columns, read out the gradient of their own
parameters, and sum their gradient vectors (zero outside their block) with one
``Allreduce`` per step: every rank then holds the whole exact gradient, applies
the same optimizer step and keeps the same parameters. Memory and work per rank
are 1/K of the matrix; communication is one vector of the parameters per step.

Run with ``mpiexec -n K python script.py`` (mpi4py and an MPI: the
``distributed`` extra installs MPICH's wheels). An exception on one rank stops
every rank (``MPI_Abort``) instead of leaving the others waiting.
"""

import sys
import traceback

import numpy as np
from brian2 import get_logger

__all__ = ["MPIPartition"]

logger = get_logger(__name__)


class MPIPartition:
    """
    Which parameters' columns this MPI rank keeps, and the sum of the ranks' gradients.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Default ``MPI.COMM_WORLD``.

    Attributes
    ----------
    rank, size : int
    """

    def __init__(self, comm=None):
        try:
            from mpi4py import MPI
        except ImportError as error:
            raise ImportError("partition='mpi' needs mpi4py and an MPI library: "
                              "pip install 'rtrl_brian[distributed]'.") from error
        self._mpi = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._bounds = None
        if self.size > 1:
            _abort_all_on_error(self.comm)

    @property
    def is_root(self):
        """Whether this is rank 0 (the one that writes files)."""
        return self.rank == 0

    @property
    def divided(self):
        """Whether the ranks' blocks are fixed (`divide`)."""
        return self._bounds is not None

    def divide(self, learnable):
        """
        Fix each rank's block: contiguous ranges of parameter indices with
        equally many ``learnable`` parameters (every column costs the same per
        row operation). Called once (the learner's first run): a parameter keeps
        its rank when it is pruned or regrown later, so that its column's history
        stays where it is.
        """
        learnable = np.asarray(learnable, dtype=bool)
        indices = np.flatnonzero(learnable)
        cuts = [len(indices) * k // self.size for k in range(1, self.size)]
        inner = [int(indices[c]) if c < len(indices) else len(learnable) for c in cuts]
        self._bounds = np.array([0] + inner + [len(learnable)])
        logger.debug(f"rank {self.rank} of {self.size}: parameters "
                     f"{self._bounds[self.rank]}:{self._bounds[self.rank + 1]}")

    def mine(self, learnable):
        """``learnable`` where this rank keeps the column (after `divide`)."""
        mask = np.zeros(len(learnable), dtype=bool)
        mask[self._bounds[self.rank]:self._bounds[self.rank + 1]] = True
        return np.asarray(learnable, dtype=bool) & mask

    def combine(self, gradient):
        """Sum ``gradient`` (float64, zero outside this rank's block) over the ranks, in
        place: every rank gets the whole gradient."""
        if self.size > 1:
            self.comm.Allreduce(self._mpi.IN_PLACE, gradient, op=self._mpi.SUM)
        return gradient


def _abort_all_on_error(comm):
    """An exception that reaches the top of this rank prints and aborts every rank."""
    previous = sys.excepthook

    def abort(kind, value, trace):
        traceback.print_exception(kind, value, trace)
        sys.stderr.flush()
        comm.Abort(1)
        previous(kind, value, trace)

    if getattr(sys.excepthook, "_rtrl_abort", False):
        return
    abort._rtrl_abort = True
    sys.excepthook = abort
