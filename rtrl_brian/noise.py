"""
Random numbers in a step: realised samples held fixed (pathwise derivatives).

Brian2 draws ``rand()``, ``randn()``, ``poisson()`` and the binomial counts of a
`PoissonInput` inside its generated code; the learner cannot draw the same
numbers. It reads them instead: a pair of probes brackets the op in Brian2's
schedule and records the written variable before and after it. Each random call
of the op is a symbol ``xi`` that enters one written variable linearly,
``s' = f + g * xi`` (``f`` and ``g`` may depend on state and parameters), so
``xi = (s'_Brian2 - f) / g`` is the realised sample. The gradient is then the
derivative of the realised map with that sample held fixed: ``dg/dtheta * xi``
is differentiated through, ``xi`` itself is not. Where ``g`` is zero the sample
has no effect and is taken as zero.

The probe before the op also checks the replay at that point, so that a
mismatch upstream is reported instead of being absorbed into the sample.
"""

import re
from dataclasses import dataclass

import sympy
from sympy.core.function import AppliedUndef

__all__ = ["RANDOM_FUNCTIONS", "Noise", "random_functions", "replace_random_calls",
           "check_noise", "probe_names"]

#: Brian2's random functions (a `PoissonInput`'s binomial has a generated name).
RANDOM_FUNCTIONS = frozenset({"rand", "randn", "poisson"})


@dataclass(frozen=True)
class Noise:
    """
    One random call of an op.

    Attributes
    ----------
    symbol : sympy.Symbol
        Stands for the realised sample in the op's outputs.
    var : str
        The state variable it enters (linearly), solved from Brian2's value.
    line : str
        The statement that draws it, for messages.
    """

    symbol: object
    var: str
    line: str


def random_functions(source):
    """Names of the random functions ``source`` (a `CodeRunner`) can call."""
    names = set(RANDOM_FUNCTIONS)
    variables = getattr(source, "variables", None) or {}
    names |= {name for name, var in variables.items()
              if getattr(var, "stateless", True) is False}
    return names


def replace_random_calls(expr, line, names, count):
    """
    Replace the random call of one statement by a fresh symbol.

    Parameters
    ----------
    expr : sympy.Expr
        The statement's right-hand side.
    line : str
        The statement (Brian2 draws a new number at each call; sympy would merge
        two calls, so a statement may hold one only).
    names : set of str
        Random functions (`random_functions`).
    count : int
        Number of samples of the op so far (names the symbol).

    Returns
    -------
    expr : sympy.Expr
    calls : list of tuple
        ``(symbol, line)`` for the replaced call (empty or one).

    Raises
    ------
    NotImplementedError
        For a statement with several random calls.
    """
    calls = [c for c in expr.atoms(AppliedUndef) if c.func.__name__ in names]
    if not calls:
        return expr, []
    written = re.findall(r"\b(" + "|".join(sorted(map(re.escape, names))) + r")\s*\(", line)
    if len(written) > 1:
        raise NotImplementedError(
            f"several random calls in one statement ({', '.join(w + '()' for w in written)}); "
            f"draw each into a variable of its own line first")
    symbol = sympy.Symbol(f"_noise{count}", real=True)
    return expr.xreplace({calls[0]: symbol}), [(symbol, line)]


def check_noise(outputs, frozen, samples):
    """
    Where each sample enters; refuse what cannot be solved for the sample.

    Parameters
    ----------
    outputs : dict
        Written variable to its new value (sympy).
    frozen : list of Frozen
    samples : list of tuple
        ``(symbol, line)`` from `replace_random_calls`.

    Returns
    -------
    noise : list of Noise

    Raises
    ------
    NotImplementedError
        With arguments ``(line, reason)``: a sample entering two variables, a
        variable that another sample enters too, non-linearly, or through a
        piecewise-constant part (a comparison with a random number). The
        realised sample could not be read back from Brian2's state.
    """
    noise, taken = [], set()
    for symbol, line in samples:
        if any(symbol in f.expression.free_symbols for f in frozen):
            raise NotImplementedError(line, "a random number inside a comparison or other "
                                            "piecewise-constant expression")
        reached = [var for var, value in outputs.items() if symbol in value.free_symbols]
        if not reached:
            continue  # a sample that changes no learned state
        if len(reached) > 1:
            raise NotImplementedError(line, f"one random sample entering several variables "
                                            f"({', '.join(reached)})")
        var = reached[0]
        if var in taken:
            raise NotImplementedError(line, f"several random samples entering '{var}' in "
                                            f"one step")
        if sympy.diff(outputs[var], symbol, 2) != 0:
            raise NotImplementedError(line, f"a random number entering '{var}' non-linearly "
                                            f"(as multiplicative noise does under 'heun' or "
                                            f"'milstein')")
        taken.add(var)
        noise.append(Noise(symbol, var, line))
    return noise


_IDENTIFIER_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def probe_names(name, owner):
    """
    Names of ``owner``'s probes, sorting just before and just after ``name``.

    Brian2 orders the objects of one schedule slot and ``order`` by name, so
    the probes bracket the object called ``name``; only objects whose names are
    ``name`` cut after a non-zero character and followed by zeros (``'x_1'``
    for ``'x_10'``) can sort between them (`rtrl_brian.compile` checks that
    none of those is an op of the step).
    """
    last = len(name.rstrip("0")) - 1
    previous = _IDENTIFIER_CHARS[_IDENTIFIER_CHARS.index(name[last]) - 1]
    return f"{name[:last]}{previous}{'z' * 8}_{owner}", f"{name}0_{owner}"
