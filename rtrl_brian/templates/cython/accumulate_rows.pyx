{# rtrl_brian: the sparse engine's row kernel (rtrl_brian.kernels.CythonKernels);
   compiled with OpenMP where the compiler has it. #}
#cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# OpenMP: {{ openmp }}
from cython.parallel cimport prange

ctypedef fused real:
    float
    double

def accumulate_rows(real[:, ::1] S, const double[::1] scale, const Py_ssize_t[::1] targets,
                    const Py_ssize_t[::1] indptr, const Py_ssize_t[::1] sources,
                    const double[::1] weights, const size_t[::1] source_addresses,
                    Py_ssize_t block, int threads):
    # Source row j starts at address source_addresses[j] (rows of S, of spike-row
    # stores or of copies, all of S's dtype and C-contiguous): nothing is gathered.
    # Column blocks keep the sources' block in cache while every receiving row adds
    # its entries to its own block; within a row, sources are taken four at a time so
    # that the receiving row is read and written once per four sources. Threads take
    # whole blocks: every column sees the same arithmetic for any number of threads.
    cdef Py_ssize_t b, t, k, c, row, start, stop, end
    cdef Py_ssize_t n_columns = S.shape[1]
    cdef Py_ssize_t n_blocks = (n_columns + block - 1) // block
    cdef real w0, w1, w2, w3
    cdef real* target_row
    cdef const real* s0
    cdef const real* s1
    cdef const real* s2
    cdef const real* s3
    for b in prange(n_blocks, nogil=True, num_threads=threads, schedule="static"):
        start = b * block
        stop = start + block if start + block < n_columns else n_columns
        for t in range(targets.shape[0]):
            row = targets[t]
            target_row = &S[row, 0]
            k = indptr[t]
            end = indptr[t + 1]
            while k + 4 <= end:
                w0 = <real>(weights[k] / scale[row])
                w1 = <real>(weights[k + 1] / scale[row])
                w2 = <real>(weights[k + 2] / scale[row])
                w3 = <real>(weights[k + 3] / scale[row])
                s0 = <const real*> source_addresses[sources[k]]
                s1 = <const real*> source_addresses[sources[k + 1]]
                s2 = <const real*> source_addresses[sources[k + 2]]
                s3 = <const real*> source_addresses[sources[k + 3]]
                for c in range(start, stop):
                    target_row[c] += w0 * s0[c] + w1 * s1[c] + w2 * s2[c] + w3 * s3[c]
                k = k + 4
            while k < end:
                w0 = <real>(weights[k] / scale[row])
                s0 = <const real*> source_addresses[sources[k]]
                for c in range(start, stop):
                    target_row[c] += w0 * s0[c]
                k = k + 1
