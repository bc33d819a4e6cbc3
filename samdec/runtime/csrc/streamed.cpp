// x (M, K) @ W.T for the few rows of a decoding or verify step, reading each weight once (and
// for a long prompt's rows, ROW_BLOCK at a time).
//
// Built on first use by samdec/runtime/native.py (torch's C++ extension loader,
// -march=native). Why its own kernel: from a few rows on, torch's stock CPU matmul costs jump,
// so that verifying a few draft tokens costs far more than a 1-token step although both read
// the same weights; here a step's weights stream from memory once, with every row of the step
// computed against each piece while it is in registers (benchmarks/verify_cost.json has what a
// step costs in each layout).
//
// Layout: W is packed once, at load, as [N / COLUMN][K / LANES][COLUMN][LANES]: a column of
// COLUMN weight rows is one contiguous run of memory, LANES columns of it per piece, so the
// hardware prefetcher and the explicit prefetch of the columns ahead see one stream. Weights
// that are quantisation codes are packed the same way as one byte each (`Codes` below).
//
// Exactness: out[m][n] is one vector accumulator per (row, weight row): fused multiply-adds
// of LANES-wide pieces in k order, then one horizontal sum. The tile shape and the chunks decide
// only how many accumulators run side by side and when one waits in memory, never the
// arithmetic of one, so a row's result cannot depend on how many rows share the call
// (tests/test_streaming.py checks it bit for bit).
#include "kernels.h"

#include <ATen/Parallel.h>

#ifndef __AVX512F__
#error "the streamed kernel needs AVX-512"
#endif
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <vector>

namespace samdec {
namespace {

// Where a tile's weights come from: float32 as packed, or codes decoded to the same floats.
// `at(t)` is the same source t weight rows further on; `next(c)` the column c further on.
struct Floats {
  const float* w;  // one packed column: [K / LANES][COLUMN][LANES]
  int64_t K;
  Floats at(int t) const { return {w + t * LANES, K}; }
  Floats next(int64_t columns = 1) const { return {w + columns * COLUMN * K, K}; }
  static constexpr int PIECES = 1;  // vectors one `load` gives: LANES weights each
  void load(int64_t k, int t, __m512* out) const {
    out[0] = _mm512_loadu_ps(w + k * COLUMN + t * LANES);
  }
  void fetch(int64_t k, int t) const {
    _mm_prefetch(reinterpret_cast<const char*>(w + k * COLUMN + t * LANES), _MM_HINT_T1);
  }
};

// Weights that are quantisation codes (a GGUF's, de-quantised to float32 at load): weight =
// code * step + offset, one (step, offset) per weight row and BLOCK columns, as the
// de-quantiser computed it: a multiply, rounded, then an add, rounded. The steps are float16
// values (11 significant bits) and the codes at most 255 (8 bits), so the product is exact in
// float32 and its rounding a no-op: one fused multiply-add gives the same bits.
// samdec/runtime/coded.py finds the codes and checks every decoded weight against the float32
// weight, bit for bit, so the arithmetic after the decode is the same as Floats'.
//
// BITS = 8: one byte a code, packed as [K / LANES][COLUMN][LANES]. BITS = 4 (codes up to 15,
// Q4_1's): one byte holds the codes of a row's columns j and j + LANES of a block, packed as
// [K / BLOCK][COLUMN][LANES]; half the bytes to read. Those decode by lookup: the 16 values a
// block's codes can take (one multiply-add, the same arithmetic as above), then a permute per
// LANES codes, which reads only a lane's low 4 bits. Two vectors from one load, and one
// multiply-add (the table's) for both: the linear layers of a step, weights read from memory,
// were faster this way than with a multiply-add per vector of codes at every row count tried.
template <int BITS>
struct Codes {
  static constexpr int64_t PER_BYTE = 8 / BITS;
  const uint8_t* q;    // one packed column of codes
  const float* scale;  // [K / BLOCK][2][COLUMN]: the steps, then the offsets
  int64_t K;
  Codes at(int t) const { return {q + t * LANES, scale + t, K}; }
  Codes next(int64_t columns = 1) const {
    return {q + columns * COLUMN * K / PER_BYTE, scale + columns * (K / BLOCK) * 2 * COLUMN, K};
  }
  const uint8_t* piece(int64_t k) const { return q + k / PER_BYTE / LANES * LANES * COLUMN; }
  static constexpr int PIECES = BITS == 4 ? 2 : 1;
  void load(int64_t k, int t, __m512* out) const {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(piece(k) + t * LANES));
    const __m512i code = _mm512_cvtepu8_epi32(bytes);
    const float* s = scale + (k / BLOCK) * 2 * COLUMN;
    const __m512 step = _mm512_set1_ps(s[t]), offset = _mm512_set1_ps(s[COLUMN + t]);
    if (BITS == 8) {
      out[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(code), step, offset);
    } else {
      const __m512 codes = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      const __m512 table = _mm512_fmadd_ps(codes, step, offset);
      out[0] = _mm512_permutexvar_ps(code, table);
      out[1] = _mm512_permutexvar_ps(_mm512_srli_epi32(code, 4), table);
    }
  }
  void fetch(int64_t k, int t) const {
    if (t % 4 == 0 && k % (LANES * PER_BYTE) == 0)  // a cache line holds four rows' codes
      _mm_prefetch(reinterpret_cast<const char*>(piece(k) + t * LANES), _MM_HINT_T1);
    if (t < 2 && k % BLOCK == 0) {  // a block's steps (t = 0), then its offsets: a line each
      const float* line = scale + (k / BLOCK * 2 + t) * COLUMN;
      _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T1);
    }
  }
};

// R rows of x times T weight rows of one packed column, over columns [k0, k1) of K: R*T
// accumulators in registers, started at zero, carried between chunks in `acc` ([row][COLUMN])
// and summed into y after the last. `ahead` is the same place in the column after next,
// fetched into L2 while this one computes.
template <int R, int T, class Source>
inline void tile(const float* x, int64_t K, int64_t k0, int64_t k1, const Source& w,
                 __m512* acc, float* y, int64_t N, const Source& ahead) {
  __m512 a[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) a[r][t] = k0 == 0 ? _mm512_setzero_ps() : acc[r * COLUMN + t];
  constexpr int P = Source::PIECES;
  for (int64_t k = k0; k < k1; k += P * LANES) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      ahead.fetch(k, t);
      __m512 wv[P];
      w.load(k, t, wv);
#pragma GCC unroll 2
      for (int p = 0; p < P; ++p)
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
          a[r][t] = _mm512_fmadd_ps(_mm512_loadu_ps(x + r * K + k + p * LANES), wv[p], a[r][t]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      if (k1 == K) y[r * N + t] = _mm512_reduce_add_ps(a[r][t]);
      else acc[r * COLUMN + t] = a[r][t];
    }
}

// R rows of x times the COLUMN weight rows of a column, T at a time.
template <int R, int T, class Source>
inline void rows_of(const float* x, int64_t K, int64_t k0, int64_t k1, const Source& w,
                    __m512* acc, float* y, int64_t N, const Source& ahead) {
  for (int t = 0; t < COLUMN; t += T)
    tile<R, T>(x, K, k0, k1, w.at(t), acc + t, y + t, N, ahead.at(t));
}

// Every row of x times one column. The first block of rows prefetches the column after next
// (fetching only the next one left the codes waiting, and was slower); the blocks after it
// find this column in cache.
//
// Tile shapes: the fewer tiles a column takes, the faster, even past the 32 vector registers
// (then accumulators wait in L1): a tile of T < COLUMN weight rows reads every (COLUMN / T)-th
// cache line of the column, as below. Each shape was chosen against its neighbours, over all
// the linears of the bundled model and over whole steps: 2 and 3 rows (and 1) take all COLUMN
// weight rows a tile; 4 and 5 rows tiles of 8 (4 was slower, and so was <4,16>); 8 rows go as
// two <4,8> rather than one <8,2>, the output layer gaining most. 6 rows stay <6,4>: <6,8>
// slowed the output layer, and 4 + 2 rows tied with it.
//
// With more than one row, the column can go by in chunks of CHUNK columns of K, every tile over
// one chunk before the next: a tile of T < COLUMN rows alone would read every (COLUMN / T)-th
// cache line of the whole column, and where that pattern kept the reads from overlapping the
// arithmetic, chunks were faster (and chunks of CHUNK faster than twice as long ones). One row
// needs no chunks: its tile reads the whole column in order.
//
// Chunks are a choice of the CPU's, not of the arithmetic (a row's bits are the same either
// way): on some CPUs they won at every row count from 2, on others whole columns did. So
// samdec.runtime.coded.tune_chunking measures it on the machine once and sets, per row count,
// which steps go in chunks: bit M of `chunked_rows` for steps of M rows, bit LAST_TUNED_ROWS
// for every larger step. Until then: chunks from 2 rows.
constexpr int64_t CHUNK = 128;
std::atomic<uint32_t> chunked_rows{0x1fcu};  // bits 2..LAST_TUNED_ROWS
static_assert(0x1fcu == (2u << LAST_TUNED_ROWS) - 4u, "the default: chunks from 2 rows");

bool chunked(int64_t M) {
  return chunked_rows.load(std::memory_order_relaxed) >> std::min(M, LAST_TUNED_ROWS) & 1u;
}

template <class Source>
void column(const float* x, int64_t M, int64_t K, const Source& w, float* y, int64_t N,
            __m512* acc) {
  const Source next = w.next(2);
  const int64_t chunk = chunked(M) ? CHUNK : K;
  for (int64_t k0 = 0; k0 < K; k0 += chunk) {
    const int64_t k1 = std::min(K, k0 + chunk);
    int64_t m = 0;
    auto ahead = [&]() { return m == 0 ? next : w; };
    auto at = [&]() { return acc + m * COLUMN; };
    for (; M - m >= 7 || M - m == 4; m += 4)
      rows_of<4, 8>(x + m * K, K, k0, k1, w, at(), y + m * N, N, ahead());
    const Source a = ahead();
    switch (M - m) {  // the 0 to 6 rows left, never 4: 7 rows go as 4 + 3, 9 as 4 + 5
      case 6: rows_of<6, 4>(x + m * K, K, k0, k1, w, at(), y + m * N, N, a); break;
      case 5: rows_of<5, 8>(x + m * K, K, k0, k1, w, at(), y + m * N, N, a); break;
      case 3: rows_of<3, 16>(x + m * K, K, k0, k1, w, at(), y + m * N, N, a); break;
      case 2: rows_of<2, 16>(x + m * K, K, k0, k1, w, at(), y + m * N, N, a); break;
      case 1: rows_of<1, 16>(x + m * K, K, k0, k1, w, at(), y + m * N, N, a); break;
    }
  }
}

// Every row of x times every column of `w`, the columns shared among torch's threads (a
// second OpenMP pool would spin against torch's). A long prompt's rows go ROW_BLOCK at a time
// (kernels.h says why).
template <class Source>
at::Tensor times(const at::Tensor& x, int64_t columns, const Source& w) {
  const int64_t K = x.size(-1), M = K ? x.numel() / K : 0, N = columns * COLUMN;
  TORCH_CHECK(x.is_contiguous() && x.scalar_type() == at::kFloat && w.K == K);
  auto shape = x.sizes().vec();  // (..., K) -> (..., N): no reshapes, each a torch call
  shape.back() = N;
  auto y = at::empty(shape, x.options());
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t m0 = 0; m0 < M; m0 += ROW_BLOCK) {
    const int64_t rows = std::min(ROW_BLOCK, M - m0);
    at::parallel_for(0, columns, 4, [&](int64_t begin, int64_t end) {
      std::vector<__m512> acc(rows * COLUMN);  // a chunk's partial sums, per thread
      for (int64_t c = begin; c < end; ++c)
        column(xp + m0 * K, rows, K, w.next(c), yp + m0 * N + c * COLUMN, N, acc.data());
    });
  }
  return y;
}

}  // namespace

at::Tensor pack(const at::Tensor& weight) {
  const int64_t N = weight.size(0), K = weight.size(1);
  TORCH_CHECK(N % COLUMN == 0 && K % LANES == 0, "pad the weight first");
  return weight.reshape({N / COLUMN, COLUMN, K / LANES, LANES}).permute({0, 2, 1, 3}).contiguous();
}

at::Tensor rows_times_weight(const at::Tensor& x, const at::Tensor& packed) {
  TORCH_CHECK(packed.scalar_type() == at::kFloat);
  return times(x, packed.size(0), Floats{packed.data_ptr<float>(), packed.size(1) * LANES});
}

at::Tensor rows_times_codes(const at::Tensor& x, const at::Tensor& codes,
                               const at::Tensor& scales, int64_t bits) {
  TORCH_CHECK(codes.scalar_type() == at::kByte && scales.scalar_type() == at::kFloat);
  TORCH_CHECK(bits == 8 || bits == 4, "codes are 8 or 4 bits");
  const int64_t K = codes.size(1) * LANES * (8 / bits);
  TORCH_CHECK(K % BLOCK == 0 && scales.numel() == codes.size(0) * (K / BLOCK) * 2 * COLUMN);
  const uint8_t* q = codes.data_ptr<uint8_t>();
  const float* s = scales.data_ptr<float>();
  if (bits == 4) return times(x, codes.size(0), Codes<4>{q, s, K});
  return times(x, codes.size(0), Codes<8>{q, s, K});
}

std::vector<int64_t> tuned_rows() {
  std::vector<int64_t> rows;
  for (int64_t r = 2; r <= LAST_TUNED_ROWS; ++r) rows.push_back(r);
  return rows;
}

// Bit r of `chunked_rows` for each row count r; a step of more rows than LAST_TUNED_ROWS reads
// the last one's bit. One row never needs chunks.
void set_chunked_rows(const std::vector<int64_t>& rows) {
  uint32_t bits = 0;
  for (const int64_t r : rows) {
    TORCH_CHECK(r >= 2 && r <= LAST_TUNED_ROWS, "row counts from 2 to ", LAST_TUNED_ROWS);
    bits |= 1u << r;
  }
  chunked_rows.store(bits, std::memory_order_relaxed);
}

std::vector<int64_t> get_chunked_rows() {
  std::vector<int64_t> rows;
  for (const int64_t r : tuned_rows())
    if (chunked(r)) rows.push_back(r);
  return rows;
}

}  // namespace samdec
