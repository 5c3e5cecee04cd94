{# rtrl_brian: the compiled engine's module (rtrl_brian.engine.compiled): the plain-C
   step (c/rtrl_step.c), its tape, and the Python function that calls it without the
   GIL; with `learn_c` (c/rtrl_learn.c) also the learner's whole step and the class
   Learning that calls it (rtrl_brian.fused). Compiled with OpenMP where the compiler
   has it; `real`: the influence matrix's C type (double, or float for dtype=float32). #}
#cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# OpenMP: {{ openmp }}
{% if learn_c %}
from libc.stdint cimport int64_t
{% endif %}

cdef extern from *:
    """
#define RTRL_REAL {{ real }}
{{ c_step }}
{% if learn_c %}
{{ learn_c }}
{% endif %}
    """
    ctypedef struct rtrl_tape:
        Py_ssize_t n_temporaries, temporaries_capacity
    int rtrl_step(const size_t* addresses, const Py_ssize_t* strides, Py_ssize_t P,
                  long long* counts, {{ real }}* M, double* scale, const Py_ssize_t* column_of,
                  rtrl_tape* tape, int threads) noexcept nogil
    int rtrl_threads_used(Py_ssize_t P, int threads) noexcept nogil
    rtrl_tape* rtrl_tape_new() noexcept nogil
    void rtrl_tape_free(rtrl_tape* tape) noexcept nogil
    Py_ssize_t rtrl_disagreement(const double* replayed, const double* actual, Py_ssize_t n,
                                 double rtol, int* not_finite) noexcept nogil
{% if learn_c %}
    int rtrl_learn(const size_t* arrays, const size_t* addresses, const Py_ssize_t* strides,
                   Py_ssize_t n_params, Py_ssize_t n_columns, int64_t dense_fixed,
                   int64_t* counters, int64_t data_trial, double* figures, rtrl_tape* tape,
                   int threads) noexcept nogil
    int RTRL_FIGURES
{% endif %}

cdef class Tape:
    """The row operations of one step (reused from step to step)."""
    cdef rtrl_tape* tape

    def __cinit__(self):
        self.tape = rtrl_tape_new()
        if self.tape is NULL:
            raise MemoryError()

    def __dealloc__(self):
        rtrl_tape_free(self.tape)

    @property
    def temporary_bytes(self):
        """Bytes held for the temporary rows (spike and scratch rows, one column block
        per thread)."""
        return self.tape.n_temporaries * self.tape.temporaries_capacity * sizeof({{ real }})


def threads_used(Py_ssize_t n_columns, int threads):
    """The threads a step over ``n_columns`` columns uses when ``threads`` are asked for."""
    return rtrl_threads_used(n_columns, threads)


def step(const size_t[::1] addresses, const Py_ssize_t[::1] strides, Py_ssize_t n_columns,
         long long[::1] counts, {{ real }}[:, ::1] M, double[::1] scale,
         const Py_ssize_t[::1] column_of, Tape tape, int threads):
    # n_slots = {{ n_slots }}
    cdef int failed
    with nogil:
        failed = rtrl_step(&addresses[0], &strides[0], n_columns, &counts[0], &M[0, 0],
                           &scale[0], &column_of[0], tape.tape, threads)
    if failed:
        raise MemoryError("rtrl_brian: no memory for the learning step's tape")


def add_loss_gradient({{ real }}[:, ::1] M, const double[::1] scale, const Py_ssize_t[::1] place,
                      Py_ssize_t first_row, const double[::1] dloss,
                      const Py_ssize_t[::1] columns, double[::1] grad):
    """
    ``grad[columns] += dloss @ (rows first_row... of the influence matrix)``, each
    row ``r`` being ``scale[r] * M[place[r]]`` (zero rows skipped). Returns the
    number of rows read.
    """
    cdef Py_ssize_t k, j, r, live = 0, n_columns = M.shape[1]
    cdef double weight
    cdef const {{ real }}* row
    if n_columns == 0:
        return 0
    with nogil:
        for k in range(dloss.shape[0]):
            r = first_row + k
            if scale[r] == 0.0:
                continue
            live += 1
            weight = dloss[k] * scale[r]
            row = &M[place[r], 0]
            for j in range(n_columns):
                grad[columns[j]] += weight * row[j]
    return live


def replay_agrees(const double[::1] replayed, const double[::1] actual, double rtol):
    """
    Whether ``actual`` is finite and equals ``replayed`` as
    `rtrl_brian.replay.replay_agrees` decides (one pass for the scale, one to compare).
    """
    if replayed.shape[0] != actual.shape[0]:
        return False
    if actual.shape[0] == 0:
        return True
    cdef int not_finite
    return rtrl_disagreement(&replayed[0], &actual[0], actual.shape[0], rtol, &not_finite) < 0
{% if learn_c %}


cdef class Learning:
    """
    The learner's whole step (`rtrl_brian.learnstep`), bound to its arrays for a run:
    ``arrays``, the learner's arrays' addresses; ``addresses`` and ``strides``, the
    step's slots; ``counters`` (int64, `rtrl_brian.learnstep.COUNTERS`); ``figures``,
    rows of the per-step figures (`rtrl_brian.learnstep.FIGURES`), one a step.
    """
    cdef const size_t[::1] arrays
    cdef const size_t[::1] addresses
    cdef const Py_ssize_t[::1] strides
    cdef int64_t[::1] counters
    cdef double[:, ::1] figures
    cdef Tape tape

    def __init__(self, const size_t[::1] arrays, const size_t[::1] addresses,
                 const Py_ssize_t[::1] strides, int64_t[::1] counters,
                 double[:, ::1] figures, Tape tape):
        if figures.shape[1] != RTRL_FIGURES:
            raise ValueError(f"figures must have {RTRL_FIGURES} columns")
        self.arrays, self.addresses, self.strides = arrays, addresses, strides
        self.counters, self.figures, self.tape = counters, figures, tape

    def step(self, Py_ssize_t n_params, Py_ssize_t n_columns, int64_t dense_fixed,
             int threads, int64_t step, int64_t steps_total, int64_t data_trial,
             Py_ssize_t row):
        """
        One step, its figures in row ``row``: 0, or the error (``counters`` say where).
        """
        cdef int result
        if not 0 <= row < self.figures.shape[0]:
            raise IndexError("no row left for the step's figures")
        self.counters[0] = step
        self.counters[1] = steps_total
        with nogil:
            result = rtrl_learn(&self.arrays[0], &self.addresses[0], &self.strides[0],
                                n_params, n_columns, dense_fixed, &self.counters[0],
                                data_trial, &self.figures[row, 0], self.tape.tape, threads)
        if result < 0:
            raise MemoryError("rtrl_brian: no memory for the learning step's tape")
        return result
{% endif %}
