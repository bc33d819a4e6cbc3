// The decoder layers of one llama step, run from C++: samdec/runtime/forward.py's ops, the
// same torch ops in the same order on the same tensors, without a Python call around each of
// them.
//
// Why: once the streamed kernel made the linear layers cheap, most of a 1-token step of the
// bundled model was "the rest" (norms, rotary, cache writes, attention calls, residual adds:
// ~1,400 small torch ops a step), much of it Python dispatching each op. Here each op is one
// C++ call into the same ATen function Python would reach, so the arithmetic cannot change;
// samdec/runtime/forward.py still checks every logit against transformers' own forward before
// the engine uses this path.
//
// Two element-by-element parts are written out instead (`rms_norm` but its sum,
// `rotate_and_store`): the same float multiplies, adds, square roots and divisions per element
// as torch's ops, in ~40 calls a layer fewer. The reductions (the norm's sum) and the library
// functions (SiLU's exponential) stay torch's, whose order and approximations this file does
// not know. Rotary embeddings and cache writes by hand made a step faster than the same layers
// through torch's ops at every step size measured, the more so the more tokens a step has.
//
// What it covers: layers whose linears are all streamed (samdec.runtime.layouts.StreamedLinear,
// q/k/v and gate/up stacked, no biases), RMS norms, rotary embeddings given once a step, a cache
// of samdec.runtime.kvcache.GrowingLayer buffers with room made beforehand, attention through
// SDPA with grouped key/value heads or through attention.cpp's row kernel where the model runs
// that (samdec.runtime.attention). Anything else stays in Python (samdec/runtime/forward.py
// decides).
#include "kernels.h"

#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/scaled_dot_product_attention.h>
#include <ATen/ops/silu.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

namespace samdec {

Linear::Linear(const std::vector<at::Tensor>& weights, int64_t bits, int64_t out,
               bool integer)
    : bits(bits), out(out), integer(integer) {
  TORCH_CHECK(weights.size() == (bits ? 2u : 1u), "codes and scales, or one packed weight");
  TORCH_CHECK(!integer || bits, "the integer kernel multiplies codes only");
  if (bits) codes = weights[0], scales = weights[1];
  else packed = weights[0];
  const auto& w = weights[0];
  if (integer) {  // pack_integer's layout, (columns / COLUMN, width / BLOCK, ...) in bytes
    TORCH_CHECK(w.dim() == 5, "codes packed by samdec.runtime.coded.pack_integer");
    columns = w.size(1) * BLOCK;
    return;
  }
  // pack's layout, (columns / COLUMN, width / LANES, COLUMN, LANES), in bytes for codes: two
  // 4-bit codes a byte.
  TORCH_CHECK(w.dim() == 4, "weights packed by samdec.runtime.coded");
  columns = w.size(1) * w.size(3) * (bits == 4 ? 2 : 1);
}

at::Tensor Linear::operator()(const at::Tensor& x) const {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) <= columns, "more input columns than the weights have");
  auto rows = x.size(-1) < columns ? at::constant_pad_nd(x, {0, columns - x.size(-1)}) : x;
  rows = rows.contiguous();  // no torch call when it already is
  auto y = integer ? rows_times_integer_codes(rows, codes, scales, bits)
           : bits  ? rows_times_codes(rows, codes, scales, bits)
                   : rows_times_weight(rows, packed);
  return y.size(-1) == out ? y : y.narrow(-1, 0, out);
}

namespace {

// forward._rms_norm for float32 states, hidden.pow(2).mean(-1, keepdim) then the rest: the sum
// of squares by torch's own reduction (whose order is torch's); everything else element by
// element as torch's ops round it: the squares (torch's pow(2) is x * x), the sum divided by
// the width (as torch's mean divides its sum), plus epsilon in float, 1 / sqrt of that (torch's
// rsqrt), the state times it, the weight times that. One torch call a norm instead of ~12:
// against pow and mean by torch, the same at a few tokens a step and faster at more.
at::Tensor rms_norm(const at::Tensor& weight, double eps, const at::Tensor& hidden) {
  TORCH_CHECK(hidden.is_contiguous() && weight.is_contiguous() && weight.dim() == 1 &&
                  weight.scalar_type() == at::kFloat &&
                  hidden.scalar_type() == at::kFloat,
              "contiguous float32 states and norm weights");
  const int64_t width = hidden.size(-1), rows = hidden.numel() / width;
  const float* h = hidden.data_ptr<float>();
  auto squares = at::empty_like(hidden);
  float* sq = squares.data_ptr<float>();
  for (int64_t i = 0; i < rows * width; ++i) sq[i] = h[i] * h[i];
  const auto sums = squares.sum({-1}, true).contiguous();
  auto out = at::empty_like(hidden);
  const float* w = weight.data_ptr<float>();
  const float* total = sums.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const float epsilon = static_cast<float>(eps), count = static_cast<float>(width);
  for (int64_t r = 0; r < rows; ++r) {
    const float inverse = 1.0f / std::sqrt(total[r] / count + epsilon);
    for (int64_t i = 0; i < width; ++i) o[r * width + i] = w[i] * (h[r * width + i] * inverse);
  }
  return out;
}

// forward._rotate of one head's row: x * cos + turned * sin, turned = (-x[half:], x[:half]),
// each product and the sum rounded to float as torch's ops round them (-ffp-contract=off
// keeps them apart), so the same bits.
inline void rotate_row(const float* x, const float* cos, const float* sin, int64_t width,
                       float* out) {
  const int64_t half = width / 2;
  for (int64_t i = 0; i < half; ++i) out[i] = x[i] * cos[i] + (-x[i + half]) * sin[i];
  for (int64_t i = half; i < width; ++i) out[i] = x[i] * cos[i] + x[i - half] * sin[i];
}

}  // namespace

void Layers::add(at::Tensor input_norm, double input_eps, at::Tensor post_norm,
                 double post_eps, Linear qkv, Linear o, Linear gate_up, Linear down) {
  layers.push_back({input_norm, post_norm, input_eps, post_eps, qkv, o, gate_up, down});
}

// The step's queries rotated, (batch, heads, tokens, width), and its keys rotated and values
// as they are written into the cache's room at `length`: forward.LeanForward._attention's
// rotations and GrowingLayer.update's writes in one pass over `qkv` (batch, tokens, q | k |
// v), where torch's ops took ~20 calls a layer. cos and sin: (1 or batch, 1, tokens, width).
at::Tensor Layers::rotate_and_store(const at::Tensor& qkv, const at::Tensor& cos,
                                       const at::Tensor& sin, const at::Tensor& room_keys,
                                       const at::Tensor& room_values, int64_t length) const {
  auto query = query_room(qkv, cos, sin, room_keys, room_values, length);
  rotate_and_store_heads(qkv, cos, sin, room_keys, room_values, length, query, 0,
                         qkv.size(2) / head_dim);
  return query;
}

// rotate_and_store's checks, and room for its queries.
at::Tensor Layers::query_room(const at::Tensor& qkv, const at::Tensor& cos,
                                 const at::Tensor& sin, const at::Tensor& room_keys,
                                 const at::Tensor& room_values, int64_t length) const {
  const int64_t batch = qkv.size(0), tokens = qkv.size(1), width = qkv.size(2);
  const int64_t heads = sizes[0] / head_dim, kv_heads = sizes[1] / head_dim;
  TORCH_CHECK(qkv.dim() == 3 && qkv.stride(2) == 1 && sizes[1] == sizes[2] &&
                  width == sizes[0] + sizes[1] + sizes[2] &&
                  qkv.scalar_type() == at::kFloat,
              "stacked float32 q, k and v");
  for (const auto* t : {&cos, &sin})
    TORCH_CHECK(t->dim() == 4 && t->stride(3) == 1 && t->size(2) == tokens &&
                    t->size(3) == head_dim && t->scalar_type() == at::kFloat,
                "rotary tables (1 or batch, 1, tokens, width)");
  for (const auto* t : {&room_keys, &room_values})
    TORCH_CHECK(t->stride(3) == 1 && t->size(0) == batch && t->size(1) == kv_heads &&
                    t->size(2) >= length + tokens,
                "a cache room (batch, key heads, room, width)");
  return at::empty({batch, heads, tokens, head_dim}, qkv.options());
}

// rotate_and_store for the stacked heads [first, last) of `qkv` (query heads, then key heads,
// then value heads, each head_dim wide), into `query` and the cache's room.
void Layers::rotate_and_store_heads(const at::Tensor& qkv, const at::Tensor& cos,
                                    const at::Tensor& sin, const at::Tensor& room_keys,
                                    const at::Tensor& room_values, int64_t length,
                                    at::Tensor& query, int64_t first, int64_t last) const {
  const int64_t batch = qkv.size(0), tokens = qkv.size(1);
  const int64_t heads = sizes[0] / head_dim, kv_heads = sizes[1] / head_dim;
  const float* src = qkv.data_ptr<float>();
  float* q = query.data_ptr<float>();
  float* keys = room_keys.data_ptr<float>();
  float* values = room_values.data_ptr<float>();
  const float* cos_table = cos.data_ptr<float>();
  const float* sin_table = sin.data_ptr<float>();
  const auto& ks = room_keys.strides();
  const auto& vs = room_values.strides();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < tokens; ++t) {
      const float* row = src + b * qkv.stride(0) + t * qkv.stride(1);
      const int64_t cb = cos.size(0) == 1 ? 0 : b, sb = sin.size(0) == 1 ? 0 : b;
      const float* c = cos_table + cb * cos.stride(0) + t * cos.stride(2);
      const float* s = sin_table + sb * sin.stride(0) + t * sin.stride(2);
      const int64_t at = length + t;
      for (int64_t h = first; h < last; ++h) {
        const float* in = row + h * head_dim;
        if (h < heads) {
          rotate_row(in, c, s, head_dim, q + ((b * heads + h) * tokens + t) * head_dim);
        } else if (h < heads + kv_heads) {
          const int64_t g = h - heads;
          rotate_row(in, c, s, head_dim, keys + b * ks[0] + g * ks[1] + at * ks[2]);
        } else {
          const int64_t g = h - heads - kv_heads;
          std::copy_n(in, head_dim, values + b * vs[0] + g * vs[1] + at * vs[2]);
        }
      }
    }
}

// The qkv projection, rotated and stored: in the integer layout each thread computes whole
// heads' columns and rotates and stores those heads itself, instead of one thread reading
// every column back from the other's cache (on these VMs, sometimes across chiplets); else
// the projection, then rotate_and_store. The same bits either way: the same columns, the same
// rotation per element.
at::Tensor Layers::project(const Layer& layer, const at::Tensor& x, const at::Tensor& cos,
                              const at::Tensor& sin, const at::Tensor& room_keys,
                              const at::Tensor& room_values, int64_t length) const {
  const Linear& qkv = layer.qkv;
  if (!qkv.integer_of(x.size(-1)) || head_dim % COLUMN != 0 || !x.is_contiguous() ||
      x.dim() != 3)
    return rotate_and_store(qkv(x), cos, sin, room_keys, room_values, length);
  const int64_t K = x.size(-1), M = x.numel() / K, N = qkv.out;
  const RowCodes codes = quantise(x.data_ptr<float>(), M, K);
  auto out = at::empty({x.size(0), x.size(1), N}, x.options());
  auto query = query_room(out, cos, sin, room_keys, room_values, length);
  const int64_t per_head = head_dim / COLUMN;
  at::parallel_for(0, N / head_dim, 1, [&](int64_t first, int64_t last) {
    integer_columns(codes, M, K, qkv.codes, qkv.scales, qkv.bits, first * per_head,
                    last * per_head, out.data_ptr<float>());
    rotate_and_store_heads(out, cos, sin, room_keys, room_values, length, query, first, last);
  });
  return query;
}

// forward.LeanForward._attention: keys and values written at `length` of each layer's room
// (GrowingLayer's buffers), attention over the first length + tokens.
at::Tensor Layers::attention(const Layer& layer, const at::Tensor& x,
                                const at::Tensor& cos, const at::Tensor& sin,
                                const std::optional<at::Tensor>& mask, bool causal,
                                const at::Tensor& room_keys, const at::Tensor& room_values,
                                int64_t length, std::vector<at::Tensor>& seen) const {
  const auto input_shape = x.sizes().slice(0, x.dim() - 1);
  const auto query = project(layer, x, cos, sin, room_keys, room_values, length);
  const int64_t end = length + query.size(2);
  auto key = room_keys.narrow(-2, 0, end);
  auto all_values = room_values.narrow(-2, 0, end);
  seen.push_back(key);
  seen.push_back(all_values);
  const int64_t q_length = query.size(2);
  if (causal && key.size(2) > q_length) {  // transformers' cut for flash attention's sake
    key = key.slice(2, 0, q_length);
    all_values = all_values.slice(2, 0, q_length);
  }
  const Linear& o = layer.o;
  const int64_t width = query.size(1) * head_dim, rows = query.size(0) * query.size(2);
  // each thread quantises the rows it attended for the output projection (integer.cpp)
  if (row_attention && o.integer_of(width) && head_dim % BLOCK == 0) {
    RowCodes codes = codes_room(rows * width);
    attend(query, key, all_values, mask, causal, scaling, &codes);
    return codes_times_integer_codes(codes, rows, width, x, o.codes, o.scales, o.bits);
  }
  auto out = row_attention
                 ? attend(query, key, all_values, mask, causal, scaling)
                 : at::scaled_dot_product_attention(query, key, all_values, mask, 0.0, causal,
                                                    scaling, grouped_heads)
                       .transpose(1, 2)
                       .contiguous();
  std::vector<int64_t> flat(input_shape.begin(), input_shape.end());
  flat.push_back(-1);
  return layer.o(out.reshape(flat).contiguous());
}

// PackedMLP.forward with SiLU; in the integer layout integer.cpp's gated MLP, the same bits.
at::Tensor Layers::mlp(const Layer& layer, const at::Tensor& x) const {
  const Linear &gu = layer.gate_up, &down = layer.down;
  if (gu.integer_of(x.size(-1)) && gu.out == 2 * mlp_width && down.integer_of(mlp_width) &&
      x.is_contiguous())
    return integer_gated_mlp(x, gu.codes, gu.scales, gu.bits, down.codes, down.scales, down.bits,
                             mlp_width);
  const auto gate_up = layer.gate_up(x).split(mlp_width, -1);
  return layer.down(at::silu(gate_up[0]) * gate_up[1]);
}

// Layer by layer: the residual stream plus attention, then plus the MLP, each after its norm.
std::tuple<at::Tensor, std::vector<at::Tensor>> Layers::run(
    at::Tensor hidden, const at::Tensor& cos, const at::Tensor& sin,
    const std::optional<at::Tensor>& mask, bool causal,
    const std::vector<at::Tensor>& room_keys, const std::vector<at::Tensor>& room_values,
    int64_t length) const {
  TORCH_CHECK(room_keys.size() == layers.size() && room_values.size() == layers.size());
  std::vector<at::Tensor> seen;
  seen.reserve(2 * layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& layer = layers[i];
    hidden = hidden + attention(layer, rms_norm(layer.input_norm, layer.input_eps, hidden), cos,
                                sin, mask, causal, room_keys[i], room_values[i], length, seen);
    hidden = hidden + mlp(layer, rms_norm(layer.post_norm, layer.post_eps, hidden));
  }
  return {hidden, seen};
}

}  // namespace samdec
