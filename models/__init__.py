"""
Ready models in Brian2 syntax (installed as ``rtrl_brian.models``).

Each function returns ordinary Brian2 objects that rtrl_brian can learn through:
spiking units (`lif`, `alif`), event-based gated units (`egru`), thresholded rate
units (`sparse_rnn`), their synapse helpers, a `leaky_readout`, and
`analog_input` (values sent as events every step).
"""

from .egru import beta_thresholds, egru, egru_synapses
from .inputs import analog_input
from .lif import alif, leaky_readout, lif
from .sparse_rnn import sparse_rnn, sparse_rnn_synapses

__all__ = ["lif", "alif", "leaky_readout", "egru", "egru_synapses", "beta_thresholds", "sparse_rnn",
           "sparse_rnn_synapses", "analog_input"]
