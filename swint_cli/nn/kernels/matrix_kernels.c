/* oneDNN calls safe from signals: GEMMs, single and batched, through a BLAS-style GEMM
 * function, and runs of oneDNN primitives (convolutions and their reorders); and the small
 * batched products that are faster without oneDNN.
 *
 * The GEMM is oneDNN's dnnl_sgemm or dnnl_gemm_bf16bf16f32 (row-major, C = alpha op(A) op(B)
 * + beta C), passed in as a pointer by swint_cli/nn/kernels/onednn.py. oneDNN shares this
 * library's OpenMP runtime (Paddle's libiomp5): called outside a parallel region a GEMM runs
 * on the runtime's threads, called inside one it runs on the calling thread.
 *
 * Signals: oneDNN's generated f32 GEMM kernels (before oneDNN's fix for its issue #4845,
 * so in the oneDNN of every Paddle wheel to date) point the stack pointer into a heap buffer
 * while they run, and a signal handled on a thread running one writes its frame into the
 * heap: "corrupted size vs. prev_size" some time later, or a crash elsewhere. Python handles
 * every signal in its main thread, timers and Ctrl-C and SIGTERM and a data loader's SIGCHLD
 * included, so each call here runs with the asynchronous signals blocked, on the calling
 * thread for the call (they are delivered when it returns) and on the runtime's worker
 * threads for good (they never handle one).
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef int (*gemm_fn)(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha,
                       const void *a, int64_t lda, const void *b, int64_t ldb, float beta,
                       float *c, int64_t ldc);

/* Every signal but those a fault raises on the faulting thread itself. */
static void asynchronous_signals(sigset_t *set) {
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    sigfillset(set);
    for (unsigned i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        sigdelset(set, synchronous[i]);
}

static _Thread_local int worker_blocks_signals;

/* Blocks the asynchronous signals on the calling thread (returning its previous mask in
 * `previous`) and, once each, on the worker threads of a `threads`-wide team. */
static void block_signals(int threads, sigset_t *previous) {
    sigset_t set;
    asynchronous_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, previous);
#ifdef _OPENMP
    if (omp_get_max_threads() > threads) threads = omp_get_max_threads();
#pragma omp parallel num_threads(threads)
    if (omp_get_thread_num() != 0 && !worker_blocks_signals) {
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        worker_blocks_signals = 1;
    }
#else
    (void)threads;
#endif
}

/* C = alpha * op(A) @ op(B) + beta * C, one GEMM on oneDNN's threads. Returns oneDNN's
 * status (0: success). */
int swint_gemm(void *function, char transa, char transb, int64_t m, int64_t n, int64_t k,
               float alpha, const void *a, int64_t lda, const void *b, int64_t ldb, float beta,
               float *c, int64_t ldc, int threads) {
    sigset_t previous;
    block_signals(threads, &previous);
    int status = ((gemm_fn)function)(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    return status;
}

#ifdef __AVX512F__
#include <immintrin.h>

/* Small products computed here rather than by oneDNN: the attention's per-window GEMMs
 * (49x49 by 49x32 and their transposes), where a oneDNN call costs about as much as the
 * arithmetic. c = op(a) @ b with op(a)[r][d] = a[r * a_row + d * a_col] (so a transposed
 * costs nothing), b's rows read in place, c's rows of up to 64 floats held in `vectors`
 * 16-wide registers (the last one masked) for `rows` rows at a time. */
static inline __attribute__((always_inline)) void small_tile(
    int rows, int vectors, const float *a, int64_t a_row, int64_t a_col, const float *b,
    int64_t ldb, float *c, int64_t ldc, int64_t k, __mmask16 last) {
    __m512 acc[4][4], bv[4];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) acc[r][v] = _mm512_setzero_ps();
    for (int64_t d = 0; d < k; d++) {
        for (int v = 0; v < vectors; v++)
            bv[v] = v == vectors - 1 ? _mm512_maskz_loadu_ps(last, b + d * ldb + 16 * v)
                                     : _mm512_loadu_ps(b + d * ldb + 16 * v);
        for (int r = 0; r < rows; r++) {
            __m512 ar = _mm512_set1_ps(a[r * a_row + d * a_col]);
            for (int v = 0; v < vectors; v++) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) {
            if (v == vectors - 1)
                _mm512_mask_storeu_ps(c + r * ldc + 16 * v, last, acc[r][v]);
            else
                _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
        }
}

/* small_tile over all m rows, four at a time, for a constant number of vectors. */
#define SMALL_ROWS(V)                                                                          \
    static void small_rows_##V(int64_t m, const float *a, int64_t a_row, int64_t a_col,        \
                               const float *b, int64_t ldb, float *c, int64_t ldc, int64_t k,  \
                               __mmask16 last) {                                               \
        int64_t r = 0;                                                                         \
        for (; r + 4 <= m; r += 4)                                                             \
            small_tile(4, V, a + r * a_row, a_row, a_col, b, ldb, c + r * ldc, ldc, k, last);  \
        for (; r < m; r++)                                                                     \
            small_tile(1, V, a + r * a_row, a_row, a_col, b, ldb, c + r * ldc, ldc, k, last);  \
    }
SMALL_ROWS(1)
SMALL_ROWS(2)
SMALL_ROWS(3)
SMALL_ROWS(4)

/* c (m x n, n <= 64) = op(a) @ b, see small_tile. */
static void small_product(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_row,
                          int64_t a_col, const float *b, int64_t ldb, float *c, int64_t ldc) {
    int vectors = (int)((n + 15) / 16);
    int tail = (int)(n - 16 * (vectors - 1)); /* 1..16 columns in the last vector */
    __mmask16 last = (__mmask16)(tail == 16 ? 0xFFFFu : (1u << tail) - 1u);
    switch (vectors) {
        case 1: small_rows_1(m, a, a_row, a_col, b, ldb, c, ldc, k, last); break;
        case 2: small_rows_2(m, a, a_row, a_col, b, ldb, c, ldc, k, last); break;
        case 3: small_rows_3(m, a, a_row, a_col, b, ldb, c, ldc, k, last); break;
        default: small_rows_4(m, a, a_row, a_col, b, ldb, c, ldc, k, last); break;
    }
}
#endif

/* For every (i, j) with i < outer, j < inner:
 *     C_ij = alpha * op(A_ij) @ op(B_ij) + beta * C_ij,
 * where matrix X_ij starts at element x + i * x_outer + j * x_inner (elements of
 * `element_size` bytes for a and b, floats for c) and its rows are ldx elements apart. The
 * strides let the matrices be heads inside a token-major tensor, or repeat one matrix (0).
 * The batch is split over `threads` threads. Float32 products with B not transposed, at
 * most 64 columns, alpha 1 and beta 0 are computed by small_product where the CPU has
 * AVX-512; the others by `function`. Returns 0, or a non-zero oneDNN status. */
int swint_batched_gemm(void *function, int64_t element_size, char transa, char transb,
                       int64_t outer, int64_t inner, int64_t m, int64_t n, int64_t k,
                       float alpha, const void *a, int64_t a_outer, int64_t a_inner,
                       int64_t lda, const void *b, int64_t b_outer, int64_t b_inner,
                       int64_t ldb, float beta, float *c, int64_t c_outer, int64_t c_inner,
                       int64_t ldc, int threads) {
    gemm_fn gemm = (gemm_fn)function;
    const char *a_bytes = (const char *)a, *b_bytes = (const char *)b;
    int status = 0;
#ifdef __AVX512F__
    if (element_size == 4 && transb == 'N' && n <= 64 && alpha == 1.0f && beta == 0.0f) {
        int64_t a_row = transa == 'T' ? 1 : lda, a_col = transa == 'T' ? lda : 1;
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
        for (int64_t i = 0; i < outer; i++)
            for (int64_t j = 0; j < inner; j++)
                small_product(m, n, k, (const float *)a + i * a_outer + j * a_inner, a_row, a_col,
                              (const float *)b + i * b_outer + j * b_inner, ldb,
                              c + i * c_outer + j * c_inner, ldc);
        return 0;
    }
#endif
    sigset_t previous;
    block_signals(threads, &previous);
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static) reduction(| : status)
    for (int64_t i = 0; i < outer; i++) {
        for (int64_t j = 0; j < inner; j++) {
            const void *a_ij = a_bytes + (i * a_outer + j * a_inner) * element_size;
            const void *b_ij = b_bytes + (i * b_outer + j * b_inner) * element_size;
            float *c_ij = c + i * c_outer + j * c_inner;
            status |= gemm(transa, transb, m, n, k, alpha, a_ij, lda, b_ij, ldb, beta, c_ij, ldc);
        }
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    return status;
}

typedef struct {
    int arg;      /* DNNL_ARG_* */
    void *memory; /* dnnl_memory_t */
} exec_arg;
typedef int (*execute_fn)(const void *primitive, void *stream, int nargs, const exec_arg *args);
typedef int (*wait_fn)(void *stream);

/* Runs `count` oneDNN primitives in order on `stream` (dnnl_primitive_execute, then
 * dnnl_stream_wait): primitive i takes the next arg_counts[i] entries of `args`. Stops at the
 * first failure. Returns 0, or the failing call's oneDNN status. */
int swint_run_primitives(void *execute, void *wait, void *stream, int64_t count,
                         void *const *primitives, const int *arg_counts, const exec_arg *args,
                         int threads) {
    int status = 0;
    sigset_t previous;
    block_signals(threads, &previous);
    for (int64_t i = 0; i < count && status == 0; i++) {
        status = ((execute_fn)execute)(primitives[i], stream, arg_counts[i], args);
        args += arg_counts[i];
    }
    if (status == 0) status = ((wait_fn)wait)(stream);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    return status;
}
