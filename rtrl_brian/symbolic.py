"""
Brian2 code strings to differentiable sympy expressions.

Brian2's parser (`brian2.parsing.sympytools.str_to_sympy`) turns an expression
into sympy, but several of Brian2's functions become undefined sympy functions
that sympy cannot differentiate (``sqrt``, ``clip``, ``exprel``, ``int``). This
module maps them onto sympy's own functions, and replaces every piecewise-constant
sub-expression (comparisons, ``int``, ``floor``, ``sign``, boolean operators) by a
*frozen* symbol: a value computed numerically at each step whose derivative is
zero almost everywhere. What remains is an ordinary differentiable expression.
"""

import numpy as np
import sympy
from brian2.parsing.statements import parse_statement
from brian2.parsing.sympytools import str_to_sympy

__all__ = [
    "STOCHASTIC_FUNCTIONS",
    "Frozen",
    "SymbolicCode",
    "to_sympy",
    "parse_statements",
    "substitute",
    "assign",
    "NUMPY_MODULES",
]

#: Brian2 functions whose value is random: never differentiable.
STOCHASTIC_FUNCTIONS = frozenset({"rand", "randn", "poisson"})

#: Brian2 functions that map onto a differentiable sympy function.
_DIFFERENTIABLE = {
    "sqrt": sympy.sqrt,
    "clip": lambda x, low, high: sympy.Min(sympy.Max(x, low), high),
    "exprel": lambda x: (sympy.exp(x) - 1) / x,
    "expm1": lambda x: sympy.exp(x) - 1,
    "log1p": lambda x: sympy.log(1 + x),
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
}

#: Brian2 / sympy functions that are constant almost everywhere.
_PIECEWISE_CONSTANT = frozenset({"int_", "floor", "ceiling", "ceil", "sign", "timestep"})


def _heaviside(x, h0=0.5):
    return np.heaviside(x, h0)


def _int(x):
    return np.trunc(np.asarray(x, dtype=np.float64))  # Brian2's int(): towards zero


def _timestep(t, dt):  # as brian2.core.functions.timestep: shifted, then truncated
    return np.asarray((np.asarray(t) + 1e-3 * dt) / dt).astype(np.int64)


#: Numeric implementations handed to `sympy.lambdify`, before numpy's own.
NUMPY_MODULES = [
    {"int_": _int, "Heaviside": _heaviside, "timestep": _timestep, "ceil": np.ceil},
    "numpy",
]


class Frozen:
    """
    A piecewise-constant sub-expression replaced by a symbol.

    Parameters
    ----------
    symbol : sympy.Symbol
        The symbol standing for the value.
    expression : sympy.Expr
        The sub-expression it replaces, evaluated numerically at each step.
    """

    def __init__(self, symbol, expression):
        self.symbol = symbol
        self.expression = expression


def to_sympy(code):
    """
    Parse a Brian2 expression string into sympy.

    Parameters
    ----------
    code : str
        A Brian2 expression, e.g. ``'v > v_th + beta*a'``.

    Returns
    -------
    expr : sympy.Expr
        The expression, with every symbol named after its identifier.
    """
    return sympy.sympify(str_to_sympy(code))  # 'True' parses to a Python bool


def parse_statements(code):
    """
    Split abstract code into ``(variable, operator, expression)`` statements.

    Parameters
    ----------
    code : str
        Brian2 abstract code: one statement per line or separated by ``;``.

    Returns
    -------
    statements : list of tuple
        ``(var, op, expr_str, line)`` with ``op`` one of ``'='``, ``'+='``, ...
    """
    statements = []
    for raw_line in code.replace(";", "\n").split("\n"):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        var, op, expr, _ = parse_statement(line)
        statements.append((var.strip(), op.strip(), expr.strip(), line))
    return statements


def substitute(expr, values):
    """
    Replace names in ``expr`` by their current values.

    Parameters
    ----------
    expr : sympy.Expr
    values : dict
        Maps names to sympy values.

    Returns
    -------
    expr : sympy.Expr
    """
    return expr.xreplace({symbol: values[str(symbol)] for symbol in expr.free_symbols
                          if str(symbol) in values})


_COMBINE = {"=": lambda old, rhs: rhs, "+=": lambda old, rhs: old + rhs,
            "-=": lambda old, rhs: old - rhs, "*=": lambda old, rhs: old * rhs,
            "/=": lambda old, rhs: old / rhs}


def assign(values, var, op, rhs):
    """
    Apply the statement ``var op rhs`` to ``values``, in place.

    Parameters
    ----------
    values : dict
        Maps names to their current sympy value.
    var, op : str
        Target and operator (``'='``, ``'+='``, ``'-='``, ``'*='``, ``'/='``).
    rhs : sympy.Expr
        Right-hand side, already in terms of the values at the block's start.
    """
    old = values.get(var, sympy.Symbol(var, real=True))
    values[var] = _COMBINE[op](old, rhs)


class SymbolicCode:
    """
    Turn Brian2 expressions into differentiable sympy and keep track of the
    frozen and external sub-expressions found on the way.

    Parameters
    ----------
    is_external_function : callable
        ``is_external_function(name)`` is true for a function (a `TimedArray`, a
        user `Function`) whose value is read numerically, not differentiated.
    learnable : set of str
        Names of the quantities that parameters influence (states, parameters):
        an external function may not take them as arguments.
    prefix : str
        Prefix of the generated symbol names (unique per op).
    """

    def __init__(self, is_external_function, learnable, prefix):
        self._is_external_function = is_external_function
        self._learnable = frozenset(learnable)
        self._prefix = prefix
        #: The numeric sub-expressions, in order of discovery (list of `Frozen`).
        self.frozen = []
        self._cache = {}

    def differentiable(self, expr):
        """
        Rewrite ``expr`` into differentiable form.

        Parameters
        ----------
        expr : sympy.Expr
            As returned by `to_sympy`, possibly after substitution.

        Returns
        -------
        expr : sympy.Expr
            With Brian2's functions mapped to sympy's and piecewise-constant
            parts replaced by frozen symbols.

        Raises
        ------
        NotImplementedError
            For stochastic functions.
        """
        return self._rewrite(expr)

    def indicator(self, condition):
        """
        A frozen symbol standing for the 0/1 value of a boolean ``condition``.

        Parameters
        ----------
        condition : sympy.logic.boolalg.Boolean
            In the names of the op's own quantities, e.g. ``i >= 4``.

        Returns
        -------
        symbol : sympy.Symbol
        """
        return self._freeze(self._numeric(condition))

    def _freeze(self, expr):
        if expr not in self._cache:
            symbol = sympy.Symbol(f"_{self._prefix}_frozen{len(self.frozen)}", real=True)
            self.frozen.append(Frozen(symbol, expr))
            self._cache[expr] = symbol
        return self._cache[expr]

    def _rewrite(self, expr):
        if expr.is_Atom:
            return expr
        if isinstance(expr, (sympy.logic.boolalg.Boolean, sympy.core.relational.Relational)):
            return self._freeze(self._numeric(expr))
        if isinstance(expr, sympy.Function) or isinstance(expr, sympy.core.function.AppliedUndef):
            name = expr.func.__name__
            if name in STOCHASTIC_FUNCTIONS:
                raise NotImplementedError(f"stochastic function '{name}()'")
            if name in _PIECEWISE_CONSTANT:
                return self._freeze(self._numeric(expr))
            if name == "where":
                condition, if_true, if_false = expr.args
                flag = self._freeze(self._numeric(condition))
                return flag * self._rewrite(if_true) + (1 - flag) * self._rewrite(if_false)
            if name in _DIFFERENTIABLE:
                return _DIFFERENTIABLE[name](*[self._rewrite(a) for a in expr.args])
            if self._is_external_function(name):
                used = {str(s) for s in expr.free_symbols} & self._learnable
                if used:
                    raise NotImplementedError(
                        f"function '{name}()' of the learned quantity "
                        f"'{sorted(used)[0]}', which cannot be differentiated"
                    )
                return self._freeze(self._numeric(expr))
            if isinstance(expr, sympy.core.function.AppliedUndef):
                raise NotImplementedError(f"function '{name}()' that cannot be differentiated")
        return expr.func(*[self._rewrite(a) for a in expr.args])

    def _numeric(self, expr):
        """Map Brian2 functions inside a frozen part to numerically evaluable ones."""
        if expr.is_Atom:
            return expr
        if isinstance(expr, sympy.core.function.AppliedUndef):
            name = expr.func.__name__
            if name in STOCHASTIC_FUNCTIONS:
                raise NotImplementedError(f"stochastic function '{name}()'")
            if name in _DIFFERENTIABLE:
                return _DIFFERENTIABLE[name](*[self._numeric(a) for a in expr.args])
        return expr.func(*[self._numeric(a) for a in expr.args])
