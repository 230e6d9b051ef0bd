// 2-D max-pooling forward and backward for NCHW arrays (cupy.RawModule / NVRTC).
//
// Forward: one thread per output element; writes the maximum and the flat tap index
// i*KW + j of the first maximum in row-major window order (NaN counts as the maximum; taps in
// the implicit -inf padding are skipped). Backward: one thread per input element gathers the
// gradients of the windows whose chosen tap is that element, so it needs no atomics and is
// deterministic; overlapping windows (stride < kernel) add up.

template <typename T>
__device__ __forceinline__ bool is_nan(T v) { return v != v; }

template <typename T, typename Index>
__device__ __forceinline__ void maxpool_forward_impl(
    const T* __restrict__ x, T* __restrict__ out, int* __restrict__ arg, long long total,
    int N, int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW, int OH, int OW)
{
    const Index stride = (Index)blockDim.x * (Index)gridDim.x;
    for (Index idx = (Index)blockIdx.x * blockDim.x + threadIdx.x; idx < (Index)total;
         idx += stride) {
        Index t = idx;
        const int ow = (int)(t % OW); t /= OW;
        const int oh = (int)(t % OH);
        const Index nc = t / OH;
        const T* plane = x + nc * H * W;
        const int h0 = oh * SH - PH, w0 = ow * SW - PW;
        T best = (T)0;
        int best_tap = -1;
        for (int i = 0; i < KH; ++i) {
            const int h = h0 + i;
            if (h < 0 || h >= H) continue;
            for (int j = 0; j < KW; ++j) {
                const int w = w0 + j;
                if (w < 0 || w >= W) continue;
                const T v = plane[(Index)h * W + w];
                if (best_tap < 0 || v > best || (is_nan(v) && !is_nan(best))) {
                    best = v;
                    best_tap = i * KW + j;
                }
            }
        }
        out[idx] = best;
        arg[idx] = best_tap;
    }
}

template <typename T, typename Index>
__device__ __forceinline__ void maxpool_backward_impl(
    const T* __restrict__ grad, const int* __restrict__ arg, T* __restrict__ gx,
    long long total, int N, int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
    int OH, int OW)
{
    const Index stride = (Index)blockDim.x * (Index)gridDim.x;
    for (Index idx = (Index)blockIdx.x * blockDim.x + threadIdx.x; idx < (Index)total;
         idx += stride) {
        Index t = idx;
        const int w = (int)(t % W); t /= W;
        const int h = (int)(t % H);
        const Index nc = t / H;
        const int hp = h + PH, wp = w + PW;  // position in the padded input
        // windows oh with oh*SH <= hp <= oh*SH + KH - 1
        const int oh_lo = hp >= KH ? (hp - KH) / SH + 1 : 0;
        const int oh_hi = min(hp / SH, OH - 1);
        const int ow_lo = wp >= KW ? (wp - KW) / SW + 1 : 0;
        const int ow_hi = min(wp / SW, OW - 1);
        const Index base = nc * OH * OW;
        T acc = (T)0;
        for (int oh = oh_lo; oh <= oh_hi; ++oh) {
            const int i = hp - oh * SH;
            for (int ow = ow_lo; ow <= ow_hi; ++ow) {
                const Index o = base + (Index)oh * OW + ow;
                if (arg[o] == i * KW + (wp - ow * SW)) acc += grad[o];
            }
        }
        gx[idx] = acc;
    }
}

#define POOL_PARAMS long long total, int N, int C, int H, int W, int KH, int KW, int SH, int SW, \
    int PH, int PW, int OH, int OW
#define POOL_ARGS total, N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW

#define DEFINE_POOL_KERNELS(T, SUFFIX)                                                       \
extern "C" __global__ void maxpool_forward_##SUFFIX(                                         \
    const T* __restrict__ x, T* __restrict__ out, int* __restrict__ arg, POOL_PARAMS)        \
{ maxpool_forward_impl<T, int>(x, out, arg, POOL_ARGS); }                                    \
extern "C" __global__ void maxpool_forward_##SUFFIX##_i64(                                   \
    const T* __restrict__ x, T* __restrict__ out, int* __restrict__ arg, POOL_PARAMS)        \
{ maxpool_forward_impl<T, long long>(x, out, arg, POOL_ARGS); }                              \
extern "C" __global__ void maxpool_backward_##SUFFIX(                                        \
    const T* __restrict__ grad, const int* __restrict__ arg, T* __restrict__ gx, POOL_PARAMS)\
{ maxpool_backward_impl<T, int>(grad, arg, gx, POOL_ARGS); }                                 \
extern "C" __global__ void maxpool_backward_##SUFFIX##_i64(                                  \
    const T* __restrict__ grad, const int* __restrict__ arg, T* __restrict__ gx, POOL_PARAMS)\
{ maxpool_backward_impl<T, long long>(grad, arg, gx, POOL_ARGS); }

DEFINE_POOL_KERNELS(float, f32)
DEFINE_POOL_KERNELS(double, f64)
