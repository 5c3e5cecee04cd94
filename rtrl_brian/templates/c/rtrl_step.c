{# rtrl_brian: the learning step in plain C (rtrl_brian.codegen.StepProgram renders it
   with the step's body). The compiled engine wraps it in a Cython module
   (cython/rtrl_step.pyx), the C++ standalone binary includes it
   (cpp_standalone/rtrl_learn.cpp). Py_ssize_t is Python's signed size type;
   standalone code defines it as ptrdiff_t. #}
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#define D(k) ((double*) addresses[k])
#define S(k) (strides[k])
#define A(k) ((unsigned char*) addresses[k])
#define I(k) ((const Py_ssize_t*) addresses[k])
#define P32(k) ((const int32_t*) addresses[k])
#define C(k) ((long long*) addresses[k])
/* the influence matrix's entries (and the scratch rows'): float where the learner asks
   for dtype=float32; coefficients, scales and the replay stay double */
#ifndef RTRL_REAL
#define RTRL_REAL double
#endif
/* a lazily scaled row is rewritten when its scale leaves [1/limit, limit]: within the
   range of the entries' type either way */
#define RTRL_SCALE_LIMIT (sizeof(RTRL_REAL) == sizeof(float) ? 1e15 : 1e100)

/* The step runs in two phases. The first (the generated body) replays the network,
   evaluates the Jacobian coefficients and keeps the row scales: it touches no column of
   the influence matrix but records every row operation on a tape. The second applies
   the tape to the columns; columns are independent, so threads take contiguous column
   ranges and every column sees the same operations in the same order whatever the
   number of threads: results are bitwise identical for any thread count. */

/* row r of the influence matrix is scale[r] * M[place[r]]; scale 0: the row is zero.
   Rows r < 0 are temporary rows (RTRL_TEMPORARY(j) is temporary row j): the first ones
   scratch rows of the generated step (RTRL_SCRATCH), then the step's spike rows (each
   unit in the surrogate's support or spiking takes the next one). A temporary row lives
   within one step: the second phase holds it for one column block at a time, in the
   cache, and never stores it in the influence matrix. */
#define RTRL_TEMPORARY(j) (-1 - (Py_ssize_t) (j))
#define RTRL_SCRATCH(j) RTRL_TEMPORARY(j)

enum { RTRL_SET, RTRL_AXPY, RTRL_ZERO, RTRL_SCALE, RTRL_ADD, RTRL_COPY };

typedef struct {
    int kind;
    Py_ssize_t dst, src, column;
    double a;
} rtrl_entry;

typedef struct rtrl_tape {
    rtrl_entry* entries;
    Py_ssize_t size, capacity;
    /* where each row of the influence matrix is stored: the row of M of a state
       variable's row; a temporary row (< 0) for a spike row, placed anew every step */
    Py_ssize_t* place;
    Py_ssize_t n_scratch;  /* the generated step's scratch rows, the first temporary ones */
    Py_ssize_t n_spike_rows;  /* spike rows placed this step (temporary rows after those) */
    int failed;  /* an allocation failed: the step's result is incomplete */
    /* per thread, room for every temporary row over one column block (at most a
       thread's columns): rows of temporary_width entries, capacity entries in all */
    RTRL_REAL** temporaries;
    Py_ssize_t n_temporaries, temporaries_capacity, temporary_width;
    /* room to group entries by row (rtrl_group_by_row) */
    rtrl_entry* grouped;
    Py_ssize_t grouped_capacity;
    Py_ssize_t* buckets;
    Py_ssize_t buckets_capacity;
} rtrl_tape;

/* an empty tape (NULL when there is no memory) */
static rtrl_tape* rtrl_tape_new(void) {
    return (rtrl_tape*) calloc(1, sizeof(rtrl_tape));
}

static void rtrl_record(rtrl_tape* tape, int kind, Py_ssize_t dst, Py_ssize_t src,
                        Py_ssize_t column, double a) {
    if (tape->size == tape->capacity) {
        const Py_ssize_t capacity = tape->capacity > 0 ? 2 * tape->capacity : 1024;
        rtrl_entry* grown = (rtrl_entry*) realloc(tape->entries, capacity * sizeof(rtrl_entry));
        if (grown == NULL) { tape->failed = 1; return; }
        tape->entries = grown;
        tape->capacity = capacity;
    }
    rtrl_entry* entry = tape->entries + tape->size++;
    if (dst >= 0) dst = tape->place[dst];  /* rows < 0 are scratch rows */
    if (src >= 0) src = tape->place[src];
    entry->kind = kind; entry->dst = dst; entry->src = src; entry->column = column;
    entry->a = a;
}

/* the tape and its memory, released */
static void rtrl_tape_free(rtrl_tape* tape) {
    if (tape != NULL) {
        free(tape->entries); free(tape->grouped); free(tape->buckets);
        for (Py_ssize_t k = 0; k < tape->n_temporaries; k++) free(tape->temporaries[k]);
        free(tape->temporaries);
    }
    free(tape);
}

/* the temporary row that spike row r takes this step */
static inline void rtrl_place_spike_row(rtrl_tape* tape, Py_ssize_t r) {
    tape->place[r] = RTRL_TEMPORARY(tape->n_scratch + tape->n_spike_rows++);
}

/* room for n items of size bytes at *buffer (capacity in items); 0 when there is none */
static int rtrl_reserve(void** buffer, Py_ssize_t* capacity, Py_ssize_t n, size_t size) {
    if (n <= *capacity) return 1;
    void* grown = realloc(*buffer, n * size);
    if (grown == NULL) return 0;
    *buffer = grown;
    *capacity = n;
    return 1;
}

/* The entries from `start` on, stably grouped by the row they write and, per row, zeroing
   first, then row additions, then single entries (a counting sort). A synaptic pathway's
   entries commute: they add to postsynaptic rows that no entry of the pathway reads.
   Grouped, the second phase passes over each receiving row once for several sources. */
static inline Py_ssize_t rtrl_group_key(const rtrl_entry* e, Py_ssize_t low) {
    return 3 * (e->dst - low) + (e->kind == RTRL_ZERO ? 0 : (e->kind == RTRL_ADD ? 2 : 1));
}

static void rtrl_group_by_row(rtrl_tape* tape, Py_ssize_t start) {
    const Py_ssize_t n = tape->size - start;
    if (n < 2 || tape->failed) return;
    rtrl_entry* entries = tape->entries + start;
    Py_ssize_t low = entries[0].dst, high = entries[0].dst;
    for (Py_ssize_t k = 1; k < n; k++) {
        if (entries[k].dst < low) low = entries[k].dst;
        if (entries[k].dst > high) high = entries[k].dst;
    }
    const Py_ssize_t keys = 3 * (high - low + 1);
    if (!rtrl_reserve((void**) &tape->grouped, &tape->grouped_capacity, n, sizeof(rtrl_entry))
        || !rtrl_reserve((void**) &tape->buckets, &tape->buckets_capacity, keys + 1,
                         sizeof(Py_ssize_t))) {
        tape->failed = 1;
        return;
    }
    Py_ssize_t* next = tape->buckets;
    memset(next, 0, (keys + 1) * sizeof(Py_ssize_t));
    for (Py_ssize_t k = 0; k < n; k++) next[rtrl_group_key(entries + k, low) + 1] += 1;
    for (Py_ssize_t r = 0; r < keys; r++) next[r + 1] += next[r];
    for (Py_ssize_t k = 0; k < n; k++)
        tape->grouped[next[rtrl_group_key(entries + k, low)]++] = entries[k];
    memcpy(entries, tape->grouped, n * sizeof(rtrl_entry));
}

/* dst (+)= a * src over P columns; counts[0]: multiply-adds, counts[1]: values moved */
static inline void rtrl_axpy(rtrl_tape* tape, Py_ssize_t dst, Py_ssize_t src, double a,
                             Py_ssize_t P, int accumulate, long long* counts) {
    rtrl_record(tape, accumulate ? RTRL_AXPY : RTRL_SET, dst, src, 0, a);
    counts[0] += P; counts[1] += 2 * P;
}

/* row r times a, lazily: the row is rewritten only when its scale leaves a safe range */
static inline void rtrl_rescale(rtrl_tape* tape, double* scale, Py_ssize_t r, double a,
                                Py_ssize_t P, long long* counts) {
    scale[r] *= a;
    counts[0] += 1;
    const double size = fabs(scale[r]);
    if (size != 0.0 && (size < 1.0 / RTRL_SCALE_LIMIT || size > RTRL_SCALE_LIMIT)) {
        rtrl_record(tape, RTRL_SCALE, r, 0, 0, scale[r]);
        scale[r] = 1.0;
        counts[0] += P; counts[1] += 2 * P;
    }
}

/* row (or scratch row) r = 0 */
static inline void rtrl_zero(rtrl_tape* tape, Py_ssize_t r, Py_ssize_t P, long long* counts) {
    rtrl_record(tape, RTRL_ZERO, r, 0, 0, 0.0);
    counts[1] += P;
}

/* a zero row is cleared (scale 1) before something is added to it */
static inline void rtrl_ensure(rtrl_tape* tape, double* scale, Py_ssize_t r, Py_ssize_t P,
                               long long* counts) {
    if (scale[r] == 0.0) { rtrl_zero(tape, r, P, counts); scale[r] = 1.0; }
}

/* row (or scratch row) r, entry column, += value */
static inline void rtrl_add_entry(rtrl_tape* tape, Py_ssize_t r, Py_ssize_t column,
                                  double value, long long* counts) {
    rtrl_record(tape, RTRL_ADD, r, 0, column, value);
    counts[0] += 1;
}

/* M[r][column] += d, for a parameter that has a column (column >= 0) */
static inline void rtrl_add(rtrl_tape* tape, double* scale, Py_ssize_t r, Py_ssize_t column,
                            double d, Py_ssize_t P, long long* counts) {
    if (d == 0.0 || column < 0) return;
    rtrl_ensure(tape, scale, r, P, counts);
    rtrl_add_entry(tape, r, column, d / scale[r], counts);
}

/* row dst = row src */
static inline void rtrl_copy(rtrl_tape* tape, Py_ssize_t dst, Py_ssize_t src, Py_ssize_t P,
                             long long* counts) {
    rtrl_record(tape, RTRL_COPY, dst, src, 0, 0.0);
    counts[1] += P;
}

/* -- the second phase -- */

/* Columns per block: a block of the rows an element touches stays in the first-level
   cache between the operations on it. */
#define RTRL_BLOCK 1024

/* columns [start, start + RTRL_BLOCK) of row r: in M, or the block of a temporary row */
static inline RTRL_REAL* rtrl_row(RTRL_REAL* M, RTRL_REAL* temporary, Py_ssize_t width,
                                  Py_ssize_t r, Py_ssize_t P, Py_ssize_t start) {
    return r >= 0 ? M + r * P + start : temporary + (-1 - r) * width;
}

/* the tape on columns [c0, c1); `temporary`: room for the temporary rows over one block */
static void rtrl_apply(const rtrl_tape* tape, RTRL_REAL* M, RTRL_REAL* temporary,
                       Py_ssize_t P, Py_ssize_t c0, Py_ssize_t c1) {
    const Py_ssize_t width = tape->temporary_width;
    for (Py_ssize_t start = c0; start < c1; start += RTRL_BLOCK) {
        const Py_ssize_t n = start + RTRL_BLOCK < c1 ? RTRL_BLOCK : c1 - start;
        for (Py_ssize_t k = 0; k < tape->size; k++) {
            const rtrl_entry* e = tape->entries + k;
            RTRL_REAL* dst = rtrl_row(M, temporary, width, e->dst, P, start);
            const RTRL_REAL* src = rtrl_row(M, temporary, width, e->src, P, start);
            const RTRL_REAL a = (RTRL_REAL) e->a;
            switch (e->kind) {
            case RTRL_SET:
                for (Py_ssize_t c = 0; c < n; c++) dst[c] = a * src[c];
                break;
            case RTRL_AXPY: {
                /* up to four sources of the same row in one pass over it */
                Py_ssize_t m = 1;
                while (m < 4 && k + m < tape->size && e[m].kind == RTRL_AXPY &&
                       e[m].dst == e->dst) m++;
                if (m == 4) {
                    const RTRL_REAL *s1 = rtrl_row(M, temporary, width, e[1].src, P, start),
                                    *s2 = rtrl_row(M, temporary, width, e[2].src, P, start),
                                    *s3 = rtrl_row(M, temporary, width, e[3].src, P, start);
                    const RTRL_REAL a1 = (RTRL_REAL) e[1].a, a2 = (RTRL_REAL) e[2].a,
                                    a3 = (RTRL_REAL) e[3].a;
                    for (Py_ssize_t c = 0; c < n; c++)
                        dst[c] += a * src[c] + a1 * s1[c] + a2 * s2[c] + a3 * s3[c];
                } else if (m == 3) {
                    const RTRL_REAL *s1 = rtrl_row(M, temporary, width, e[1].src, P, start),
                                    *s2 = rtrl_row(M, temporary, width, e[2].src, P, start);
                    const RTRL_REAL a1 = (RTRL_REAL) e[1].a, a2 = (RTRL_REAL) e[2].a;
                    for (Py_ssize_t c = 0; c < n; c++)
                        dst[c] += a * src[c] + a1 * s1[c] + a2 * s2[c];
                } else if (m == 2) {
                    const RTRL_REAL* s1 = rtrl_row(M, temporary, width, e[1].src, P, start);
                    const RTRL_REAL a1 = (RTRL_REAL) e[1].a;
                    for (Py_ssize_t c = 0; c < n; c++)
                        dst[c] += a * src[c] + a1 * s1[c];
                } else {
                    for (Py_ssize_t c = 0; c < n; c++) dst[c] += a * src[c];
                }
                k += m - 1;
                break;
            }
            case RTRL_ZERO:
                memset(dst, 0, n * sizeof(RTRL_REAL));
                break;
            case RTRL_SCALE:
                for (Py_ssize_t c = 0; c < n; c++) dst[c] *= a;
                break;
            case RTRL_ADD:
                if (e->column >= start && e->column < start + n) dst[e->column - start] += a;
                break;
            case RTRL_COPY:
                memcpy(dst, src, n * sizeof(RTRL_REAL));
                break;
            }
        }
    }
}

/* first column of thread k of n: ranges start on multiples of 8 columns */
static inline Py_ssize_t rtrl_split(Py_ssize_t P, int n, int k) {
    if (k >= n) return P;
    const Py_ssize_t c = (P * k / n + 7) / 8 * 8;
    return c < P ? c : P;
}

/* Columns per thread below which a second thread does not pay for itself. */
#define RTRL_MIN_COLUMNS_PER_THREAD 256

/* The threads the second phase uses for P columns when threads are asked for. */
static int rtrl_threads_used(Py_ssize_t P, int threads) {
#ifdef _OPENMP
    const Py_ssize_t most = P / RTRL_MIN_COLUMNS_PER_THREAD;
    if (threads > most) threads = (int) most;
    return threads > 1 ? threads : 1;
#else
    (void) P; (void) threads;
    return 1;
#endif
}

/* room for the step's temporary rows over one column block of the P columns, for each of
   `threads` threads (kept from step to step, grown as needed); 0 when there is no memory */
static int rtrl_reserve_temporaries(rtrl_tape* tape, Py_ssize_t P, int threads) {
    Py_ssize_t width = 1;  /* the widest block a thread takes */
    for (int k = 0; k < threads; k++) {
        const Py_ssize_t c = rtrl_split(P, threads, k + 1) - rtrl_split(P, threads, k);
        if (c > width) width = c;
    }
    if (width > RTRL_BLOCK) width = RTRL_BLOCK;
    tape->temporary_width = width;
    const Py_ssize_t entries = (tape->n_scratch + tape->n_spike_rows) * width;
    if (threads > tape->n_temporaries) {
        RTRL_REAL** grown = (RTRL_REAL**) realloc(tape->temporaries, threads * sizeof(RTRL_REAL*));
        if (grown == NULL) return 0;
        tape->temporaries = grown;
        for (Py_ssize_t k = tape->n_temporaries; k < threads; k++) tape->temporaries[k] = NULL;
        tape->n_temporaries = threads;
        tape->temporaries_capacity = 0;  /* the new threads' rooms are grown below */
    }
    if (entries <= tape->temporaries_capacity) return 1;
    for (Py_ssize_t k = 0; k < tape->n_temporaries; k++) {
        free(tape->temporaries[k]);
        tape->temporaries[k] = (RTRL_REAL*) malloc(entries * sizeof(RTRL_REAL));
        if (tape->temporaries[k] == NULL) { tape->temporaries_capacity = 0; return 0; }
    }
    tape->temporaries_capacity = entries;
    return 1;
}

static int rtrl_apply_threaded(rtrl_tape* tape, RTRL_REAL* M, Py_ssize_t P, int threads) {
    threads = rtrl_threads_used(P, threads);
    if (!rtrl_reserve_temporaries(tape, P, threads)) return 0;
#ifdef _OPENMP
    if (threads > 1) {
        #pragma omp parallel num_threads(threads)
        {
            /* column range j of `threads`, whatever number of threads OpenMP gives */
            const int n = omp_get_num_threads(), k = omp_get_thread_num();
            for (int j = k; j < threads; j += n)
                rtrl_apply(tape, M, tape->temporaries[k], P, rtrl_split(P, threads, j),
                           rtrl_split(P, threads, j + 1));
        }
        return 1;
    }
#endif
    rtrl_apply(tape, M, tape->temporaries[0], P, 0, P);
    return 1;
}

/* Where the replayed values disagree with Brian2's (rtrl_brian.replay.replay_agrees): -1
   where they agree, else the first index that does not; *not_finite is set to 1 when
   Brian2's value there is not finite (one pass for the scale, one to compare). */
static Py_ssize_t rtrl_disagreement(const double* replayed, const double* actual,
                                    Py_ssize_t n, double rtol, int* not_finite) {
    double largest = 1.0;
    *not_finite = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!isfinite(actual[i])) {
            *not_finite = 1;
            return i;
        }
        if (fabs(actual[i]) > largest) largest = fabs(actual[i]);
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!(fabs(replayed[i] - actual[i]) <= rtol * (largest + fabs(actual[i])))) return i;
    return -1;
}

/* The step: returns 0, or 1 when memory for the tape ran out (the influence matrix is
   then incomplete). */
static int rtrl_step(const size_t* addresses, const Py_ssize_t* strides, Py_ssize_t P,
                     long long* counts, RTRL_REAL* M, double* scale,
                     const Py_ssize_t* column_of, rtrl_tape* tape, int threads) {
    tape->size = 0;
    tape->failed = 0;
    tape->place = (Py_ssize_t*) addresses[{{ place }}];
    tape->n_scratch = {{ n_scratch }};
    tape->n_spike_rows = 0;
{{ body }}
    if (tape->failed) return 1;
    if (!rtrl_apply_threaded(tape, M, P, threads)) return 1;
    /* spike rows are temporary: none outlives the step */
{{ spike_rows_end }}
    return 0;
}
