"""
Surrogate (pseudo-)derivatives of the spike nonlinearity.

In derivatives the spike ``z = H(x)`` is replaced by ``dz/dx = psi(x)``, where
``x = lhs - rhs`` of the threshold condition. A bounded support makes units
outside it silent for learning: the source of activity sparsity.
"""

import numpy as np

__all__ = ["Triangle"]


class Triangle:
    """
    ``psi(x) = gain * max(0, 1 - |x| / width)``.

    Parameters
    ----------
    width : float or Quantity
        Half-width of the support, in the units of the threshold variable
        (e.g. ``0.5`` for a unitless ``v``, ``5*mV`` for a voltage).
    gain : float
        Peak value at ``x = 0``.

    Examples
    --------
    >>> psi = Triangle(width=1.0, gain=0.3)
    >>> psi(np.array([0.0, 0.5, 2.0]))
    array([0.3 , 0.15, 0.  ])
    """

    def __init__(self, width=1.0, gain=0.3):
        width, gain = float(width), float(gain)
        if not np.isfinite(width) or width <= 0:
            raise ValueError(f"Triangle surrogate: 'width' must be a positive number, got {width}.")
        if not np.isfinite(gain) or gain <= 0:
            raise ValueError(f"Triangle surrogate: 'gain' must be a positive number, got {gain}.")
        self.width = width
        self.gain = gain

    def __call__(self, x):
        return self.gain * np.maximum(0.0, 1.0 - np.abs(x) / self.width)

    def __repr__(self):
        return f"Triangle(width={self.width!r}, gain={self.gain!r})"
