"""Per-step records (rtrl_brian.history.StepRecord)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rtrl_brian.history import StepRecord


@settings(max_examples=60, deadline=None)
@given(limit=st.one_of(st.none(), st.integers(1, 40)),
       chunks=st.lists(st.integers(0, 90), max_size=8))
def test_extend_is_as_many_appends(limit, chunks):
    """Chunks of values added with extend read as the same values appended one by one:
    the same values, the same count of dropped ones."""
    one_by_one, chunked = StepRecord(limit), StepRecord(limit)
    start = 0
    for size in chunks:
        values = np.arange(start, start + size, dtype=float)
        start += size
        for value in values:
            one_by_one.append(value)
        chunked.extend(values)
        assert np.array_equal(chunked[:], one_by_one[:])
        assert chunked.dropped == one_by_one.dropped
