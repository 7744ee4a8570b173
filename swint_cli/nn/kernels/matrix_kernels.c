/* Batched GEMMs through a BLAS-style GEMM function.
 *
 * The GEMM is oneDNN's dnnl_sgemm or dnnl_gemm_bf16bf16f32 (row-major, C = alpha op(A) op(B)
 * + beta C), passed in as a pointer by swint_cli/nn/kernels/onednn.py. The batch is split over
 * `threads` OpenMP threads; oneDNN, sharing this OpenMP runtime, runs each GEMM called inside
 * the parallel region on the calling thread.
 */
#include <stdint.h>

typedef int (*gemm_fn)(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha,
                       const void *a, int64_t lda, const void *b, int64_t ldb, float beta,
                       float *c, int64_t ldc);

/* For every (i, j) with i < outer, j < inner:
 *     C_ij = alpha * op(A_ij) @ op(B_ij) + beta * C_ij,
 * where matrix X_ij starts at element x + i * x_outer + j * x_inner (elements of
 * `element_size` bytes for a and b, floats for c) and its rows are ldx elements apart. The
 * strides let the matrices be heads inside a token-major tensor, or repeat one matrix (0).
 * Returns 0, or a non-zero oneDNN status. */
int swint_batched_gemm(void *function, int64_t element_size, char transa, char transb,
                       int64_t outer, int64_t inner, int64_t m, int64_t n, int64_t k,
                       float alpha, const void *a, int64_t a_outer, int64_t a_inner,
                       int64_t lda, const void *b, int64_t b_outer, int64_t b_inner,
                       int64_t ldb, float beta, float *c, int64_t c_outer, int64_t c_inner,
                       int64_t ldc, int threads) {
    gemm_fn gemm = (gemm_fn)function;
    const char *a_bytes = (const char *)a, *b_bytes = (const char *)b;
    int status = 0;
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static) reduction(| : status)
    for (int64_t i = 0; i < outer; i++) {
        for (int64_t j = 0; j < inner; j++) {
            const void *a_ij = a_bytes + (i * a_outer + j * a_inner) * element_size;
            const void *b_ij = b_bytes + (i * b_outer + j * b_inner) * element_size;
            float *c_ij = c + i * c_outer + j * c_inner;
            status |= gemm(transa, transb, m, n, k, alpha, a_ij, lda, b_ij, ldb, beta, c_ij, ldc);
        }
    }
    return status;
}
