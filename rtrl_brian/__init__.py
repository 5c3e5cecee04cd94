"""
rtrl_brian: exact online learning (real-time recurrent learning) for Brian2.

Define a network in ordinary Brian2 syntax, attach `RTRL`, run it::

    learner = rtrl_brian.RTRL(params=[S.w], loss=rtrl_brian.losses.MSE(out.y, target))
    run(1*second)
    learner.gradient(S.w)

Gradients equal backpropagation through time of the same discrete map (with a
surrogate derivative for spikes); `check_gradients` verifies that on any network.
"""

from . import losses, models, optim, sparsity, surrogates, tasks
from .bptt import BPTT
from .check import GradientCheck, check_gradients
from .errors import UnsupportedConstructError
from .rtrl import RTRL
from .training import Training

__version__ = "0.1.0"

__all__ = ["RTRL", "BPTT", "check_gradients", "GradientCheck", "UnsupportedConstructError",
           "Training", "losses", "models", "optim", "sparsity", "surrogates", "tasks", "plot",
           "__version__"]


def __getattr__(name):
    # matplotlib is imported only when plots are asked for
    if name == "plot":
        import importlib
        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'rtrl_brian' has no attribute '{name}'")
