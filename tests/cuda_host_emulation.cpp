// Host emulation of gumbelkit/backends/_cuda_gumbel_softmax.cu, for tests/test_cuda_kernel.py.
//
// Each CUDA thread of a block is a std::thread, __syncthreads() is a std::barrier, and the blocks
// run one after another, so a function-local `static` array stands for __shared__ memory. The
// kernel source is included unchanged (GK_SOURCE names it); GK_BLOCK comes from the command line.
#include <barrier>
#include <cstring>
#include <limits>
#include <math.h>
#include <thread>
#include <vector>

#define GK_HOST_EMULATION 1
#define GK_INF std::numeric_limits<float>::infinity()
#define GK_NAN std::numeric_limits<float>::quiet_NaN()
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

namespace {
struct ThreadIndex {
    unsigned int x;
};
thread_local ThreadIndex threadIdx;
thread_local ThreadIndex blockIdx;
std::barrier<>* block_barrier = nullptr;

unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
}  // namespace

#define __syncthreads() block_barrier->arrive_and_wait()

#include GK_SOURCE

using Kernel = void (*)(const float*, float*, const long long*, float*, long long, long long,
                        float);

extern "C" {

// The four Philox-4x32-10 words of `counter` (4 words) under `key` (2 words).
void gk_philox(const unsigned int* counter, const unsigned int* key, unsigned int* out) {
    const gk_words words =
        gk_philox4x32_10(gk_words{counter[0], counter[1], counter[2], counter[3]}, key[0], key[1]);
    out[0] = words.w0;
    out[1] = words.w1;
    out[2] = words.w2;
    out[3] = words.w3;
}

// The noise of n draws from their eight words each (`words`, n rows of 8), by
// gk_noise_from_words.
void gk_noise_words(const unsigned int* words, long long n, float* out) {
    for (long long i = 0; i < n; ++i) out[i] = gk_noise_from_words(words + 8 * i);
}

// The noise of output elements `index` (n of them) under `seed`, given their first Philox blocks
// `first` (n rows of 4), by gk_gumbel_given_first: the second block is the kernel's own.
void gk_gumbel_given_first_words(unsigned long long seed, const unsigned long long* index,
                                 const unsigned int* first, long long n, float* out) {
    for (long long i = 0; i < n; ++i) {
        const unsigned int* w = first + 4 * i;
        out[i] = gk_gumbel_given_first(gk_words{w[0], w[1], w[2], w[3]}, seed, index[i]);
    }
}

int gk_block_size() { return GK_BLOCK; }

// Run the kernel `name` on a grid of n_rows blocks; returns 0, or 1 for an unknown name.
int gk_launch(const char* name, long long n_rows, const float* logits, float* out,
              const long long* seed, float* noise_out, long long n_cols, long long n_logit_rows,
              float tau) {
    Kernel kernel = nullptr;
    if (std::strcmp(name, "gumbel_softmax_cached<1>") == 0) kernel = gumbel_softmax_cached<1>;
    if (std::strcmp(name, "gumbel_softmax_cached<2>") == 0) kernel = gumbel_softmax_cached<2>;
    if (std::strcmp(name, "gumbel_softmax_cached<4>") == 0) kernel = gumbel_softmax_cached<4>;
    if (std::strcmp(name, "gumbel_softmax_cached<8>") == 0) kernel = gumbel_softmax_cached<8>;
    if (std::strcmp(name, "gumbel_softmax_two_pass") == 0) kernel = gumbel_softmax_two_pass;
    if (kernel == nullptr) return 1;
    std::barrier<> barrier(GK_BLOCK);
    block_barrier = &barrier;
    std::vector<std::thread> threads;
    for (unsigned int t = 0; t < GK_BLOCK; ++t) {
        threads.emplace_back([&, t] {
            threadIdx.x = t;
            for (long long block = 0; block < n_rows; ++block) {
                blockIdx.x = (unsigned int)block;
                kernel(logits, out, seed, noise_out, n_cols, n_logit_rows, tau);
                // No thread starts the next block while another still reads this one's shared
                // memory.
                barrier.arrive_and_wait();
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    block_barrier = nullptr;
    return 0;
}
}
