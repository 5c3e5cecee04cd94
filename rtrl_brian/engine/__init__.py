"""
Influence-matrix engines, selected with ``RTRL(engine=...)``: ``sparse`` (the
default: event-driven, exploits activity and parameter sparsity), ``dense``
(the reference, full Jacobians) and ``compiled`` (the whole step in generated C:
for small networks, where per-op Python dominates).
"""

from .base import Engine
from .compiled import CompiledEngine
from .dense import DenseEngine
from .sparse import SparseEngine

__all__ = ["Engine", "CompiledEngine", "DenseEngine", "SparseEngine", "ENGINES"]

#: Engine classes by the name ``RTRL(engine=...)`` takes.
ENGINES = {"compiled": CompiledEngine, "dense": DenseEngine, "sparse": SparseEngine}
