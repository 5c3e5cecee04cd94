{# rtrl_brian: the compiled engine's module (rtrl_brian.engine.compiled): the plain-C
   step (c/rtrl_step.c) and the Python function that calls it without the GIL. #}
#cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
cdef extern from *:
    """
{{ c_step }}
    """
    void rtrl_step(const size_t* addresses, const Py_ssize_t* strides, Py_ssize_t P,
                   double* scratch, long long* counts, double* M, double* scale,
                   const Py_ssize_t* column_of) noexcept nogil


def step(const size_t[::1] addresses, const Py_ssize_t[::1] strides, Py_ssize_t n_columns,
         double[::1] scratch, long long[::1] counts, double[:, ::1] M, double[::1] scale,
         const Py_ssize_t[::1] column_of):
    # n_slots = {{ n_slots }}
    with nogil:
        rtrl_step(&addresses[0], &strides[0], n_columns, &scratch[0], &counts[0], &M[0, 0],
                  &scale[0], &column_of[0])
