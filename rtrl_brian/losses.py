"""
Losses read at the end of each time step.

A loss reads a state variable of one group (`ExpressionLoss`: several of one
group). ``step`` counts time steps since
the learner's last `reset_state` (trial time): array targets, labels and masks
are indexed by it; a `TimedArray` target is evaluated at the network time ``t``,
as Brian2 does.

Losses add up: ``MSE(out.y, target) + RateRegularizer(rec.r, 0.02, weight=0.1)``
learns both (`LossSum`). A new loss is one class: derive from `Loss` and give
``__call__`` (numpy); for the learner inside Brian2's C++ standalone binary also
``c_arrays`` and ``c_code`` (its C form).
"""

import numpy as np
import sympy
from brian2 import DimensionMismatchError, TimedArray, second
from brian2.core.functions import Function
from brian2.core.variables import Constant
from brian2.parsing.expressions import parse_expression_dimensions
from brian2.utils.stringtools import get_identifiers
from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions

from .cforms import render
from .codegen import CPrinter
from .compile import owner_of
from .errors import NotCompilable
from .symbolic import NUMPY_MODULES, SymbolicCode, substitute, to_sympy

__all__ = ["Loss", "LossSum", "MSE", "ExpressionLoss", "CrossEntropy", "RateRegularizer",
           "ActivityRegularizer",
           "per_part"]


class Loss:
    """
    Base class: a loss on one state variable of one group, at every step.

    Parameters
    ----------
    var : VariableView
        The output, e.g. ``out.y``.

    Notes
    -----
    Subclasses define ``__call__(y, step, t)``: the loss at one step and its
    derivative by ``y``. Their C form, used by the learner inside the C++
    standalone binary, is ``c_arrays()`` (the data it reads) and
    ``c_code(arrays)`` (its statements).
    """

    def __init__(self, var):
        self.group, self.name = owner_of(var)
        self.n = len(self.group)

    @property
    def dimensions(self):
        """Brian2 dimensions of the loss (the squared output's for `MSE`)."""
        return DIMENSIONLESS

    @property
    def block(self):
        """``(group name, variable)``: the rows of the influence matrix it reads."""
        return (self.group.name, self.name)

    @property
    def blocks(self):
        """``(group name, variable)`` of every variable it reads, in the order of the
        derivatives `evaluate` returns (here: `block`)."""
        return (self.block,)

    @property
    def parts(self):
        """The losses the learner evaluates, each on its own variables (here: itself)."""
        return (self,)

    def __add__(self, other):
        return LossSum(self, other)

    def __repr__(self):
        return f"{type(self).__name__}({self.group.name}.{self.name})"

    def __call__(self, y, step, t):
        """
        Loss and its derivative at one step.

        Parameters
        ----------
        y : ndarray
            The output's values (``n``), in Brian2's base units.
        step : int
            The step of the trial (0 at the last `reset_state`).
        t : float
            The network time in seconds.

        Returns
        -------
        loss : float
        dloss : ndarray
            ``dL_t/dy``.
        """
        raise NotImplementedError(f"{type(self).__name__} defines no __call__.")

    def set_trial(self, values):
        """
        Point the loss at one trial's data (`StepObserver.trials` with
        ``data``): `MSE` and `ExpressionLoss` take a target, `CrossEntropy`
        labels; a sum of losses a tuple with one entry per part (None: that
        part keeps its data).
        """
        raise NotImplementedError(f"{type(self).__name__} takes no per-trial data.")

    def evaluate(self, values, step, t):
        """
        Loss and its derivatives at one step, as the learner asks for them.

        Parameters
        ----------
        values : list of ndarray
            The values of each of `blocks` (``n`` each), in base units.
        step : int
        t : float
            As for ``__call__``, which this calls with the one variable a loss
            reads by default.

        Returns
        -------
        loss : float
        dlosses : list of ndarray
            ``dL_t/dx`` for each of `blocks`.
        """
        loss, dloss = self(values[0], step, t)
        return loss, [dloss]

    def c_arrays(self):
        """
        The data the C form reads, by name: 1-D float64 or int64 arrays.

        Their sizes are fixed when the learner is created; the values are
        written anew before each run.

        Raises
        ------
        NotCompilable
            When this loss has no C form (e.g. a `TimedArray` target).
        """
        return {}

    def c_code(self, arrays):
        """
        The C statements of one step.

        They read the output ``const double* _y`` (``n`` values) and the trial
        step ``const int64_t _step``, and write ``double _loss`` (starting at 0)
        and every entry of ``double _dloss[n]``; where the data has no entry for
        the step they set ``int _short = 1`` (the learner stops, as the numpy
        form's `IndexError` does). A loss of several `blocks` reads block ``j``
        as ``_y{j}`` and writes ``_dloss{j}`` (``_y`` and ``_dloss`` are block 0's).

        Parameters
        ----------
        arrays : dict
            The C pointer of each array of `c_arrays`, by name.

        Returns
        -------
        code : str
        """
        raise NotCompilable(f"the loss {type(self).__name__} (it has no C form; define "
                            f"c_code)")

    def _counts(self, step):
        """Whether the loss counts at ``step`` (its ``mask``, where it has one)."""
        mask = getattr(self, "mask", None)
        if mask is None:
            return True
        self._check_length("mask", len(mask), step)
        return bool(mask[step])

    def _mask_array(self):
        """The mask for the C form (empty without one)."""
        mask = getattr(self, "mask", None)
        return {"mask": np.ravel(np.ones(0) if mask is None else mask).astype(np.int64)}

    def _mask_keywords(self, arrays):
        mask = getattr(self, "mask", None)
        return {"mask": arrays["mask"], "mask_steps": 0 if mask is None else len(mask)}

    def _check_length(self, what, length, step):
        if step >= length:
            raise IndexError(
                f"{type(self).__name__} on '{self.group.name}.{self.name}': {what} has "
                f"{length} steps but step {step} of the trial was reached; call "
                f"reset_state() at the start of each trial or give a longer {what}.")


class MSE(Loss):
    """
    ``L_t = 0.5 * sum_k (y_k(t) - y*_k(t))**2``.

    Parameters
    ----------
    var : VariableView
        The output, e.g. ``out.y``.
    target : ndarray or TimedArray
        ``(steps, n)`` (or ``(steps,)`` for one neuron) indexed by trial step,
        or a `TimedArray` evaluated at ``t`` (values per neuron or shared).
    mask : array of bool, optional
        Steps on which the loss counts (e.g. the end of each trial, or a
        membrane potential fitted only between spikes); default: every step.
    """

    def __init__(self, var, target, mask=None):
        super().__init__(var)
        self.set_target(target)
        self.mask = _check_mask("MSE", mask)

    @property
    def dimensions(self):
        return self.group.variables[self.name].dim ** 2

    def set_target(self, target):
        """
        Use a new target from now on (e.g. for the next trial).

        Parameters
        ----------
        target : ndarray or TimedArray
            As in the constructor.
        """
        if isinstance(target, TimedArray):
            self.target = target
            return
        target = np.asarray(target, dtype=np.float64)
        if target.ndim == 1 and self.n == 1:
            target = target[:, None]
        if target.ndim != 2 or target.shape[1] != self.n:
            raise ValueError(
                f"MSE target for '{self.group.name}.{self.name}' must have shape "
                f"(steps, {self.n}), got {target.shape}.")
        if not np.all(np.isfinite(target)):
            raise ValueError(f"MSE target for '{self.group.name}.{self.name}' contains NaN "
                             f"or Inf.")
        self.target = target

    def set_trial(self, values):
        """One trial's target (`Loss.set_trial`)."""
        self.set_target(values)

    def target_at(self, step, t):
        """The target values at trial step ``step`` and time ``t`` (seconds)."""
        if isinstance(self.target, TimedArray):
            values = np.asarray(self.target(t * second, np.arange(self.n))
                                if self.target.values.ndim == 2 else self.target(t * second))
            return np.broadcast_to(values.astype(np.float64), (self.n,))
        self._check_length("target", len(self.target), step)
        return self.target[step]

    def __call__(self, y, step, t):
        if not self._counts(step):
            return 0.0, np.zeros(self.n)
        error = y - self.target_at(step, t)
        return 0.5 * float(error @ error), error

    def c_arrays(self):
        if isinstance(self.target, TimedArray):
            raise NotCompilable("a TimedArray target (give the MSE target as a (steps, n) "
                                "array)")
        return {"target": np.ravel(self.target).astype(np.float64), **self._mask_array()}

    #: The C form of one unit's loss and its derivative, of ``_loss_y`` and ``_loss_target``.
    _c = {"value": "0.5 * (_loss_y - _loss_target) * (_loss_y - _loss_target)",
          "derivative": "_loss_y - _loss_target"}

    def c_code(self, arrays):
        return render("loss_per_unit", n=self.n, steps=len(self.target),
                      target=arrays["target"], inputs=[("_loss_y", "_y")],
                      value=self._c["value"], derivatives=[("_dloss", self._c["derivative"])],
                      **self._mask_keywords(arrays))


class ExpressionLoss(MSE):
    """
    ``L_t = sum_k f(y_k(t), ..., target_k(t))`` for ``f`` a Brian2 expression.

    ``f`` reads the output, its target, and any other state variables of the
    output's group (``a`` in ``'(y - target)**2 + 0.1*a**2'``); the loss has a
    derivative by each, so the learner reads each one's rows of the influence
    matrix. ``f`` is differentiated symbolically (sympy, as the network's
    equations are); its numpy form serves the runtime learner, its C form the
    learner inside the C++ standalone binary.

    Parameters
    ----------
    var : VariableView
        The output, e.g. ``out.y``, whose target ``target`` is; the expression
        names it by its name.
    expression : str
        ``f`` in Brian2's syntax, in terms of the group's variables and
        ``target``, e.g. ``'log(cosh(y - target))'`` or
        ``'(v - target)**2 / mV**2'``; units are checked as Brian2 checks
        equations.
    target, mask
        As for `MSE`.

    Examples
    --------
    >>> loss = ExpressionLoss(out.y, "log(cosh(y - target))", target)  # doctest: +SKIP
    """

    def __init__(self, var, expression, target, mask=None):
        super().__init__(var, target, mask)
        self.expression = expression
        where = f"ExpressionLoss on '{self.group.name}.{self.name}'"
        target_variable = Constant("target", 0.0, dimensions=self.group.variables[self.name].dim)
        # names resolve as in the group's own code: its variables, Brian2's functions and units
        resolved = self.group.resolve_all(get_identifiers(expression), run_namespace={},
                                          additional_variables={"target": target_variable})
        self._dimensions = get_dimensions(parse_expression_dimensions(expression, resolved))
        constants = {name: sympy.Float(float(variable.get_value()))
                     for name, variable in resolved.items()
                     if isinstance(variable, Constant) and name != "target"}
        per_unit = [name for name, variable in resolved.items()
                    if name not in constants and name not in (self.name, "target")
                    and not isinstance(variable, Function)]
        others = sorted(name for name in per_unit
                        if self.group.variables.get(name) is None
                        or self.group.variables[name].scalar or name in ("i", "t", "dt", "N"))
        if others:
            raise ValueError(f"{where}: '{expression}' reads {', '.join(others)}; it may use "
                             f"the group's per-neuron variables, 'target', units, numbers "
                             f"and functions only.")
        #: The variables it reads: the output first, then the others named in ``f``.
        self.names = (self.name,) + tuple(sorted(per_unit))
        code = SymbolicCode(lambda name: False, set(self.names) | {"target"}, "loss")
        value = code.differentiable(substitute(to_sympy(expression), constants))
        if code.frozen:
            raise ValueError(f"{where}: '{expression}' has a piecewise-constant part "
                             f"({code.frozen[0].expression}) whose derivative is zero almost "
                             f"everywhere; write the loss without it.")
        symbols = [sympy.Symbol(name, real=True) for name in self.names]
        t = sympy.Symbol("target", real=True)
        derivatives = [sympy.diff(value, symbol) for symbol in symbols]
        c_names = {symbol: sympy.Symbol(f"_loss_{j}", real=True)
                   for j, symbol in enumerate(symbols)}
        c_names[t] = sympy.Symbol("_loss_target", real=True)
        printer = CPrinter()
        self._c = {"value": printer.doprint(value.xreplace(c_names)),
                   "derivatives": [printer.doprint(d.xreplace(c_names)) for d in derivatives]}
        self._value = sympy.lambdify(symbols + [t], value, modules=NUMPY_MODULES)
        self._derivatives = [sympy.lambdify(symbols + [t], d, modules=NUMPY_MODULES)
                             for d in derivatives]

    @property
    def dimensions(self):
        return self._dimensions

    @property
    def blocks(self):
        return tuple((self.group.name, name) for name in self.names)

    def evaluate(self, values, step, t):
        if not self._counts(step):
            return 0.0, [np.zeros(self.n) for _ in self.names]
        arguments = list(values) + [self.target_at(step, t)]
        value = np.broadcast_to(self._value(*arguments), (self.n,))
        return float(np.sum(value)), [
            np.array(np.broadcast_to(derivative(*arguments), (self.n,)), dtype=np.float64)
            for derivative in self._derivatives]

    def __call__(self, y, step, t):
        if len(self.names) > 1:
            raise TypeError(f"{self!r} reads {', '.join(self.names)}: call evaluate() with "
                            f"the values of each.")
        loss, (dloss,) = self.evaluate([y], step, t)
        return loss, dloss

    def c_code(self, arrays):
        return render("loss_per_unit", n=self.n, steps=len(self.target),
                      target=arrays["target"], value=self._c["value"],
                      inputs=[(f"_loss_{j}", f"_y{j}") for j in range(len(self.names))],
                      derivatives=[(f"_dloss{j}", derivative)
                                   for j, derivative in enumerate(self._c["derivatives"])],
                      **self._mask_keywords(arrays))

    def __repr__(self):
        return f"ExpressionLoss({self.group.name}.{self.name}, {self.expression!r})"


class CrossEntropy(Loss):
    """
    Softmax cross-entropy over the group's neurons, on masked steps.

    ``L_t = -log softmax(y(t))[label(t)]`` where ``mask(t)``.

    Parameters
    ----------
    var : VariableView
        The logits, e.g. ``out.y``.
    labels : int or array of int
        One label for the whole trial, or one per trial step.
    mask : array of bool, optional
        Steps on which the loss counts; default: every step.
    """

    def __init__(self, var, labels, mask=None):
        super().__init__(var)
        self.set_labels(labels)
        self.mask = _check_mask("CrossEntropy", mask)

    def set_labels(self, labels):
        """
        Use new labels from now on (e.g. for the next trial).

        Parameters
        ----------
        labels : int or array of int
        """
        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"CrossEntropy labels must be integers, got dtype {labels.dtype}.")
        if labels.size and (labels.min() < 0 or labels.max() >= self.n):
            raise ValueError(f"CrossEntropy labels must lie in [0, {self.n}) for "
                             f"'{self.group.name}' with {self.n} neurons.")
        self.labels = labels

    def set_trial(self, values):
        """One trial's labels (`Loss.set_trial`)."""
        self.set_labels(values)

    def __call__(self, y, step, t):
        """Loss and ``dL_t/dy`` at one step (zero off the mask)."""
        if not self._counts(step):
            return 0.0, np.zeros(self.n)
        if self.labels.ndim:
            self._check_length("labels", len(self.labels), step)
            label = int(self.labels[step])
        else:
            label = int(self.labels)
        shifted = y - np.max(y)
        probabilities = np.exp(shifted) / np.sum(np.exp(shifted))
        dloss = probabilities.copy()
        dloss[label] -= 1.0
        return float(-np.log(probabilities[label])), dloss

    def c_arrays(self):
        return {"labels": np.ravel(self.labels).astype(np.int64), **self._mask_array()}

    def c_code(self, arrays):
        return render("loss_cross_entropy", n=self.n, labels=arrays["labels"],
                      label_steps=len(self.labels) if self.labels.ndim else 0,
                      **self._mask_keywords(arrays))


class _Regularizer(Loss):
    """
    A regulariser on a variable of the learned group, weighted: the weight
    (finite, positive) may carry units, which make its sum with a task's
    loss dimensionally right; ``power``: of the variable's units in it.
    """

    power = 1

    def __init__(self, var, weight):
        super().__init__(var)
        self.weight = float(weight)
        self._weight_dimensions = get_dimensions(weight)
        if not (np.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"{type(self).__name__} on '{self.group.name}.{self.name}': "
                             f"'weight' must be finite and positive, got {weight}.")

    @property
    def dimensions(self):
        return self._weight_dimensions * self.group.variables[self.name].dim ** self.power


class RateRegularizer(_Regularizer):
    """
    ``L_t = weight/2 * sum_j (r_j(t) - target)**2``: keeps a rate near a target.

    The firing-rate regulariser of e-prop (Bellec et al. 2020), online: ``r`` is
    a variable of the learned group that follows its firing rate, e.g.
    ``dr/dt = -r / (100*ms) : Hz`` with ``r += 1/(100*ms)`` in the reset (the
    reset is differentiated through the spike, so the rate is). Add it to the
    task's loss: ``MSE(out.y, target) + RateRegularizer(rec.r, 10*Hz, weight)``.

    Parameters
    ----------
    var : VariableView
        The rate variable, e.g. ``rec.r``.
    target : float or Quantity
        The rate it is kept near, in ``var``'s units.
    weight : float or Quantity, optional
        Its weight. Added to another loss, the two must have the same
        dimensions: give ``weight`` the units that make it so (for an MSE on a
        unitless output and a rate in Hz, ``weight`` in ``second**2``).
    """

    power = 2

    def __init__(self, var, target, weight=1.0):
        super().__init__(var, weight)
        dimensions = self.group.variables[self.name].dim
        if get_dimensions(target) is not dimensions and np.asarray(target).item() != 0:
            raise DimensionMismatchError(
                f"RateRegularizer on '{self.group.name}.{self.name}': the target must have the "
                f"variable's units", get_dimensions(target), dimensions)
        self.target = float(target)
        if not np.isfinite(self.target):
            raise ValueError(f"RateRegularizer on '{self.group.name}.{self.name}': 'target' "
                             f"must be finite, got {target}.")

    def __call__(self, y, step, t):
        error = y - self.target
        return 0.5 * self.weight * float(error @ error), self.weight * error

    def c_code(self, arrays):
        return render("loss_rate_regularizer", n=self.n, target=self.target,
                      weight=self.weight)


class ActivityRegularizer(_Regularizer):
    """
    ``L_t = weight * mean_j a_j(t)``: pushes a measure of activity down.

    The activity regulariser of the EGRU papers (Subramoney et al. 2023; the
    ``gamma`` and ``alpha`` terms of their reference code), online: ``a`` is a
    variable of the learned group that is 1 at a step the unit sent an event
    and 0 otherwise (`rtrl_brian.models.egru` with ``events=True``: ``event = 0``
    at the start of every step, ``event = 1`` in the reset), or the unit's
    state itself (``rec.c``: pushes it down, away from the threshold). An event
    variable set in the reset is differentiated through the spike, i.e. through
    the surrogate: every unit inside the surrogate's support is pushed below
    it, which is what makes RTRL cheaper (activity sparsity). With
    ``detach_reset=True`` the reset is not differentiated and the regulariser
    on events has no gradient.

    Parameters
    ----------
    var : VariableView
        The activity variable, e.g. ``rec.event``.
    weight : float or Quantity
        Its weight (positive). Added to another loss, the two must have the
        same dimensions: give ``weight`` the units that make it so.
    """

    def __call__(self, y, step, t):
        scale = self.weight / self.n  # as the C form: the sum, then scaled
        return float(np.sum(y)) * scale, np.full(self.n, scale)

    def c_code(self, arrays):
        return render("loss_activity_regularizer", n=self.n, weight=self.weight)

    def __repr__(self):
        return f"ActivityRegularizer({self.group.name}.{self.name}, weight={self.weight:g})"


class LossSum(Loss):
    """
    The sum of losses, each on its own variable (``loss_a + loss_b``).

    Parameters
    ----------
    *losses : Loss
        Of the same dimensions, on groups of one clock.
    """

    def __init__(self, *losses):
        self._parts = tuple(part for loss in losses for part in loss.parts)
        first = self._parts[0]
        for part in self._parts[1:]:
            if part.dimensions is not first.dimensions:
                raise DimensionMismatchError(
                    f"Cannot add {part!r} to {first!r}: their dimensions differ (give the "
                    f"regulariser a weight with units)", part.dimensions, first.dimensions)
            if float(part.group.clock.dt_) != float(first.group.clock.dt_):
                raise ValueError(f"Cannot add {part!r} to {first!r}: their groups run on "
                                 f"clocks of different time steps.")
        #: The first loss's group: its clock and time are the learner's.
        self.group, self.name, self.n = first.group, first.name, first.n

    @property
    def parts(self):
        return self._parts

    @property
    def dimensions(self):
        return self._parts[0].dimensions

    @property
    def block(self):
        raise AttributeError("A LossSum reads several variables: see its parts.")

    def set_trial(self, values):
        """One entry per part, None for a part that keeps its data (`Loss.set_trial`)."""
        for part, part_values in per_part(self, values):
            part.set_trial(part_values)

    def __repr__(self):
        return " + ".join(repr(part) for part in self._parts)


def per_part(loss, values):
    """
    ``(part, values)`` for each part of ``loss`` that ``values`` (one trial's
    data, `Loss.set_trial`) gives data for.
    """
    if len(loss.parts) == 1:
        return [(loss.parts[0], values)]
    if not isinstance(values, (tuple, list)) or len(values) != len(loss.parts):
        raise ValueError(f"{loss!r} has {len(loss.parts)} parts: give each trial's data as a "
                         f"tuple with one entry per part (None: no data for it).")
    return [(part, part_values) for part, part_values in zip(loss.parts, values)
            if part_values is not None]


def _check_mask(owner, mask):
    """``mask`` as a 1-D bool array, or None."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 1:
        raise ValueError(f"{owner} mask must be 1-D (steps,), got shape {mask.shape}.")
    return mask
