"""
Influence-matrix engines: ``dense`` (the reference). Select with
``RTRL(engine=...)``.
"""

from .base import Engine
from .dense import DenseEngine

__all__ = ["Engine", "DenseEngine", "ENGINES"]

#: Engine classes by the name ``RTRL(engine=...)`` takes.
ENGINES = {"dense": DenseEngine}
