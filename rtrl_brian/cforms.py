"""
C forms of losses and optimizers, for the learner inside Brian2's C++ standalone binary.

Each loss and optimizer of the library renders its C statements from a Jinja
block in ``rtrl_brian/templates/cpp_standalone/blocks`` (`render`); the standalone step
(``rtrl_learn.cpp``) places them. A loss or optimizer of the user's may return
any C string from the same methods (`rtrl_brian.losses.Loss.c_code`,
`rtrl_brian.optim.Optimizer.c_update`).
"""

from . import templating

__all__ = ["render"]


def render(name, **keywords):
    """
    The C statements of one block.

    Parameters
    ----------
    name : str
        The block's file name in ``rtrl_brian/templates/cpp_standalone/blocks`` without
        ``.cpp``, e.g. ``'loss_per_unit'``.
    **keywords
        Its variables: C expressions (pointers, lvalues) and numbers, which are
        written with `repr`.

    Returns
    -------
    code : str
    """
    values = {key: repr(value) if isinstance(value, float) else value
              for key, value in keywords.items()}
    return templating.render("cpp_standalone/blocks", f"{name}.cpp", **values)
