"""
Per-step records that cost 8 bytes a value and can be bounded for long runs.
"""

import numpy as np

__all__ = ["StepRecord"]


class StepRecord:
    """
    A float64 sequence that grows by `append`, read like a list or an array.

    Parameters
    ----------
    limit : int, optional
        Keep only the latest ``limit`` values (older ones are dropped, counted
        in `dropped`); default: keep everything.

    Examples
    --------
    >>> record = StepRecord(limit=3)
    >>> for value in range(5):
    ...     record.append(value)
    >>> record[:].tolist(), record.dropped
    ([2.0, 3.0, 4.0], 2)
    """

    def __init__(self, limit=None):
        if limit is not None and (int(limit) != limit or limit < 1):
            raise ValueError(f"'limit' must be a positive integer or None, got {limit!r}.")
        self.limit = None if limit is None else int(limit)
        self._values = np.empty(16)
        self._size = 0
        self._appended = 0

    def append(self, value):
        """Add one value at the end."""
        if self._size == len(self._values):
            if self.limit is not None and self._size >= 2 * self.limit:
                keep = self._values[self._size - self.limit:self._size].copy()
                self._values[:self.limit] = keep
                self._size = self.limit
            else:
                grown = np.empty(2 * len(self._values))
                grown[:self._size] = self._values[:self._size]
                self._values = grown
        self._values[self._size] = value
        self._size += 1
        self._appended += 1

    def extend(self, values):
        """Add ``values`` at the end, as as many `append` calls would (in one copy)."""
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        n = len(values)
        if self._size + n > len(self._values):
            if self.limit is not None and self._size + n > 2 * self.limit:
                kept = np.concatenate([self._view(), values])[-self.limit:]
                if len(self._values) < 2 * self.limit:
                    self._values = np.empty(2 * self.limit)
                self._values[:len(kept)] = kept
                self._size = len(kept)
                self._appended += n
                return
            grown = np.empty(max(2 * len(self._values), self._size + n))
            grown[:self._size] = self._values[:self._size]
            self._values = grown
        self._values[self._size:self._size + n] = values
        self._size += n
        self._appended += n

    @property
    def dropped(self):
        """How many values were dropped to respect `limit`."""
        return self._appended - len(self)

    def _view(self):
        start = self._size - self.limit if self.limit is not None and self._size > self.limit \
            else 0
        return self._values[start:self._size]

    def __len__(self):
        return len(self._view())

    def __getitem__(self, index):
        return self._view()[index]

    def __iter__(self):
        return iter(self._view().tolist())

    def __array__(self, dtype=None, copy=None):
        view = self._view()
        return view.astype(dtype) if dtype is not None else view.copy()

    def __eq__(self, other):
        return list(self) == list(other)

    def __repr__(self):
        return f"StepRecord({self._view().tolist()!r})"

    @property
    def nbytes(self):
        """Bytes held."""
        return self._values.nbytes
