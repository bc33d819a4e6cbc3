// What the native kernels' sources share: the units they work in and the entry points one
// source calls in another or bindings.cpp hands to Python. Everything here is declared once;
// no source copies a prototype, and Python reads the constants from the compiled module
// (bindings.cpp exports them) instead of keeping its own copies.
//
// streamed.cpp: the streamed linear kernel (`pack`, `rows_times_weight`, `rows_times_codes`,
// the chunking switch). layers.cpp: a llama model's decoder layers run from C++ (`Linear`,
// `Layers`). integer.cpp: the integer linear kernel (`rows_times_integer_codes`) and a gated MLP
// through it (`integer_gated_mlp`).
// attention.cpp: attention computed one query row at a time (`attend`).
#pragma once

// ATen's tensor alone, not <torch/extension.h> (all of torch's C++ API, pybind11 with it): a
// first setup waits on this compile, and each unit then takes a fraction of the time and
// memory. Only bindings.cpp includes pybind11.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <immintrin.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

namespace samdec {

// Floats in one AVX-512 vector: the width of every piece the kernels load, multiply and add.
inline constexpr int64_t LANES = 16;

// Lane t: `op` over the 16 lanes of v[t] (attention's scores, the integer kernel's block maxima
// and code sums). Every lane goes through the same tree (lanes l and l + 8, then l + 4, l + 2,
// l + 1), so a result does not depend on which lane, or which vector, it came from.
template <typename Op>
inline __m512 across_lanes(const __m512* v, Op op) {
  __m512 c[8], e[4], g[2];
  for (int i = 0; i < 8; ++i)  // lanes 0-7: v[2i]'s halves, 8-15: v[2i + 1]'s
    c[i] = op(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
              _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; ++i)  // quad q: 4 partial results of v[4i + q]
    e[i] = op(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0x88),
              _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0xDD));
  for (int i = 0; i < 2; ++i) {  // quad q: 2 of v[8i + q], then of v[8i + 4 + q]
    const __m512d a = _mm512_castps_pd(e[2 * i]), b = _mm512_castps_pd(e[2 * i + 1]);
    g[i] = op(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
              _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  // lane 4q + s: the result of v[q + 4s]
  const __m512 r = op(_mm512_shuffle_ps(g[0], g[1], 0x88), _mm512_shuffle_ps(g[0], g[1], 0xDD));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, r);
}

// --- streamed.cpp -------------------------------------------------------------------------

// Weight rows in one packed column (see `pack`): one contiguous run of memory that a tile
// reads from start to end, so that the prefetcher sees one stream.
inline constexpr int64_t COLUMN = 16;
// Weight columns that share one quantisation step and offset: a GGUF block (Q4_1, Q8_0, ...),
// and so the unit in which codes' scales are stored and 4-bit codes are paired into bytes.
inline constexpr int64_t BLOCK = 32;
// A long prompt's rows go through the columns this many at a time, so that a block's rows stay
// in a core's L2 while every column passes them (blocks of more rows made a long prefill
// slower).
inline constexpr int64_t ROW_BLOCK = 64;
// Row counts whose chunking is tuned per machine are 2 to LAST_TUNED_ROWS, the last standing
// for every larger step (one row never goes in chunks). See `set_chunked_rows`.
inline constexpr int64_t LAST_TUNED_ROWS = 8;

// weight (N, K), N a multiple of COLUMN and K of LANES -> packed as
// [N / COLUMN][K / LANES][COLUMN][LANES]. Codes (uint8) are packed the same way.
at::Tensor pack(const at::Tensor& weight);

// x (..., K) float32 contiguous, packed from `pack` -> x @ W.T, (..., N).
at::Tensor rows_times_weight(const at::Tensor& x, const at::Tensor& packed);

// x (..., K) float32 contiguous, codes (uint8, `bits` 4 or 8 a code) packed from `pack`,
// scales [N / COLUMN][K / BLOCK][2][COLUMN] (steps, then offsets) -> (..., N), the same bits
// as rows_times_weight on the weights the codes decode to.
at::Tensor rows_times_codes(const at::Tensor& x, const at::Tensor& codes,
                               const at::Tensor& scales, int64_t bits);

// The row counts whose chunking is tuned: 2 to LAST_TUNED_ROWS.
std::vector<int64_t> tuned_rows();

// Make steps of these row counts (of tuned_rows()) go through each column in chunks, the
// others through whole columns; get_chunked_rows() reads the setting back. Either way a row's
// result has the same bits.
void set_chunked_rows(const std::vector<int64_t>& rows);
std::vector<int64_t> get_chunked_rows();

// --- integer.cpp --------------------------------------------------------------------------

// Activations as the integer kernel's codes, row-major as the floats they come from: per block
// of BLOCK floats, BLOCK 8-bit codes (q), the step d and d times the codes' sum.
struct RowCodes {
  std::unique_ptr<int8_t[]> q;
  std::unique_ptr<float[]> step, step_times_sum;
};

// Room for the codes of `count` floats (a multiple of BLOCK).
RowCodes codes_room(int64_t count);

// `blocks` blocks of floats from x as codes into `into`, from float offset `at` (a multiple of
// BLOCK): the same numbers whichever call, or thread, quantises a block.
void quantise_into(const float* x, int64_t blocks, RowCodes& into, int64_t at);

// x (M, K), contiguous, as codes: every block of every row.
RowCodes quantise(const float* x, int64_t M, int64_t K);

// x, M rows of K activations as codes, times codes packed by pack_integer: a new tensor shaped
// as `like` but N wide, rows_times_integer_codes' numbers for the floats x came from.
at::Tensor codes_times_integer_codes(const RowCodes& x, int64_t M, int64_t K,
                                        const at::Tensor& like, const at::Tensor& codes,
                                        const at::Tensor& scales, int64_t bits);

// Columns [begin, end) (in units of COLUMN outputs) of x times codes packed by pack_integer,
// into y (M rows, as wide as the codes' outputs), on the calling thread: what
// codes_times_integer_codes computes for those columns.
void integer_columns(const RowCodes& x, int64_t M, int64_t K, const at::Tensor& codes,
                     const at::Tensor& scales, int64_t bits, int64_t begin, int64_t end,
                     float* y);

// Whether this build has the integer kernel (it needs AVX-512 VNNI).
bool integer_available();

// x (..., K) float32 contiguous, codes (uint8, `bits` 4 or 8 a code) packed by
// samdec.runtime.coded.pack_integer as [N / COLUMN][K / BLOCK][BLOCK / 4 (8 bits) or
// BLOCK / 8 (4 bits)][COLUMN][4], scales as rows_times_codes' but float16 -> (..., N): x
// quantised to 8
// bits per row and block, integer products, float32 sums over the blocks in k order.
at::Tensor rows_times_integer_codes(const at::Tensor& x, const at::Tensor& codes,
                                       const at::Tensor& scales, int64_t bits);

// A gated MLP, down(silu(gate(x)) * up(x)), with gate and up stacked in one matrix of integer
// codes (each `hidden` wide) and down another: rows_times_integer_codes' numbers, bit for bit,
// with each thread applying silu and the product to the gate and up columns it computed and
// quantising them itself, instead of one thread reading every column back from the other's
// cache (on these VMs, sometimes across chiplets).
at::Tensor integer_gated_mlp(const at::Tensor& x, const at::Tensor& gate_up_codes,
                                const at::Tensor& gate_up_scales, int64_t gate_up_bits,
                                const at::Tensor& down_codes, const at::Tensor& down_scales,
                                int64_t down_bits, int64_t hidden);

// --- attention.cpp ------------------------------------------------------------------------

// The widest head `attend` takes: it is compiled for every head of 1 to MAX_HEAD_WIDTH / LANES
// pieces, each count its own instantiation; heads must be a multiple of LANES wide.
inline constexpr int64_t MAX_HEAD_WIDTH = 256;

// query (B, H, Q, D), key and value (B, KVH, KV, D) with H a multiple of KVH (grouped heads
// read in place), each with its last axis contiguous and keys and values laid out alike; mask
// None or (1 or B, 1 or H, Q, KV), bool (true: may attend) or float32 (added to the scores);
// causal: query row i sees keys 0..i (SDPA's is_causal). -> (B, Q, H, D) contiguous, what
// transformers' attention functions return.
// With `codes`, each output row is also quantised into them (integer.cpp's codes of the
// (B * Q, H * D) output), by the thread that computed it: the integer layout's output
// projection then reads codes instead of floats another core wrote.
at::Tensor attend(const at::Tensor& query, const at::Tensor& key,
                     const at::Tensor& value, const std::optional<at::Tensor>& mask,
                     bool causal, double scale, RowCodes* codes = nullptr);

// --- layers.cpp ---------------------------------------------------------------------------

// The streamed kernel as a linear layer: codes and scales (bits 4 or 8) or float32 packed
// weights (bits 0), inputs (..., in) of any number of rows, zero columns added up to the padded
// width the weights were packed at, padded outputs cut. The one place both
// StreamedLinear.forward and Layers call the kernel from.
//
// integer: the codes are packed for integer.cpp (`pack_integer`), which multiplies them in
// integers: the "integer" layout's numerics, exact to themselves, not to float32.
struct Linear {
  at::Tensor codes, scales, packed;
  int64_t bits = 0, columns = 0, out = 0;
  bool integer = false;

  Linear() = default;
  Linear(const std::vector<at::Tensor>& weights, int64_t bits, int64_t out,
         bool integer = false);
  at::Tensor operator()(const at::Tensor& x) const;
  // Whether integer.cpp can take this layer's inputs as codes, `in` wide: integer codes with
  // no padding on either side.
  bool integer_of(int64_t in) const {
    return integer && columns == in && out == codes.size(0) * COLUMN;
  }
};

// One decoder layer's weights.
struct Layer {
  at::Tensor input_norm, post_norm;  // RMS norm weights
  double input_eps = 0, post_eps = 0;
  Linear qkv, o, gate_up, down;
};

// A model's decoder layers, run for one step by `run`: samdec/runtime/forward.py's ops in the
// same order on the same tensors (layers.cpp says what it covers and why).
struct Layers {
  std::vector<Layer> layers;
  std::vector<int64_t> sizes;  // q, k and v widths of the stacked projection
  int64_t head_dim = 0, mlp_width = 0;
  double scaling = 1;
  bool grouped_heads = false;  // SDPA's enable_gqa: fewer key/value heads than query heads
  bool row_attention = false;  // attention.cpp's kernel instead of SDPA (samdec.runtime.attention)

  void add(at::Tensor input_norm, double input_eps, at::Tensor post_norm, double post_eps,
           Linear qkv, Linear o, Linear gate_up, Linear down);

  // The hidden states after every layer (before the final norm), and each layer's cached keys
  // and values as views of its room (2 per layer), for the cache to hold.
  std::tuple<at::Tensor, std::vector<at::Tensor>> run(
      at::Tensor hidden, const at::Tensor& cos, const at::Tensor& sin,
      const std::optional<at::Tensor>& mask, bool causal,
      const std::vector<at::Tensor>& room_keys, const std::vector<at::Tensor>& room_values,
      int64_t length) const;

  // The parts of `run`, each defined and documented in layers.cpp.
  at::Tensor rotate_and_store(const at::Tensor& qkv, const at::Tensor& cos,
                                 const at::Tensor& sin, const at::Tensor& room_keys,
                                 const at::Tensor& room_values, int64_t length) const;
  at::Tensor query_room(const at::Tensor& qkv, const at::Tensor& cos,
                           const at::Tensor& sin, const at::Tensor& room_keys,
                           const at::Tensor& room_values, int64_t length) const;
  void rotate_and_store_heads(const at::Tensor& qkv, const at::Tensor& cos,
                              const at::Tensor& sin, const at::Tensor& room_keys,
                              const at::Tensor& room_values, int64_t length,
                              at::Tensor& query, int64_t first, int64_t last) const;
  at::Tensor project(const Layer& layer, const at::Tensor& x, const at::Tensor& cos,
                        const at::Tensor& sin, const at::Tensor& room_keys,
                        const at::Tensor& room_values, int64_t length) const;
  at::Tensor attention(const Layer& layer, const at::Tensor& x, const at::Tensor& cos,
                          const at::Tensor& sin, const std::optional<at::Tensor>& mask,
                          bool causal, const at::Tensor& room_keys,
                          const at::Tensor& room_values, int64_t length,
                          std::vector<at::Tensor>& seen) const;
  at::Tensor mlp(const Layer& layer, const at::Tensor& x) const;
};

}  // namespace samdec
