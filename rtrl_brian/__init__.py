"""
rtrl_brian: exact online learning (real-time recurrent learning) for Brian2.

Define a network in ordinary Brian2 syntax, attach `RTRL`, run it::

    learner = rtrl_brian.RTRL(params=[S.w], loss=rtrl_brian.losses.MSE(out.y, target))
    run(1*second)
    learner.gradient(S.w)

Gradients equal backpropagation through time of the same discrete map (with a
surrogate derivative for spikes); `check_gradients` verifies that on any network.
"""

import importlib

__version__ = "0.1.0"

#: Public names and the modules that define them, imported on first use: importing the
#: package (the ``rtrl-brian`` command's ``--help``, say) does not wait for Brian2.
_LAZY = {"RTRL": ".rtrl", "BPTT": ".bptt", "check_gradients": ".check",
         "GradientCheck": ".check", "UnsupportedConstructError": ".errors",
         "Training": ".apps.training", "sweep": ".apps.sweep", "Study": ".apps.sweep"}
_SUBMODULES = {"losses": ".losses", "models": ".models", "optim": ".optim",
               "sparsity": ".sparsity", "surrogates": ".surrogates", "plot": ".plot",
               "tasks": ".apps.tasks"}

__all__ = ["RTRL", "BPTT", "check_gradients", "GradientCheck", "UnsupportedConstructError",
           "Training", "Study", "sweep", "losses", "models", "optim", "sparsity", "surrogates",
           "tasks", "plot",
           "__version__"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name], __name__)
    else:
        raise AttributeError(f"module 'rtrl_brian' has no attribute '{name}'")
    globals()[name] = value  # found directly from now on
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
