{# rtrl_brian: the learning step in plain C (rtrl_brian.codegen.StepProgram renders it
   with the step's body). The compiled engine wraps it in a Cython module
   (cython/rtrl_step.pyx), the C++ standalone binary includes it
   (cpp_standalone/rtrl_learn.cpp). Py_ssize_t is Python's signed size type;
   standalone code defines it as ptrdiff_t. #}
#include <math.h>
#include <string.h>
#include <stdint.h>
#define D(k) ((double*) addresses[k])
#define S(k) (strides[k])
#define A(k) ((unsigned char*) addresses[k])
#define I(k) ((const Py_ssize_t*) addresses[k])
#define P32(k) ((const int32_t*) addresses[k])
#define C(k) ((long long*) addresses[k])

/* dst (+)= a * src over P columns; counts[0]: multiply-adds, counts[1]: values moved */
static inline void rtrl_axpy(double* dst, const double* src, double a, Py_ssize_t P,
                             int accumulate, long long* counts) {
    if (accumulate) { for (Py_ssize_t c = 0; c < P; c++) dst[c] += a * src[c]; }
    else { for (Py_ssize_t c = 0; c < P; c++) dst[c] = a * src[c]; }
    counts[0] += P; counts[1] += 2 * P;
}

/* row r of the influence matrix is scale[r] * M[r]; scale 0: the row is zero */

/* row r times a, lazily: the row is rewritten only when its scale leaves a safe range */
static inline void rtrl_rescale(double* M, double* scale, Py_ssize_t r, double a, Py_ssize_t P,
                                long long* counts) {
    scale[r] *= a;
    counts[0] += 1;
    const double size = fabs(scale[r]);
    if (size != 0.0 && (size < 1e-100 || size > 1e100)) {
        double* row = M + r * P;
        for (Py_ssize_t c = 0; c < P; c++) row[c] *= scale[r];
        scale[r] = 1.0;
        counts[0] += P; counts[1] += 2 * P;
    }
}

/* a zero row is cleared (scale 1) before something is added to it */
static inline void rtrl_ensure(double* M, double* scale, Py_ssize_t r, Py_ssize_t P,
                               long long* counts) {
    if (scale[r] == 0.0) { memset(M + r * P, 0, P * sizeof(double)); scale[r] = 1.0;
                           counts[1] += P; }
}

/* M[r][column] += d, for a parameter that has a column (column >= 0) */
static inline void rtrl_add(double* M, double* scale, Py_ssize_t r, Py_ssize_t column, double d,
                            Py_ssize_t P, long long* counts) {
    if (d == 0.0 || column < 0) return;
    rtrl_ensure(M, scale, r, P, counts);
    M[r * P + column] += d / scale[r];
    counts[0] += 1;
}

static void rtrl_step(const size_t* addresses, const Py_ssize_t* strides, Py_ssize_t P,
                      double* scratch, long long* counts, double* M, double* scale,
                      const Py_ssize_t* column_of) {
{{ body }}
}
