// Fused LoTA-QAF GEMV / skinny GEMM:  y[b, n] = sum_k x[b, k] * s[n, g(k)] * (q[n, k] + t[n, k] - zf[n, g(k)])
//
//   q  : int4 codes, packed 8 per 32-bit word, element k at bits 4*(k % 8)          (uint32 [N, K/8])
//   t  : ternary offsets as 2-bit codes c = t + 1 in {0,1,2}, 16 per word, bits 2*(k % 16) (uint32 [N, K/16])
//   s  : fp16 scales [N, K/G];  zf : fp16 float zero points [N, K/G] with the LoTA offset factor folded in
//        (zf = z - zp), so the unmerged and the merged layer read the same scale/zero bytes
//   x  : fp16 activations [B, K], B <= 16;  y : fp32 [B, N];  accumulation in fp32
//
// One warp per output row; each lane handles 16 consecutive inputs per iteration (two int4 words + one ternary
// word), which always lie inside one quantization group because G % 16 == 0. Per chunk the lane forms
// dot = sum x*(q+t) and sx = sum x, then adds s * (dot - zf * sx): one scale/zero per 16 weights.
// Requirements (checked by the Python wrapper): K % 16 == 0, G % 16 == 0, K % G == 0, 1 <= B <= 16.
// The merged variant (q' = q + t already applied) is the same code without the ternary stream.
// Source is plain CUDA C++ without host code or std headers so it compiles with both nvcc and NVRTC (CuPy).

#include <cuda_fp16.h>

#define LOTA_WARPS_PER_BLOCK 8

template <bool TERNARY, int MAXB>
__device__ __forceinline__ void lota_gemv_impl(const __half* __restrict__ x, const unsigned int* __restrict__ qw,
                                               const unsigned int* __restrict__ tw,
                                               const __half* __restrict__ scales, const __half* __restrict__ zf,
                                               float* __restrict__ y, int B, int N, int K, int G) {
    const int row = blockIdx.x * LOTA_WARPS_PER_BLOCK + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= N) return;
    const int ng = K / G;
    const int chunks = K / 16;
    const unsigned int* qrow = qw + (size_t)row * (K / 8);
    const unsigned int* trow = TERNARY ? tw + (size_t)row * chunks : nullptr;
    const __half* srow = scales + (size_t)row * ng;
    const __half* zrow = zf + (size_t)row * ng;

    float acc[MAXB];
#pragma unroll
    for (int b = 0; b < MAXB; ++b) acc[b] = 0.f;

    for (int c = lane; c < chunks; c += 32) {
        const int k0 = c * 16;
        const int g = k0 / G;
        const float s = __half2float(srow[g]);
        const float z = __half2float(zrow[g]);
        const uint2 qq = *reinterpret_cast<const uint2*>(qrow + 2 * c);
        float w[16];
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            w[j] = (float)((qq.x >> (4 * j)) & 15u);
            w[8 + j] = (float)((qq.y >> (4 * j)) & 15u);
        }
        if (TERNARY) {
            const unsigned int tt = trow[c];
#pragma unroll
            for (int j = 0; j < 16; ++j) w[j] += (float)((int)((tt >> (2 * j)) & 3u) - 1);
        }
#pragma unroll
        for (int b = 0; b < MAXB; ++b) {
            if (b < B) {
                const uint4* xp = reinterpret_cast<const uint4*>(x + (size_t)b * K + k0);
                const uint4 xa = xp[0], xb = xp[1];
                const __half2* ha = reinterpret_cast<const __half2*>(&xa);
                const __half2* hb = reinterpret_cast<const __half2*>(&xb);
                float dot = 0.f, sx = 0.f;
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const float2 fa = __half22float2(ha[j]);
                    const float2 fb = __half22float2(hb[j]);
                    dot += fa.x * w[2 * j] + fa.y * w[2 * j + 1] + fb.x * w[8 + 2 * j] + fb.y * w[8 + 2 * j + 1];
                    sx += fa.x + fa.y + fb.x + fb.y;
                }
                acc[b] += s * (dot - z * sx);
            }
        }
    }
#pragma unroll
    for (int b = 0; b < MAXB; ++b) {
        float v = acc[b];
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
        if (lane == 0 && b < B) y[(size_t)b * N + row] = v;
    }
}

// Entry points: unmerged (int4 + ternary) and merged (int4 only), one instantiation per batch bucket so the
// accumulators stay in registers. The wrapper picks the smallest bucket >= B.
#define LOTA_ENTRY(NAME, TERNARY, MAXB)                                                                          \
    extern "C" __global__ void __launch_bounds__(32 * LOTA_WARPS_PER_BLOCK)                                     \
        NAME(const __half* x, const unsigned int* qw, const unsigned int* tw, const __half* scales,             \
             const __half* zf, float* y, int B, int N, int K, int G) {                                          \
        lota_gemv_impl<TERNARY, MAXB>(x, qw, tw, scales, zf, y, B, N, K, G);                                   \
    }

LOTA_ENTRY(lota_gemv_ternary_b1, true, 1)
LOTA_ENTRY(lota_gemv_ternary_b2, true, 2)
LOTA_ENTRY(lota_gemv_ternary_b4, true, 4)
LOTA_ENTRY(lota_gemv_ternary_b8, true, 8)
LOTA_ENTRY(lota_gemv_ternary_b16, true, 16)
LOTA_ENTRY(lota_gemv_merged_b1, false, 1)
LOTA_ENTRY(lota_gemv_merged_b2, false, 2)
LOTA_ENTRY(lota_gemv_merged_b4, false, 4)
LOTA_ENTRY(lota_gemv_merged_b8, false, 8)
LOTA_ENTRY(lota_gemv_merged_b16, false, 16)
