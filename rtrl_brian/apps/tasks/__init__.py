"""
Built-in tasks, generated in code (no downloads).

Each task is a `Task`: it makes trials (`Trial`: inputs, targets or labels, a
mask), one Brian2 input group for a sequence of trials, the loss to train with
and a score (accuracy or normalised mean squared error).
"""

from .base import Task, Trial
from .evidence import EvidenceAccumulation
from .pattern import PatternGeneration
from .recall import DelayedRecall
from .spiral import Spiral

__all__ = ["Task", "Trial", "PatternGeneration", "EvidenceAccumulation", "DelayedRecall",
           "Spiral", "TASKS"]

#: Task classes by command-line name.
TASKS = {"pattern": PatternGeneration, "evidence": EvidenceAccumulation,
         "recall": DelayedRecall, "spiral": Spiral}
