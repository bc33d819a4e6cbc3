// x (M, K) @ W.T for the few rows of a decoding or verify step, reading each weight once.
//
// Built on first use by samdec/streaming.py (torch's C++ extension loader, -march=native).
// Why its own kernel: from 4 rows on, torch's stock CPU matmul costs jump, and a step of the
// bundled model verifying 8 tokens cost 1.8x a 1-token step; here a step's weights stream
// from memory once, with every row of the step computed against each piece while it is in
// registers (samdec/streaming.py has the measurements).
//
// Layout: W is packed once, at load, as [N / COLUMN][K / LANES][COLUMN][LANES]: a column of
// COLUMN weight rows is one contiguous run of memory, LANES columns of it per 512-byte block,
// so the hardware prefetcher and the explicit prefetch of the next column see one stream.
//
// Exactness: out[m][n] is one vector accumulator per (row, weight row): fused multiply-adds
// of LANES-wide pieces in k order, then one horizontal sum. The tile shape decides only how
// many accumulators run side by side, never the arithmetic of one, so a row's result cannot
// depend on how many rows share the call (tests/test_streaming.py checks it bit for bit).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#ifndef __AVX512F__
#error "the streamed kernel needs AVX-512"
#endif
#include <immintrin.h>

namespace {

constexpr int64_t COLUMN = 16, LANES = 16;

// R rows of x times T weight rows of one packed column: R*T accumulators in registers.
// `ahead` is the same place in the next column, fetched into L2 while this one computes.
template <int R, int T>
inline void tile(const float* x, int64_t K, const float* w, float* y, int64_t N,
                 const float* ahead) {
  __m512 acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += LANES) {
    const float* piece = w + k * COLUMN;
    __m512 wv[T];
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      _mm_prefetch(reinterpret_cast<const char*>(ahead + k * COLUMN + t * LANES), _MM_HINT_T1);
      wv[t] = _mm512_loadu_ps(piece + t * LANES);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_loadu_ps(x + r * K + k);
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(xv, wv[t], acc[r][t]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) y[r * N + t] = _mm512_reduce_add_ps(acc[r][t]);
}

// R rows of x times a whole column, T weight rows at a time.
template <int R, int T>
inline void rows_of(const float* x, int64_t K, const float* w, float* y, int64_t N,
                    const float* ahead) {
  for (int64_t t = 0; t < COLUMN; t += T) tile<R, T>(x, K, w + t * LANES, y + t, N, ahead + t * LANES);
}

// Every row of x times one column. The first block of rows prefetches the next column; the
// blocks after it find this column in cache. ~16-24 accumulators a tile: fewer leave the
// multiply-add units idle, more spill registers (tile shapes timed in scratch runs, 2026-12-02).
void column(const float* x, int64_t M, int64_t K, const float* w, float* y, int64_t N) {
  const float* next = w + COLUMN * K;
  int64_t m = 0;
  auto ahead = [&]() { return m == 0 ? next : w; };
  for (; M - m >= 8; m += 8) rows_of<8, 2>(x + m * K, K, w, y + m * N, N, ahead());
  for (; M - m >= 6; m += 6) rows_of<6, 4>(x + m * K, K, w, y + m * N, N, ahead());
  const float* a = ahead();
  switch (M - m) {
    case 5: rows_of<5, 4>(x + m * K, K, w, y + m * N, N, a); break;
    case 4: rows_of<4, 4>(x + m * K, K, w, y + m * N, N, a); break;
    case 3: rows_of<3, 8>(x + m * K, K, w, y + m * N, N, a); break;
    case 2: rows_of<2, 8>(x + m * K, K, w, y + m * N, N, a); break;
    case 1: rows_of<1, 16>(x + m * K, K, w, y + m * N, N, a); break;
  }
}

}  // namespace

// weight (N, K), N a multiple of COLUMN and K of LANES -> the packed layout above.
torch::Tensor pack(const torch::Tensor& weight) {
  const int64_t N = weight.size(0), K = weight.size(1);
  TORCH_CHECK(N % COLUMN == 0 && K % LANES == 0, "pad the weight first");
  return weight.reshape({N / COLUMN, COLUMN, K / LANES, LANES}).permute({0, 2, 1, 3}).contiguous();
}

// The inverse of pack, for steps too long for this kernel (a long prompt's prefill).
torch::Tensor unpack(const torch::Tensor& packed) {
  const int64_t N = packed.size(0) * COLUMN, K = packed.size(1) * LANES;
  return packed.permute({0, 2, 1, 3}).reshape({N, K});
}

// x (M, K) float32 contiguous, packed from `pack` -> (M, N).
torch::Tensor rows_times_weight(const torch::Tensor& x, const torch::Tensor& packed) {
  const int64_t M = x.size(0), K = x.size(1), columns = packed.size(0), N = columns * COLUMN;
  TORCH_CHECK(x.is_contiguous() && x.scalar_type() == torch::kFloat32 && packed.size(1) * LANES == K);
  auto y = torch::empty({M, N}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* wp = packed.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  // torch's own thread pool: a second OpenMP pool would spin against it.
  at::parallel_for(0, columns, 4, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) column(xp, M, K, wp + c * COLUMN * K, yp + c * COLUMN, N);
  });
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("pack", &pack);
  m.def("unpack", &unpack);
  m.def("rows_times_weight", &rows_times_weight);
}
