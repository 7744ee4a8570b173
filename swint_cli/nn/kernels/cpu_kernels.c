/* Fused CPU kernels for SwinT's elementwise and row-wise work (float32, contiguous, row-major).
 *
 * Paddle's CPU kernels for these ops run on one thread and make one pass over memory per
 * elementary operation; each function here makes one or two passes on `threads` OpenMP
 * threads. Built by swint_cli/nn/kernels/build.py and called through ctypes from
 * swint_cli/nn/kernels/__init__.py; every function has a pure
 * Paddle equivalent in swint_cli/nn/functional.py that the tests compare it with.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef SWINT_VECTOR_MATH
/* glibc's libmvec has a vector expf; declaring it lets GCC vectorize the GELU and softmax
 * loops. */
#pragma omp declare simd notinbranch
extern float expf(float);
#endif

#define SQRT1_2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

/* Phi(v), the standard normal CDF, given e = exp(-v^2 / 2): 1 - erfc(z) / 2 or erfc(z) / 2
 * for z = |v| / sqrt(2), with erfc(z) = t P(t) exp(-z^2), t = 1 / (1 + p z), Abramowitz and
 * Stegun 7.1.26 (|error| <= 1.5e-7, about float32's resolution). It shares the exponential
 * with GELU's gradient and never forms 1 + erf(z), which cancels to 0 in the lower tail. */
static inline float normal_cdf(float v, float e) {
    float t = 1.0f / (1.0f + 0.3275911f * fabsf(v) * SQRT1_2);
    float poly = 1.061405429f; /* Horner: a5 t^4 + a4 t^3 + a3 t^2 + a2 t + a1 */
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    float half_erfc = 0.5f * t * poly * e;
    return v >= 0.0f ? 1.0f - half_erfc : half_erfc;
}

/* bfloat16(v), rounded to nearest even; NaNs stay (quiet) NaNs. */
static inline uint16_t to_bf16(float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    uint32_t nan = (bits >> 16) | 0x40u;
    return (uint16_t)((bits & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

/* x[r, c] += bias[c] in place. */
void swint_add_row_bias(float *x, const float *bias, int64_t rows, int64_t cols, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) row[c] += bias[c];
    }
}

/* out = a + b over n elements. */
void swint_add(const float *a, const float *b, float *out, int64_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* v = h[r, c] + bias[c] (bias may be NULL) and y = v * Phi(v), the exact GELU,
 * written as float32 to y, or as bfloat16 (rounded to nearest even) to y16 when that is
 * given instead; when grad is given, grad = GELU'(v) (for the backward pass; else h is
 * overwritten with v). */
void swint_bias_gelu(float *h, const float *bias, float *y, uint16_t *y16, float *grad,
                     int64_t rows, int64_t cols, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *hr = h + r * cols;
        float *yr = y16 ? NULL : y + r * cols;
        uint16_t *y16r = y16 ? y16 + r * cols : NULL;
        float *out = grad ? grad + r * cols : hr;
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) {
            float v = bias ? hr[c] + bias[c] : hr[c];
            float e = expf(-0.5f * v * v);
            float cdf = normal_cdf(v, e);
            if (y16r)
                y16r[c] = to_bf16(v * cdf);
            else
                yr[c] = v * cdf;
            out[c] = grad ? cdf + v * (INV_SQRT_2PI * e) : v;
        }
    }
}

/* Per-thread partial column sums, in double, of `threads` slices of rows, added into sums. */
static void add_partials(const double *partial, float *sums, int64_t cols, int threads) {
    for (int64_t c = 0; c < cols; c++) {
        double total = 0.0;
        for (int t = 0; t < threads; t++) total += partial[(size_t)t * cols + c];
        sums[c] = (float)total;
    }
}

/* One pass over the output gradient g (rows, cols) of a Linear layer: g = dy, or with scale
 * given, g = dy * scale (elementwise: GELU's gradient, before a fused GELU). Writes g as float32 (g32) and/or
 * bfloat16 (g16) where those are given, and its column sums (the bias gradient, summed in
 * double) into sums when given. */
void swint_output_grad(const float *dy, const float *scale, float *g32, uint16_t *g16,
                       float *sums, int64_t rows, int64_t cols, int threads) {
    double *partial = sums ? calloc((size_t)threads * cols, sizeof(double)) : NULL;
    /* without g32, a row of the scaled gradient needs somewhere to go */
    float *rows_g = scale && !g32 ? malloc((size_t)threads * cols * sizeof(float)) : NULL;
#pragma omp parallel num_threads(threads)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        double *acc = partial ? partial + (size_t)t * cols : NULL;
        float *row_g = rows_g ? rows_g + (size_t)t * cols : NULL;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *g = dy + r * cols;
            if (scale) { /* each case its own branch-free loop, so that each vectorizes */
                const float *sr = scale + r * cols;
                float *gr = g32 ? g32 + r * cols : row_g; /* written where it is wanted */
#pragma omp simd
                for (int64_t c = 0; c < cols; c++) gr[c] = g[c] * sr[c];
                g = gr;
            } else if (g32) {
                memcpy(g32 + r * cols, g, (size_t)cols * sizeof(float));
            }
            if (g16) {
                uint16_t *out = g16 + r * cols;
#pragma omp simd
                for (int64_t c = 0; c < cols; c++) out[c] = to_bf16(g[c]);
            }
            if (acc) {
#pragma omp simd
                for (int64_t c = 0; c < cols; c++) acc[c] += (double)g[c];
            }
        }
    }
    if (partial) {
        add_partials(partial, sums, cols, threads);
        free(partial);
    }
    free(rows_g);
}

/* y = bfloat16(x), rounded to nearest even; NaNs stay (quiet) NaNs. */
void swint_to_bf16(const float *x, uint16_t *y, int64_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = to_bf16(x[i]);
}

/* LayerNorm backward over rows of `cols`: dx (rows, cols), and dweight, dbias (cols,).
 * Recomputes each row's mean and 1/std from x; dweight and dbias are summed in double. */
void swint_layer_norm_backward(const float *x, const float *weight, const float *dy, float *dx,
                               float *dweight, float *dbias, int64_t rows, int64_t cols,
                               float epsilon, int threads) {
    double *partial = calloc((size_t)threads * 2 * cols, sizeof(double));
    float *normed_all = malloc((size_t)threads * cols * sizeof(float));
#pragma omp parallel num_threads(threads)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        double *dw = partial + (size_t)t * 2 * cols;
        double *db = dw + cols;
        float *normed = normed_all + (size_t)t * cols; /* this row's (x - mean) / std */
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * cols;
            const float *dyr = dy + r * cols;
            float *dxr = dx + r * cols;
            float mean = 0.0f, var = 0.0f;
#pragma omp simd reduction(+ : mean)
            for (int64_t c = 0; c < cols; c++) mean += xr[c];
            mean /= (float)cols;
#pragma omp simd reduction(+ : var)
            for (int64_t c = 0; c < cols; c++) {
                float d = xr[c] - mean;
                var += d * d;
            }
            float rstd = 1.0f / sqrtf(var / (float)cols + epsilon);
            float g_sum = 0.0f, gn_sum = 0.0f;
#pragma omp simd reduction(+ : g_sum, gn_sum)
            for (int64_t c = 0; c < cols; c++) {
                float n = (xr[c] - mean) * rstd;
                float g = dyr[c] * weight[c];
                normed[c] = n;
                g_sum += g;
                gn_sum += g * n;
                dw[c] += (double)(dyr[c] * n);
                db[c] += (double)dyr[c];
            }
            g_sum /= (float)cols;
            gn_sum /= (float)cols;
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                dxr[c] = rstd * (dyr[c] * weight[c] - g_sum - normed[c] * gn_sum);
        }
    }
    for (int64_t c = 0; c < cols; c++) {
        double w = 0.0, b = 0.0;
        for (int t = 0; t < threads; t++) {
            w += partial[(size_t)t * 2 * cols + c];
            b += partial[(size_t)t * 2 * cols + cols + c];
        }
        dweight[c] = (float)w;
        dbias[c] = (float)b;
    }
    free(normed_all);
    free(partial);
}

/* out = softmax(scores + bias (+ mask)) over rows of `len`, and out16 = bfloat16(out) when
 * out16 is given. scores and out are (batch, bias_size) and bias (bias_size,) repeats over the
 * batch; bias_size is a multiple of len. mask, when given, is (groups, len, len): item b adds
 * mask[b % groups] to each of its (len, len) blocks (the windows' shift mask, shared by the
 * heads). */
void swint_bias_softmax(const float *scores, const float *bias, const float *mask,
                        int64_t groups, float *out, uint16_t *out16, int64_t batch,
                        int64_t bias_size, int64_t len, int threads) {
    int64_t rows_per_item = bias_size / len;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < batch * rows_per_item; r++) {
        const float *s = scores + r * len;
        const float *b = bias + (r % rows_per_item) * len;
        float *o = out + r * len;
        if (mask) {
            int64_t item = r / rows_per_item, row = (r % rows_per_item) % len;
            const float *m = mask + ((item % groups) * len + row) * len;
#pragma omp simd
            for (int64_t i = 0; i < len; i++) o[i] = s[i] + b[i] + m[i];
        } else {
#pragma omp simd
            for (int64_t i = 0; i < len; i++) o[i] = s[i] + b[i];
        }
        float max = -INFINITY;
#pragma omp simd reduction(max : max)
        for (int64_t i = 0; i < len; i++) max = o[i] > max ? o[i] : max;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < len; i++) {
            o[i] = expf(o[i] - max);
            sum += o[i];
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int64_t i = 0; i < len; i++) o[i] *= inv;
        if (out16) {
            uint16_t *o16 = out16 + r * len;
#pragma omp simd
            for (int64_t i = 0; i < len; i++) o16[i] = to_bf16(o[i]);
        }
    }
}

/* ds = p * (dp - sum(dp * p)) over rows of `len`. */
void swint_softmax_backward(const float *p, const float *dp, float *ds, int64_t rows,
                            int64_t len, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *pr = p + r * len;
        const float *dpr = dp + r * len;
        float *dsr = ds + r * len;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t i = 0; i < len; i++) dot += pr[i] * dpr[i];
#pragma omp simd
        for (int64_t i = 0; i < len; i++) dsr[i] = pr[i] * (dpr[i] - dot);
    }
}

/* dst[b * dst_rows + r, :] = src[b * src_rows + index[r], :] for every image b < batch and
 * r < dst_rows, or zeros where index[r] < 0 (a row copy: window partition and its inverse). */
void swint_gather_rows(const float *src, float *dst, const int64_t *index, int64_t batch,
                       int64_t src_rows, int64_t dst_rows, int64_t cols, int threads) {
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t r = 0; r < dst_rows; r++) {
            float *out = dst + (b * dst_rows + r) * cols;
            int64_t from = index[r];
            if (from < 0) {
                memset(out, 0, (size_t)cols * sizeof(float));
            } else {
                memcpy(out, src + (b * src_rows + from) * cols, (size_t)cols * sizeof(float));
            }
        }
    }
}

#ifdef __AVX__
#include <immintrin.h>
/* The 8x8 block at in (rows in_stride apart) transposed into out (rows out_stride apart). */
static inline void transpose_8x8(const float *in, int64_t in_stride, float *out,
                                 int64_t out_stride) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(in + i * in_stride);
    for (int i = 0; i < 8; i += 2) { /* interleave row pairs */
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) { /* 4x4 blocks within each 128-bit lane */
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) { /* lanes: rows 0-3 take the low halves, rows 4-7 the high */
        _mm256_storeu_ps(out + i * out_stride, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(out + (i + 4) * out_stride,
                         _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}
#endif

/* dst[b, c, r] = src[b, r, c] for b < batch, r < rows, c < cols (the last two axes swapped),
 * in 32x32 tiles so that both sides are read and written in cache lines, and within a tile
 * in 8x8 register blocks where the CPU has AVX (element by element at the ragged edges). */
void swint_swap_last_axes(const float *src, float *dst, int64_t batch, int64_t rows,
                          int64_t cols, int threads) {
    const int64_t tile = 32;
    int64_t row_tiles = (rows + tile - 1) / tile, col_tiles = (cols + tile - 1) / tile;
#pragma omp parallel for collapse(3) num_threads(threads) schedule(static)
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t rt = 0; rt < row_tiles; rt++) {
            for (int64_t ct = 0; ct < col_tiles; ct++) {
                const float *in = src + b * rows * cols;
                float *out = dst + b * rows * cols;
                int64_t r0 = rt * tile, c0 = ct * tile;
                int64_t r_end = r0 + tile < rows ? r0 + tile : rows;
                int64_t c_end = c0 + tile < cols ? c0 + tile : cols;
                /* whole blocks end here; the rest of the tile goes element by element */
                int64_t r_blocks = r0, c_blocks = c0;
#ifdef __AVX__
                r_blocks += (r_end - r0) / 8 * 8;
                c_blocks += (c_end - c0) / 8 * 8;
                for (int64_t r = r0; r < r_blocks; r += 8)
                    for (int64_t c = c0; c < c_blocks; c += 8)
                        transpose_8x8(in + r * cols + c, cols, out + c * rows + r, rows);
#endif
                for (int64_t c = c0; c < c_end; c++) {
                    int64_t r_start = c < c_blocks ? r_blocks : r0;
                    for (int64_t r = r_start; r < r_end; r++) out[c * rows + r] = in[r * cols + c];
                }
            }
        }
    }
}
