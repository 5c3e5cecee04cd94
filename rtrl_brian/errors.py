"""
Errors raised when a network cannot be differentiated exactly.
"""

__all__ = ["UnsupportedConstructError", "NotCompilable", "unsupported"]


class UnsupportedConstructError(NotImplementedError):
    """
    A Brian2 construct that rtrl_brian cannot differentiate exactly.

    Raised at learner construction (or at the start of a run for settings that
    Brian2 only fixes then), before anything in the network changes. The message
    names the object, the equation or statement, and the construct.
    """


class NotCompilable(Exception):
    """Something has no C form: the generated step (engine='compiled', cpp_standalone)
    cannot include it. The message names it."""


def unsupported(obj, line, construct, hint=""):
    """
    Build an `UnsupportedConstructError` with a uniform message.

    Parameters
    ----------
    obj : BrianObject or str
        The object (or its description) that holds the construct.
    line : str
        The equation, statement or setting, quoted in the message.
    construct : str
        What in ``line`` cannot be handled.
    hint : str, optional
        How to fix it.

    Returns
    -------
    error : UnsupportedConstructError
    """
    # obj.__class__ sees through the weak proxies Brian2 hands out (type() does not)
    name = obj if isinstance(obj, str) else f"{obj.__class__.__name__} '{obj.name}'"
    message = f"Cannot learn through {name}: '{line}' uses {construct}."
    if hint:
        message += f" {hint}"
    return UnsupportedConstructError(message)
