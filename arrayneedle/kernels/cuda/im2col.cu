// im2col / col2im for NCHW arrays; compiled at run time by cupy.RawModule (NVRTC) and
// checked with `nvcc -arch=sm_90 -ptx` by the test suite.
//
// Column layout (shared with the NumPy kernels): cols[(c*KH + i)*KW + j][n][oh][ow'] with
// row pitch R >= OW (columns ow' >= OW are padding: im2col writes zeros there, col2im ignores
// them). One thread per output element, grid-stride loops; Index is int where every offset
// fits in 31 bits, long long otherwise. col2im is a gather (each input element sums the
// column entries that came from it), so it needs no atomics and is deterministic.

template <typename T, typename Index>
__device__ __forceinline__ void im2col_impl(
    const T* __restrict__ x, T* __restrict__ cols, long long total,
    int N, int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
    int DH, int DW, int OH, int OW, int R)
{
    const Index stride = (Index)blockDim.x * (Index)gridDim.x;
    for (Index idx = (Index)blockIdx.x * blockDim.x + threadIdx.x; idx < (Index)total;
         idx += stride) {
        Index t = idx;
        const int ow = (int)(t % R); t /= R;
        const int oh = (int)(t % OH); t /= OH;
        const int n = (int)(t % N); t /= N;
        const int j = (int)(t % KW); t /= KW;
        const int i = (int)(t % KH);
        const int c = (int)(t / KH);
        const int h = oh * SH - PH + i * DH;
        const int w = ow * SW - PW + j * DW;
        T v = (T)0;
        if (ow < OW && h >= 0 && h < H && w >= 0 && w < W)
            v = x[(((Index)n * C + c) * H + h) * W + w];
        cols[idx] = v;
    }
}

template <typename T, typename Index>
__device__ __forceinline__ void col2im_impl(
    const T* __restrict__ cols, T* __restrict__ x, long long total,
    int N, int C, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
    int DH, int DW, int OH, int OW, int R)
{
    const Index stride = (Index)blockDim.x * (Index)gridDim.x;
    const Index plane = (Index)OH * R;   // one (row, n) block of cols
    for (Index idx = (Index)blockIdx.x * blockDim.x + threadIdx.x; idx < (Index)total;
         idx += stride) {
        Index t = idx;
        const int w = (int)(t % W); t /= W;
        const int h = (int)(t % H); t /= H;
        const int c = (int)(t % C);
        const int n = (int)(t / C);
        T acc = (T)0;
        for (int i = 0; i < KH; ++i) {
            const int hh = h + PH - i * DH;
            if (hh < 0 || hh % SH != 0) continue;
            const int oh = hh / SH;
            if (oh >= OH) continue;
            for (int j = 0; j < KW; ++j) {
                const int ww = w + PW - j * DW;
                if (ww < 0 || ww % SW != 0) continue;
                const int ow = ww / SW;
                if (ow >= OW) continue;
                const Index row = ((Index)c * KH + i) * KW + j;
                acc += cols[(row * N + n) * plane + (Index)oh * R + ow];
            }
        }
        x[idx] = acc;
    }
}

#define CONV_PARAMS long long total, int N, int C, int H, int W, int KH, int KW, int SH, \
    int SW, int PH, int PW, int DH, int DW, int OH, int OW, int R
#define CONV_ARGS total, N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, R

#define DEFINE_CONV_KERNELS(T, SUFFIX)                                                      \
extern "C" __global__ void im2col_##SUFFIX(const T* __restrict__ x, T* __restrict__ cols,   \
                                           CONV_PARAMS)                                     \
{ im2col_impl<T, int>(x, cols, CONV_ARGS); }                                                \
extern "C" __global__ void im2col_##SUFFIX##_i64(const T* __restrict__ x,                   \
                                                 T* __restrict__ cols, CONV_PARAMS)         \
{ im2col_impl<T, long long>(x, cols, CONV_ARGS); }                                          \
extern "C" __global__ void col2im_##SUFFIX(const T* __restrict__ cols, T* __restrict__ x,   \
                                           CONV_PARAMS)                                     \
{ col2im_impl<T, int>(cols, x, CONV_ARGS); }                                                \
extern "C" __global__ void col2im_##SUFFIX##_i64(const T* __restrict__ cols,                \
                                                 T* __restrict__ x, CONV_PARAMS)            \
{ col2im_impl<T, long long>(cols, x, CONV_ARGS); }

DEFINE_CONV_KERNELS(float, f32)
DEFINE_CONV_KERNELS(double, f64)
