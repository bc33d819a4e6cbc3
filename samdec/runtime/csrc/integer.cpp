// x (M, K) @ W.T in integers, as llama.cpp computes a GGUF's 4- and 8-bit linears: the rows
// quantised to 8 bits per block of BLOCK columns, each block's products with the weights'
// codes summed in 32-bit integers, then the blocks' sums scaled and added up in float32.
//
// Why: on a CPU the exact float32 kernel (streamed.cpp) pays a float multiply-add per weight
// and row, so a verify of 8 tokens costs several plain steps. One AVX-512 VNNI instruction
// (vpdpbusd) multiplies 64 code bytes by 64 activation bytes and adds them up in fours, so a
// step's weights are read once and every extra row costs little (benchmarks/verify_cost.json).
// The price: the numbers are not float32's. This is the "integer" layout, exact to itself,
// not to transformers' float32 (layouts.py), and never chosen by `auto`.
//
// Exactness against itself: a row's activations are quantised from that row alone; an integer
// sum does not depend on its order; and each output's float32 sum runs over the blocks in k
// order with the same operations (`scaled_into`) whatever the tile: so a row's result is the
// same bits alone, in a verify of 40 rows or in a long prompt (tests/test_integer.py).
//
// Arithmetic of one block b, weight row n, row r: the weight is code * step + offset (the
// GGUF's Q4_1 has 4-bit codes; Q8_0's signed codes are stored as code + 128 with offset -128 *
// step, coded.py.find_codes), the row's block is q * d (q int8, d = max |x| / 127). So
//   sum_j w_j x_j = (step * d) * sum_j code_j q_j + offset * (d * sum_j q_j),
// both sums exact integers; the two products are added to the output's float accumulator in
// that order with fused multiply-adds.
//
// Layout of the codes (`pack_integer` in coded.py): per COLUMN of COLUMN weight rows and per
// block, GROUPS vectors of 64 bytes, lane n holding four consecutive codes of weight row n:
// 8-bit codes: group g = columns 4g..4g+3 of the block; 4-bit codes: vector g's low halves are
// group g and its high halves group g + 4 (half the bytes). Scales as streamed.cpp's:
// [N / COLUMN][K / BLOCK][2][COLUMN], the steps, then the offsets, but in float16, as the GGUF
// keeps them (the same values: a fifth fewer bytes to read than float32 scales).
#include "kernels.h"

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <ATen/ops/silu.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <memory>

namespace samdec {

#ifdef __AVX512VNNI__
namespace {

// Vectors of four codes a lane in one block: BLOCK / 4.
constexpr int GROUPS = BLOCK / 4;
// Rows a tile holds in registers (a long step goes through a column this many at a time).
constexpr int TILE_ROWS = 8;
// How far ahead of the block being multiplied its tile asks for the codes.
constexpr int64_t PREFETCH = 4096;

// Block i of x as 8-bit codes: q = x / d rounded to the nearest integer (ties to even, the
// vector unit's rounding), saturated to int8, given 1 / d; returns q's 32-bit values, lo + hi.
inline __m512i codes_of(const float* xb, float inverse, int8_t* q) {
  const __m512 scale = _mm512_set1_ps(inverse);
  const __m512i lo = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb), scale));
  const __m512i hi = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + LANES), scale));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(lo));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q + LANES), _mm512_cvtsepi32_epi8(hi));
  return _mm512_add_epi32(lo, hi);
}

// Lane by lane, the larger |x| of a block's two halves.
inline __m512 absolute_max(const float* xb) {
  return _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb)),
                       _mm512_abs_ps(_mm512_loadu_ps(xb + LANES)));
}

// `n` consecutive blocks of BLOCK floats from x, each as codes at q and its d = max |x| / 127
// (0 for a block of zeros) and d * the sum of its codes at step and step_times_sum. Sixteen
// blocks at a time, each one's max and sum in a lane (`across_lanes`): one block at a time, its
// two horizontal reductions made quantising 8 rows a noticeable share of a step's serial time.
// A block's numbers are the same either way, and whichever call quantises it.
void quantise_blocks(const float* x, int64_t n, int8_t* q, float* step, float* step_times_sum) {
  const auto max = [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); };
  const auto add = [](__m512 a, __m512 b) {
    return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b)));
  };
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    __m512 v[LANES];
    for (int t = 0; t < LANES; ++t) v[t] = absolute_max(x + (i + t) * BLOCK);
    const __m512 d = _mm512_div_ps(across_lanes(v, max), _mm512_set1_ps(127.0f));
    const __mmask16 some = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_GT_OQ);
    alignas(64) float inverse[LANES];
    _mm512_store_ps(inverse, _mm512_maskz_div_ps(some, _mm512_set1_ps(1.0f), d));
    for (int t = 0; t < LANES; ++t)
      v[t] = _mm512_castsi512_ps(codes_of(x + (i + t) * BLOCK, inverse[t], q + (i + t) * BLOCK));
    const __m512 sums = _mm512_cvtepi32_ps(_mm512_castps_si512(across_lanes(v, add)));
    _mm512_storeu_ps(step + i, d);
    _mm512_storeu_ps(step_times_sum + i, _mm512_mul_ps(d, sums));
  }
  for (; i < n; ++i) {  // the last blocks, one at a time
    const float d = _mm512_reduce_max_ps(absolute_max(x + i * BLOCK)) / 127.0f;
    const int32_t sum = _mm512_reduce_add_epi32(
        codes_of(x + i * BLOCK, d > 0 ? 1.0f / d : 0.0f, q + i * BLOCK));
    step[i] = d;
    step_times_sum[i] = d * static_cast<float>(sum);
  }
}

// COLUMN float16 scales as float32 (exact: every float16 is a float32).
inline __m512 half_to_float(const uint16_t* h) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
}

// A block's GROUPS code vectors of one column, unsigned bytes.
template <int BITS>
inline void load_block(const uint8_t* codes, __m512i* w) {
  if constexpr (BITS == 8) {
    for (int g = 0; g < GROUPS; ++g) w[g] = _mm512_loadu_si512(codes + g * 64);
  } else {
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int g = 0; g < GROUPS / 2; ++g) {
      const __m512i both = _mm512_loadu_si512(codes + g * 64);
      w[g] = _mm512_and_si512(both, low);
      w[g + GROUPS / 2] = _mm512_and_si512(_mm512_srli_epi16(both, 4), low);
    }
  }
}

// acc + the products of w's code bytes with the four activation bytes at q, in every lane
// (vpdpbusd). The four bytes are broadcast from memory by the instruction itself: GCC does
// not fold _mm512_set1_epi32 into it, and a broadcast of its own per instruction doubled the
// instructions a block issues.
inline __m512i dot_four(__m512i acc, __m512i w, const int8_t* q) {
  asm("vpdpbusd %2%{1to16%}, %1, %0"
      : "+v"(acc)
      : "v"(w), "m"(*reinterpret_cast<const int32_t*>(q)));
  return acc;
}

// One row's block into its COLUMN accumulators, given the block's integer sums of codes times
// q: the two scaled terms, always these operations in this order.
inline __m512 scaled_into(__m512 acc, __m512i sum, float d, float ds, __m512 step,
                          __m512 offset) {
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(step, _mm512_set1_ps(d)), acc);
  return _mm512_fmadd_ps(offset, _mm512_set1_ps(ds), acc);
}

// R rows (from row m) times one column's COLUMN weight rows, every block in k order.
template <int BITS, int R>
inline void tile(const RowCodes& x, int64_t m, int64_t K, const uint8_t* codes,
                 const uint16_t* scales, float* y, int64_t N) {
  constexpr int64_t BYTES = BLOCK * COLUMN * BITS / 8;  // a block's codes in one column
  const int64_t blocks = K / BLOCK;
  const int8_t* q = &x.q[m * K];
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    // The codes PREFETCH bytes ahead (the next column's follow this one's), so that reading
    // them overlaps the products instead of following them. One row's step is too short
    // for it to pay.
    if constexpr (R > 1) {
      for (int64_t line = 0; line < BYTES; line += 64)
        _mm_prefetch(reinterpret_cast<const char*>(codes + b * BYTES + PREFETCH + line),
                     _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(scales + b * 2 * COLUMN) + PREFETCH / 4,
                   _MM_HINT_T0);
    }
    __m512i w[GROUPS];
    load_block<BITS>(codes + b * BYTES, w);
    // Each code vector times every row's four activations before the next: the rows' sums
    // are independent, so one row's multiply-add never waits on its previous one. Integer
    // sums are exact: their order cannot change the result.
    __m512i sums[R];
    for (int r = 0; r < R; ++r) sums[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int g = 0; g < GROUPS; ++g)
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) sums[r] = dot_four(sums[r], w[g], q + r * K + b * BLOCK + 4 * g);
    const __m512 step = half_to_float(scales + b * 2 * COLUMN);
    const __m512 offset = half_to_float(scales + (b * 2 + 1) * COLUMN);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const int64_t at = (m + r) * blocks + b;
      acc[r] = scaled_into(acc[r], sums[r], x.step[at], x.step_times_sum[at], step, offset);
    }
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(y + (m + r) * N, acc[r]);
}

// Rows m0.. (`rows` of them) of x times one column's COLUMN weight rows, TILE_ROWS at a time.
template <int BITS>
void column_times(const RowCodes& x, int64_t m0, int64_t rows, int64_t K,
                  const uint8_t* codes, const uint16_t* scales, float* y, int64_t N) {
  int64_t m = m0;
  for (; m0 + rows - m >= TILE_ROWS; m += TILE_ROWS)
    tile<BITS, TILE_ROWS>(x, m, K, codes, scales, y, N);
  switch (m0 + rows - m) {
    case 7: tile<BITS, 7>(x, m, K, codes, scales, y, N); break;
    case 6: tile<BITS, 6>(x, m, K, codes, scales, y, N); break;
    case 5: tile<BITS, 5>(x, m, K, codes, scales, y, N); break;
    case 4: tile<BITS, 4>(x, m, K, codes, scales, y, N); break;
    case 3: tile<BITS, 3>(x, m, K, codes, scales, y, N); break;
    case 2: tile<BITS, 2>(x, m, K, codes, scales, y, N); break;
    case 1: tile<BITS, 1>(x, m, K, codes, scales, y, N); break;
  }
}

// Columns [begin, end) of x @ W.T into y (M, N): a long prompt's rows ROW_BLOCK at a time, as
// streamed.cpp's, the tiles reading rows m0.. of x through offsets (so y is not shifted).
template <int BITS>
void columns_times(const RowCodes& x, int64_t M, int64_t K, const uint8_t* codes,
                   const uint16_t* scales, int64_t begin, int64_t end, float* y, int64_t N) {
  const int64_t column_bytes = K * COLUMN * BITS / 8, column_scales = (K / BLOCK) * 2 * COLUMN;
  for (int64_t m0 = 0; m0 < M; m0 += ROW_BLOCK)
    for (int64_t c = begin; c < end; ++c)
      column_times<BITS>(x, m0, std::min(ROW_BLOCK, M - m0), K, codes + c * column_bytes,
                         scales + c * column_scales, y + c * COLUMN, N);
}

// Every row times every column, the columns shared among torch's threads.
template <int BITS>
void times(const RowCodes& x, int64_t M, int64_t K, const uint8_t* codes,
           const uint16_t* scales, int64_t columns, float* y) {
  at::parallel_for(0, columns, 4, [&](int64_t begin, int64_t end) {
    columns_times<BITS>(x, M, K, codes, scales, begin, end, y, columns * COLUMN);
  });
}

void times_bits(int64_t bits, const RowCodes& x, int64_t M, int64_t K,
                const at::Tensor& codes, const at::Tensor& scales, float* y) {
  const uint8_t* cp = codes.data_ptr<uint8_t>();
  const auto* sp = reinterpret_cast<const uint16_t*>(scales.data_ptr<at::Half>());
  if (bits == 4) times<4>(x, M, K, cp, sp, codes.size(0), y);
  else times<8>(x, M, K, cp, sp, codes.size(0), y);
}

void check_codes(const at::Tensor& codes, const at::Tensor& scales, int64_t bits,
                 int64_t K) {
  TORCH_CHECK(codes.scalar_type() == at::kByte && scales.scalar_type() == at::kHalf);
  TORCH_CHECK(bits == 8 || bits == 4, "codes are 8 or 4 bits");
  const int64_t columns = codes.size(0);
  TORCH_CHECK(K % BLOCK == 0 && codes.numel() == columns * COLUMN * K * bits / 8 &&
                  scales.numel() == columns * (K / BLOCK) * 2 * COLUMN,
              "codes packed by samdec.runtime.coded.pack_integer for this width");
}

}  // namespace

// Every element is written by quantise_blocks before it is read, so the buffers start
// uninitialised (clearing them was a noticeable share of a linear's serial part at 8 rows).
RowCodes codes_room(int64_t count) {
  const int64_t n = count / BLOCK;
  return {std::unique_ptr<int8_t[]>(new int8_t[count]), std::unique_ptr<float[]>(new float[n]),
          std::unique_ptr<float[]>(new float[n])};
}

void quantise_into(const float* x, int64_t blocks, RowCodes& into, int64_t at) {
  quantise_blocks(x, blocks, into.q.get() + at, into.step.get() + at / BLOCK,
                  into.step_times_sum.get() + at / BLOCK);
}

RowCodes quantise(const float* x, int64_t M, int64_t K) {
  RowCodes out = codes_room(M * K);
  quantise_into(x, M * (K / BLOCK), out, 0);
  return out;
}

at::Tensor codes_times_integer_codes(const RowCodes& x, int64_t M, int64_t K,
                                        const at::Tensor& like, const at::Tensor& codes,
                                        const at::Tensor& scales, int64_t bits) {
  check_codes(codes, scales, bits, K);
  auto shape = like.sizes().vec();
  shape.back() = codes.size(0) * COLUMN;
  auto y = at::empty(shape, like.options());
  times_bits(bits, x, M, K, codes, scales, y.data_ptr<float>());
  return y;
}

void integer_columns(const RowCodes& x, int64_t M, int64_t K, const at::Tensor& codes,
                     const at::Tensor& scales, int64_t bits, int64_t begin, int64_t end,
                     float* y) {
  check_codes(codes, scales, bits, K);
  const uint8_t* cp = codes.data_ptr<uint8_t>();
  const auto* sp = reinterpret_cast<const uint16_t*>(scales.data_ptr<at::Half>());
  const int64_t N = codes.size(0) * COLUMN;
  if (bits == 4) columns_times<4>(x, M, K, cp, sp, begin, end, y, N);
  else columns_times<8>(x, M, K, cp, sp, begin, end, y, N);
}

bool integer_available() { return true; }

at::Tensor rows_times_integer_codes(const at::Tensor& x, const at::Tensor& codes,
                                       const at::Tensor& scales, int64_t bits) {
  TORCH_CHECK(x.is_contiguous() && x.scalar_type() == at::kFloat, "contiguous float32 rows");
  const int64_t K = x.size(-1), M = K ? x.numel() / K : 0;
  check_codes(codes, scales, bits, K);
  return codes_times_integer_codes(quantise(x.data_ptr<float>(), M, K), M, K, x, codes, scales,
                                   bits);
}

namespace {

// Gate and up columns [begin, end) of `hidden` (in units of BLOCK outputs: 2 columns of each),
// then silu(gate) * up for them as torch computes it (at::silu_out, then the product), then
// those outputs quantised for the down projection, each row's blocks [begin, end) of `into`.
template <int BITS>
void gated_blocks(const RowCodes& x, int64_t M, int64_t K, const uint8_t* codes,
                  const uint16_t* scales, int64_t hidden, int64_t begin, int64_t end,
                  at::Tensor& gate, at::Tensor& up, RowCodes& into) {
  const int64_t half = hidden / COLUMN, per_block = BLOCK / COLUMN;
  float* g = gate.data_ptr<float>();
  float* u = up.data_ptr<float>();
  columns_times<BITS>(x, M, K, codes, scales, begin * per_block, end * per_block, g, hidden);
  const int64_t up_bytes = half * K * COLUMN * BITS / 8;
  const int64_t up_scales = half * (K / BLOCK) * 2 * COLUMN;
  columns_times<BITS>(x, M, K, codes + up_bytes, scales + up_scales, begin * per_block,
                      end * per_block, u, hidden);
  const int64_t first = begin * BLOCK, width = (end - begin) * BLOCK;
  auto mine = gate.narrow(1, first, width);
  at::silu_out(mine, mine);
  const int64_t blocks = hidden / BLOCK;
  for (int64_t r = 0; r < M; ++r) {
    float* a = g + r * hidden + first;
    const float* b = u + r * hidden + first;
    for (int64_t i = 0; i < width; ++i) a[i] = a[i] * b[i];
    quantise_blocks(a, end - begin, into.q.get() + r * hidden + first,
                    into.step.get() + r * blocks + begin,
                    into.step_times_sum.get() + r * blocks + begin);
  }
}

}  // namespace

at::Tensor integer_gated_mlp(const at::Tensor& x, const at::Tensor& gate_up_codes,
                                const at::Tensor& gate_up_scales, int64_t gate_up_bits,
                                const at::Tensor& down_codes, const at::Tensor& down_scales,
                                int64_t down_bits, int64_t hidden) {
  TORCH_CHECK(x.is_contiguous() && x.scalar_type() == at::kFloat, "contiguous float32 rows");
  const int64_t K = x.size(-1), M = K ? x.numel() / K : 0;
  check_codes(gate_up_codes, gate_up_scales, gate_up_bits, K);
  check_codes(down_codes, down_scales, down_bits, hidden);
  TORCH_CHECK(hidden % BLOCK == 0 && gate_up_codes.size(0) * COLUMN == 2 * hidden,
              "gate and up stacked, each a multiple of ", BLOCK, " wide");
  const RowCodes rows = quantise(x.data_ptr<float>(), M, K);
  auto gate = at::empty({M, hidden}, x.options()), up = at::empty({M, hidden}, x.options());
  RowCodes products = codes_room(M * hidden);
  const uint8_t* cp = gate_up_codes.data_ptr<uint8_t>();
  const auto* sp = reinterpret_cast<const uint16_t*>(gate_up_scales.data_ptr<at::Half>());
  // torch's thread-local state (grad mode, inference mode, ...) for at::silu_out on every thread
  const at::ThreadLocalState state;
  at::parallel_for(0, hidden / BLOCK, 2, [&](int64_t begin, int64_t end) {
    at::ThreadLocalStateGuard guard(state);
    if (gate_up_bits == 4)
      gated_blocks<4>(rows, M, K, cp, sp, hidden, begin, end, gate, up, products);
    else
      gated_blocks<8>(rows, M, K, cp, sp, hidden, begin, end, gate, up, products);
  });
  return codes_times_integer_codes(products, M, hidden, x, down_codes, down_scales, down_bits);
}

#else  // no VNNI: the integer layout is unavailable (layouts.py asks integer_available)

bool integer_available() { return false; }

at::Tensor rows_times_integer_codes(const at::Tensor&, const at::Tensor&,
                                       const at::Tensor&, int64_t) {
  TORCH_CHECK(false, "the integer kernel needs AVX-512 VNNI, which this CPU lacks");
}

RowCodes codes_room(int64_t) {
  TORCH_CHECK(false, "the integer kernel needs AVX-512 VNNI, which this CPU lacks");
}

void quantise_into(const float*, int64_t, RowCodes&, int64_t) {
  TORCH_CHECK(false, "the integer kernel needs AVX-512 VNNI, which this CPU lacks");
}

RowCodes quantise(const float*, int64_t, int64_t) {
  TORCH_CHECK(false, "the integer kernel needs AVX-512 VNNI, which this CPU lacks");
}

at::Tensor codes_times_integer_codes(const RowCodes&, int64_t, int64_t, const at::Tensor&,
                                        const at::Tensor&, const at::Tensor&, int64_t) {
  TORCH_CHECK(false, "the integer kernel needs AVX-512 VNNI, which this CPU lacks");
}

at::Tensor integer_gated_mlp(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                int64_t, const at::Tensor&, const at::Tensor&, int64_t,
                                int64_t) {
  TORCH_CHECK(false, "the integer kernel needs AVX-512 VNNI, which this CPU lacks");
}

void integer_columns(const RowCodes&, int64_t, int64_t, const at::Tensor&,
                     const at::Tensor&, int64_t, int64_t, int64_t, float*) {
  TORCH_CHECK(false, "the integer kernel needs AVX-512 VNNI, which this CPU lacks");
}

#endif

}  // namespace samdec
