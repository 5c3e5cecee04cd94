"""
Ready models in Brian2 syntax (installed as ``rtrl_brian.models``).

Each function returns ordinary Brian2 objects that rtrl_brian can learn through.
"""

from .lif import leaky_readout, lif

__all__ = ["lif", "leaky_readout"]
