{# rtrl_brian: the compiled engine's module (rtrl_brian.engine.compiled): the plain-C
   step (c/rtrl_step.c), its tape, and the Python function that calls it without the
   GIL. Compiled with OpenMP where the compiler has it; `real`: the influence matrix's
   C type (double, or float for dtype=float32). #}
#cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# OpenMP: {{ openmp }}
cdef extern from *:
    """
#define RTRL_REAL {{ real }}
{{ c_step }}
    """
    ctypedef struct rtrl_tape:
        pass
    int rtrl_step(const size_t* addresses, const Py_ssize_t* strides, Py_ssize_t P,
                  {{ real }}* scratch, long long* counts, {{ real }}* M, double* scale,
                  const Py_ssize_t* column_of, rtrl_tape* tape, int threads) noexcept nogil
    int rtrl_threads_used(Py_ssize_t P, int threads) noexcept nogil
    rtrl_tape* rtrl_tape_new() noexcept nogil
    void rtrl_tape_free(rtrl_tape* tape) noexcept nogil

cdef class Tape:
    """The row operations of one step (reused from step to step)."""
    cdef rtrl_tape* tape

    def __cinit__(self):
        self.tape = rtrl_tape_new()
        if self.tape is NULL:
            raise MemoryError()

    def __dealloc__(self):
        rtrl_tape_free(self.tape)


def threads_used(Py_ssize_t n_columns, int threads):
    """The threads a step over ``n_columns`` columns uses when ``threads`` are asked for."""
    return rtrl_threads_used(n_columns, threads)


def step(const size_t[::1] addresses, const Py_ssize_t[::1] strides, Py_ssize_t n_columns,
         {{ real }}[::1] scratch, long long[::1] counts, {{ real }}[:, ::1] M, double[::1] scale,
         const Py_ssize_t[::1] column_of, Tape tape, int threads):
    # n_slots = {{ n_slots }}
    cdef int failed
    with nogil:
        failed = rtrl_step(&addresses[0], &strides[0], n_columns, &scratch[0], &counts[0],
                           &M[0, 0], &scale[0], &column_of[0], tape.tape, threads)
    if failed:
        raise MemoryError("rtrl_brian: no memory for the learning step's tape")
