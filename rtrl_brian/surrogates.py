"""
Surrogate (pseudo-)derivatives of the spike nonlinearity.

In derivatives the spike ``z = H(x)`` is replaced by ``dz/dx = psi(x)``, where
``x = lhs - rhs`` of the threshold condition. Every surrogate here is
``psi(x) = gain * shape(x / width)`` with ``shape(0) = 1``: ``gain`` is its peak
and ``width`` its scale, in the units of the threshold variable. A bounded
support (`Triangle`, `Rectangular`) makes units outside it silent for learning:
the source of activity sparsity. The others are non-zero almost everywhere
(`Exponential` and `Gaussian` underflow to zero far from the threshold), which
keeps every unit coupled: exact all the same, but without activity sparsity.

A new surrogate is one class: derive from `Surrogate` and give ``shape`` (numpy)
and ``c_shape`` (the same as a C expression); every engine, and the learner
inside Brian2's C++ standalone binary, then use it.
"""

import numpy as np

__all__ = ["Surrogate", "Triangle", "Rectangular", "FastSigmoid", "ArcTan", "Sigmoid",
           "Exponential", "Gaussian", "SURROGATES", "surrogate_named"]


class Surrogate:
    """
    Base class: ``psi(x) = gain * shape(x / width)``.

    Parameters
    ----------
    width : float or Quantity
        Scale of ``x``, in the units of the threshold variable (e.g. ``0.5``
        for a unitless ``v``, ``5*mV`` for a voltage).
    gain : float or Quantity
        Peak value at ``x = 0`` (in the inverse units of ``width`` for a
        derivative in the threshold variable's units, e.g. ``0.3/(5*mV)``).

    Notes
    -----
    Subclasses define ``shape(u)``, a numpy function of ``u = x / width``
    with ``shape(0) = 1``, and ``c_shape(u)``, returning the same as a C
    expression of the C expression ``u`` (double precision, ``<math.h>``).
    Write both with the same operations in the same order: the compiled
    engine's gradients then equal the numpy engines' to rounding.
    ``support`` is the half-width of the region where ``shape`` is non-zero
    (``inf`` when unbounded).
    """

    #: Half-width of the non-zero region of ``shape`` in units of ``width``.
    support = np.inf

    def __init__(self, width=1.0, gain=0.3):
        name = type(self).__name__
        width, gain = float(width), float(gain)
        if not np.isfinite(width) or width <= 0:
            raise ValueError(f"{name} surrogate: 'width' must be a positive number, got {width}.")
        if not np.isfinite(gain) or gain <= 0:
            raise ValueError(f"{name} surrogate: 'gain' must be a positive number, got {gain}.")
        self.width = width
        self.gain = gain

    def shape(self, u):
        """The surrogate's shape at ``u = x / width`` (numpy), 1 at 0."""
        raise NotImplementedError(f"{type(self).__name__} defines no shape(u).")

    def c_shape(self, u):
        """The C expression of ``shape`` at the C expression ``u``."""
        raise NotImplementedError(f"{type(self).__name__} has no C form (define c_shape).")

    def __call__(self, x):
        return self.gain * self.shape(np.asarray(x, dtype=np.float64) / self.width)

    def c_expression(self, x):
        """
        ``psi`` as a C expression.

        Parameters
        ----------
        x : str
            A C expression of type double: the surrogate's argument.

        Returns
        -------
        expression : str
        """
        return f"({self.gain!r} * ({self.c_shape(f'(({x}) / {self.width!r})')}))"

    @property
    def bounded(self):
        """Whether ``psi`` is zero outside a bounded interval (activity sparsity)."""
        return bool(np.isfinite(self.support))

    def __repr__(self):
        return f"{type(self).__name__}(width={self.width!r}, gain={self.gain!r})"


class Triangle(Surrogate):
    """
    ``psi(x) = gain * max(0, 1 - |x| / width)`` (Bellec et al. 2018).

    Examples
    --------
    >>> psi = Triangle(width=1.0, gain=0.3)
    >>> psi(np.array([0.0, 0.5, 2.0]))
    array([0.3 , 0.15, 0.  ])
    """

    support = 1.0

    def shape(self, u):
        return np.maximum(0.0, 1.0 - np.abs(u))

    def c_shape(self, u):
        return f"fmax(0.0, 1.0 - fabs({u}))"


class Rectangular(Surrogate):
    """
    ``psi(x) = gain`` where ``|x| < width``, else 0: the boxcar, or
    straight-through estimator.

    Examples
    --------
    >>> Rectangular(width=0.5, gain=1.0)(np.array([0.0, 0.4, 0.5]))
    array([1., 1., 0.])
    """

    support = 1.0

    def shape(self, u):
        return (np.abs(u) < 1.0).astype(np.float64)

    def c_shape(self, u):
        return f"(fabs({u}) < 1.0 ? 1.0 : 0.0)"


class FastSigmoid(Surrogate):
    """
    ``psi(x) = gain / (1 + |x| / width)**2``: SuperSpike's fast sigmoid
    (Zenke & Ganguli 2018; their steepness ``beta`` is ``1 / width``).

    Examples
    --------
    >>> FastSigmoid(width=1.0, gain=1.0)(np.array([0.0, 1.0, -3.0]))
    array([1.    , 0.25  , 0.0625])
    """

    def shape(self, u):
        denominator = 1.0 + np.abs(u)
        return 1.0 / (denominator * denominator)

    def c_shape(self, u):
        return f"1.0 / ((1.0 + fabs({u})) * (1.0 + fabs({u})))"


class ArcTan(Surrogate):
    """
    ``psi(x) = gain / (1 + (x / width)**2)``: the derivative of an arctangent
    step (Fang et al. 2021 use ``width = 2 / (pi * alpha)``, ``gain = alpha / 2``).

    Examples
    --------
    >>> ArcTan(width=1.0, gain=1.0)(np.array([0.0, 1.0, -2.0]))
    array([1. , 0.5, 0.2])
    """

    def shape(self, u):
        return 1.0 / (1.0 + u * u)

    def c_shape(self, u):
        return f"1.0 / (1.0 + ({u}) * ({u}))"


class Sigmoid(Surrogate):
    """
    ``psi(x) = gain * 4 s (1 - s)`` with ``s = 1 / (1 + exp(-x / width))``:
    the logistic function's derivative, scaled to peak at ``gain``.

    Computed as ``4 exp(-|u|) / (1 + exp(-|u|))**2``, which never overflows.

    Examples
    --------
    >>> Sigmoid(width=1.0, gain=1.0)(np.array([0.0, 1000.0])).round(12)
    array([1., 0.])
    """

    def shape(self, u):
        decay = np.exp(-np.abs(u))
        return 4.0 * decay / ((1.0 + decay) * (1.0 + decay))

    def c_shape(self, u):
        decay = f"exp(-fabs({u}))"
        return f"4.0 * {decay} / ((1.0 + {decay}) * (1.0 + {decay}))"


class Exponential(Surrogate):
    """
    ``psi(x) = gain * exp(-|x| / width)`` (Shrestha & Orchard 2018, SLAYER).

    Examples
    --------
    >>> Exponential(width=1.0, gain=1.0)(np.array([0.0, -1.0])).round(6)
    array([1.      , 0.367879])
    """

    def shape(self, u):
        return np.exp(-np.abs(u))

    def c_shape(self, u):
        return f"exp(-fabs({u}))"


class Gaussian(Surrogate):
    """
    ``psi(x) = gain * exp(-(x / width)**2 / 2)`` (Yin et al. 2021).

    Examples
    --------
    >>> Gaussian(width=1.0, gain=1.0)(np.array([0.0, 2.0])).round(6)
    array([1.      , 0.135335])
    """

    def shape(self, u):
        return np.exp(-0.5 * (u * u))

    def c_shape(self, u):
        return f"exp(-0.5 * (({u}) * ({u})))"


#: The library's surrogates by the names ``rtrl-brian train --surrogate`` takes.
SURROGATES = {"triangle": Triangle, "rectangular": Rectangular, "fast_sigmoid": FastSigmoid,
              "arctan": ArcTan, "sigmoid": Sigmoid, "exponential": Exponential,
              "gaussian": Gaussian}


def surrogate_named(name, like, width=None):
    """
    The surrogate called ``name`` (a key of `SURROGATES`) with the width and gain of
    the surrogate ``like`` (``width``: this width instead).

    Examples
    --------
    >>> surrogate_named("gaussian", Triangle(width=0.5, gain=0.3))
    Gaussian(width=0.5, gain=0.3)
    """
    if name not in SURROGATES:
        raise ValueError(f"Unknown surrogate {name!r}; choose one of {', '.join(SURROGATES)}.")
    return SURROGATES[name](width=like.width if width is None else width, gain=like.gain)
