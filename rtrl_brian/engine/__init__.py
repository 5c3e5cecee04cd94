"""
Influence-matrix engines, selected with ``RTRL(engine=...)``: ``sparse`` (the
default: event-driven, exploits activity and parameter sparsity) and ``dense``
(the reference, full Jacobians).
"""

from .base import Engine
from .dense import DenseEngine
from .sparse import SparseEngine

__all__ = ["Engine", "DenseEngine", "SparseEngine", "ENGINES"]

#: Engine classes by the name ``RTRL(engine=...)`` takes.
ENGINES = {"dense": DenseEngine, "sparse": SparseEngine}
