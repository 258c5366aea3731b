// A fused Gumbel-Softmax over float32 rows, for CuPy arrays (gumbelkit/backends/_cuda_fused.py
// compiles it with cupy.RawModule). The host-side contract is in that file's docstring.
//
// One block of GK_BLOCK threads per output row; output row r reads logits row r % n_logit_rows
// (sample dimensions come first).
//
// The noise has an exact upper tail (docs/mathematics.md#the-upper-tail-and-rare-classes), and
// it is the noise of gumbelkit's Triton kernel, drawn the same way from the same seed. Output
// element i (its flat index in the output) takes the words w0..w3 of Philox-4x32-10 at counter
// (lo(i), hi(i), 0, 0) under the key (lo(seed), hi(seed)), which is Triton's
// tl.randint4x(seed, i):
//
// 1. Body: k0 = w0 >> 9 (23 bits), u = (k0 + 1/2) 2**-23. Where k0 < 2**23 - 2**11 (u below the
//    sliver 1 - 2**-12) the noise is -log(-log(u)).
// 2. Sliver: there V = 1 - U is drawn afresh as V = 2**-(12 L) c_L. The level words x_1..x_7 are
//    w1, w2, w3 and the four words of Philox at counter (lo(i), hi(i), 1, 0), computed only
//    where levels 1..3 all stay in their sliver (probability 2**-36 per sliver draw);
//    c_L = ((x_L >> 9) + 1/2) 2**-23 (the complement of a uniform on the same grid, which is
//    symmetric), and L is the first level with x_L >> 9 >= 2**11 (c_L > 2**-12), or 7. The
//    power of two scales exactly: V >= 2**-84 2**-24 = 2**-108, above float32's smallest normal.
// 3. The noise there is -log(E), E = -log1p(-V) computed as V (1 + V (1/2 + V fl(1/3))): for
//    V <= 2**-12 the dropped terms are below 2**-38 relatively, far below float32's rounding.
//    Every operation is monotone in V, so the noise decreases with V.
//
// A draw lies in the sliver with probability 2**-12; each level holds V on a grid of relative
// spacing at most 2**-11, so P(noise > t) equals 1 - exp(-exp(-t)) to a relative 1e-3 up to
// t = 67 (tests/test_cuda_kernel.py sums the construction's atoms). The noise is finite: u lies
// in [2**-24, 1 - 2**-24] and the largest noise is -log(E) for V = 2**-108, about 74.9.
//
// - gumbel_softmax_cached<K> keeps a thread's K values of the row in registers: the row is read
//   once, for rows of at most K * GK_BLOCK classes.
// - gumbel_softmax_two_pass reads a longer row three times (its maximum, then two passes) and
//   regenerates the noise for the last pass from the same counters instead of storing it.
//
// z = (logits - shift) + noise: as in the composed path, a row whose maximum is finite and lies
// beyond 2**6 of 0 first loses that maximum (docs/numeric-contract.md, "Logits far from zero"),
// since logits + noise is rounded at the logits' magnitude (a spacing of 0.0625 at 1e6). Each
// thread keeps a running (maximum, sum of exp((z - maximum) / tau)) of z; the block merges these
// pairs in shared memory. A masked (-inf) logit gets probability 0; a row
// with a NaN, a +inf or no finite logit comes out all NaN.
//
// The same source compiles as host C++ under GK_HOST_EMULATION (tests/cuda_host_emulation.cpp,
// one std::thread per CUDA thread) so that its arithmetic is tested without a GPU. It therefore
// includes nothing and uses only what NVRTC and a host compiler both provide.

#ifndef GK_BLOCK
#define GK_BLOCK 256
#endif

#ifndef GK_HOST_EMULATION
#define GK_INF __int_as_float(0x7f800000)
#define GK_NAN __int_as_float(0x7fffffff)
#endif

static_assert((GK_BLOCK & (GK_BLOCK - 1)) == 0, "GK_BLOCK must be a power of two");

struct gk_words {
    unsigned int w0, w1, w2, w3;
};

// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
__device__ __forceinline__ gk_words gk_philox4x32_10(gk_words counter, unsigned int key0,
                                                      unsigned int key1) {
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        const unsigned int hi0 = __umulhi(0xD2511F53u, counter.w0);
        const unsigned int lo0 = 0xD2511F53u * counter.w0;
        const unsigned int hi1 = __umulhi(0xCD9E8D57u, counter.w2);
        const unsigned int lo1 = 0xCD9E8D57u * counter.w2;
        counter = gk_words{hi1 ^ counter.w1 ^ key0, lo1, hi0 ^ counter.w3 ^ key1, lo0};
        key0 += 0x9E3779B9u;
        key1 += 0xBB67AE85u;
    }
    return counter;
}

// The noise's constants: the body's grid indices k0 >= GK_SLIVER_START lie in the sliver
// u >= 1 - 2**-12, and a level holds V where its index is GK_LEVEL_LEAVES or more.
#define GK_SLIVER_START (8388608u - 2048u)
#define GK_LEVEL_LEAVES 2048u
#define GK_GRID 1.1920928955078125e-07f  // 2**-23, the grid spacing

// Whether a draw needs the level words x_4..x_7: its body word is in the sliver and levels
// 1..3 all stay in theirs.
__device__ __forceinline__ bool gk_needs_second_words(gk_words first) {
    return (first.w0 >> 9) >= GK_SLIVER_START && (first.w1 >> 9) < GK_LEVEL_LEAVES &&
           (first.w2 >> 9) < GK_LEVEL_LEAVES && (first.w3 >> 9) < GK_LEVEL_LEAVES;
}

// The noise from its eight Philox words: x[0] the body's, x[1..7] the levels' (the header's
// construction). x[4..7] are read only where gk_needs_second_words.
__device__ __forceinline__ float gk_noise_from_words(const unsigned int x[8]) {
    const unsigned int k0 = x[0] >> 9;
    float e;  // the exponential variable: the noise is -log(e)
    if (k0 < GK_SLIVER_START) {
        e = -logf(((float)k0 + 0.5f) * GK_GRID);
    } else {
        // From level 7 up to level 1, so that the first level that holds V is taken last.
        // V = (k + 1/2) 2**-23 2**-(12 L), exact: 24 bits times a power of two.
        float scale = GK_GRID * 5.169878828456423e-26f;  // level 7: 2**-23 2**-84
        float v = ((float)(x[7] >> 9) + 0.5f) * scale;
#pragma unroll
        for (int level = 6; level >= 1; --level) {
            scale *= 4096.0f;
            const unsigned int k = x[level] >> 9;
            if (k >= GK_LEVEL_LEAVES) {
                v = ((float)k + 0.5f) * scale;
            }
        }
        e = v * (1.0f + v * (0.5f + v * 0.333333343f));  // -log1p(-v); 0.333333343f = fl(1/3)
    }
    return -logf(e);
}

// The noise of output element `index`, given the first Philox block `first` of its counter.
__device__ __forceinline__ float gk_gumbel_given_first(gk_words first, unsigned long long seed,
                                                       unsigned long long index) {
    unsigned int x[8] = {first.w0, first.w1, first.w2, first.w3, 0u, 0u, 0u, 0u};
    if (gk_needs_second_words(first)) {  // probability 2**-48: warps all but never diverge here
        const gk_words second =
            gk_philox4x32_10(gk_words{(unsigned int)index, (unsigned int)(index >> 32), 1u, 0u},
                             (unsigned int)seed, (unsigned int)(seed >> 32));
        x[4] = second.w0;
        x[5] = second.w1;
        x[6] = second.w2;
        x[7] = second.w3;
    }
    return gk_noise_from_words(x);
}

// Standard Gumbel noise for the output element `index`.
__device__ __forceinline__ float gk_gumbel(unsigned long long seed, unsigned long long index) {
    const gk_words counter{(unsigned int)index, (unsigned int)(index >> 32), 0u, 0u};
    return gk_gumbel_given_first(
        gk_philox4x32_10(counter, (unsigned int)seed, (unsigned int)(seed >> 32)), seed, index);
}

// A thread's running maximum and sum of exp((z - maximum) / tau) over its values of z, and
// whether one was NaN. A -inf maximum has sum 0.
struct gk_running {
    float maximum;
    float sum;
    int has_nan;
};

// Merge (maximum, sum) into the running pair; exp(-inf) = 0 covers a -inf side and a tiny tau.
__device__ __forceinline__ void gk_merge(gk_running& running, float maximum, float sum,
                                         float tau) {
    if (maximum > running.maximum) {
        running.sum = running.sum * expf((running.maximum - maximum) / tau) + sum;
        running.maximum = maximum;
    } else if (maximum != -GK_INF) {
        running.sum += sum * expf((maximum - running.maximum) / tau);
    }
}

__device__ __forceinline__ void gk_add(gk_running& running, float z, float tau) {
    if (z != z) {
        running.has_nan = 1;
    } else {
        gk_merge(running, z, 1.0f, tau);
    }
}

// The row's maximum and sum, merged over the block in shared memory, and whether the row is
// invalid: a NaN, or a maximum that is not finite (+inf, or all -inf).
struct gk_row_total {
    float maximum;
    float sum;
    bool invalid;
};

__device__ __forceinline__ gk_row_total gk_block_total(gk_running running, float tau) {
    __shared__ float shared_max[GK_BLOCK];
    __shared__ float shared_sum[GK_BLOCK];
    __shared__ int shared_nan[GK_BLOCK];
    const unsigned int t = threadIdx.x;
    shared_max[t] = running.maximum;
    shared_sum[t] = running.sum;
    shared_nan[t] = running.has_nan;
    __syncthreads();
    for (unsigned int stride = GK_BLOCK / 2; stride > 0; stride >>= 1) {
        if (t < stride) {
            gk_running merged{shared_max[t], shared_sum[t], 0};
            gk_merge(merged, shared_max[t + stride], shared_sum[t + stride], tau);
            shared_max[t] = merged.maximum;
            shared_sum[t] = merged.sum;
            shared_nan[t] |= shared_nan[t + stride];
        }
        __syncthreads();
    }
    const float maximum = shared_max[0];
    return gk_row_total{maximum, shared_sum[0],
                        shared_nan[0] != 0 || !(maximum > -GK_INF && maximum < GK_INF)};
}

// The block's largest `value` (NaN ignored: a row with a NaN is NaN whatever its shift).
__device__ __forceinline__ float gk_block_max(float value) {
    __shared__ float shared_peak[GK_BLOCK];
    const unsigned int t = threadIdx.x;
    shared_peak[t] = value;
    __syncthreads();
    for (unsigned int stride = GK_BLOCK / 2; stride > 0; stride >>= 1) {
        if (t < stride) {
            shared_peak[t] = fmaxf(shared_peak[t], shared_peak[t + stride]);
        }
        __syncthreads();
    }
    return shared_peak[0];
}

// What a row loses before the noise is added, from its maximum `peak`: the maximum where it is
// finite and lies beyond 2**6 of 0, else 0.
__device__ __forceinline__ float gk_shift(float peak) {
    const float magnitude = fabsf(peak);
    return magnitude > 64.0f && magnitude < GK_INF ? peak : 0.0f;
}

template <int K>
__global__ void gumbel_softmax_cached(const float* __restrict__ logits, float* __restrict__ out,
                                      const long long* __restrict__ seed_ptr,
                                      float* __restrict__ noise_out, long long n_cols,
                                      long long n_logit_rows, float tau) {
    const long long row = blockIdx.x;
    const unsigned long long seed = (unsigned long long)seed_ptr[0];
    const float* x = logits + (row % n_logit_rows) * n_cols;
    const long long flat = row * n_cols;
    float z[K];
    float peak = -GK_INF;
#pragma unroll
    for (int k = 0; k < K; ++k) {
        const long long col = threadIdx.x + (long long)k * GK_BLOCK;
        z[k] = col < n_cols ? x[col] : -GK_INF;
        peak = fmaxf(peak, z[k]);
    }
    const float shift = gk_shift(gk_block_max(peak));
    gk_running running{-GK_INF, 0.0f, 0};
#pragma unroll
    for (int k = 0; k < K; ++k) {
        const long long col = threadIdx.x + (long long)k * GK_BLOCK;
        if (col < n_cols) {
            const float noise = gk_gumbel(seed, (unsigned long long)(flat + col));
            if (noise_out != nullptr) {
                noise_out[flat + col] = noise;
            }
            z[k] = (z[k] - shift) + noise;
            gk_add(running, z[k], tau);
        }
    }
    const gk_row_total total = gk_block_total(running, tau);
#pragma unroll
    for (int k = 0; k < K; ++k) {
        const long long col = threadIdx.x + (long long)k * GK_BLOCK;
        if (col < n_cols) {
            out[flat + col] =
                total.invalid ? GK_NAN : expf((z[k] - total.maximum) / tau) / total.sum;
        }
    }
}

__global__ void gumbel_softmax_two_pass(const float* __restrict__ logits,
                                        float* __restrict__ out,
                                        const long long* __restrict__ seed_ptr,
                                        float* __restrict__ noise_out, long long n_cols,
                                        long long n_logit_rows, float tau) {
    const unsigned long long seed = (unsigned long long)seed_ptr[0];
    const long long row = blockIdx.x;
    const long long flat = row * n_cols;
    const float* x = logits + (row % n_logit_rows) * n_cols;
    float peak = -GK_INF;
    for (long long col = threadIdx.x; col < n_cols; col += GK_BLOCK) {
        peak = fmaxf(peak, x[col]);
    }
    const float shift = gk_shift(gk_block_max(peak));
    gk_running running{-GK_INF, 0.0f, 0};
    for (long long col = threadIdx.x; col < n_cols; col += GK_BLOCK) {
        const float noise = gk_gumbel(seed, (unsigned long long)(flat + col));
        if (noise_out != nullptr) {
            noise_out[flat + col] = noise;
        }
        gk_add(running, (x[col] - shift) + noise, tau);
    }
    const gk_row_total total = gk_block_total(running, tau);
    for (long long col = threadIdx.x; col < n_cols; col += GK_BLOCK) {
        const float z = (x[col] - shift) + gk_gumbel(seed, (unsigned long long)(flat + col));
        out[flat + col] = total.invalid ? GK_NAN : expf((z - total.maximum) / tau) / total.sum;
    }
}
