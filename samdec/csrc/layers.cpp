// The decoder layers of one llama step, run from C++: samdec/lean.py's ops, the same torch ops
// in the same order on the same tensors, without a Python call around each of them.
//
// Why: with the streamed kernel a 1-token step of the bundled model cost ~17 ms, of which the
// linear layers ~5 and "the rest" (norms, rotary, cache writes, attention calls, residual adds:
// ~1,400 small torch ops a step) ~11, much of it Python dispatching each op (benchmarks/
// verify_cost.json, 2-core Intel Xeon, 2026-12-02). Here each op is one C++ call into the same
// ATen function Python would reach, so the arithmetic cannot change; samdec/lean.py still
// checks every logit against transformers' own forward before the engine uses this path.
//
// What it covers: layers whose linears are all streamed (samdec.kernels.StreamedLinear, q/k/v
// and gate/up stacked, no biases), RMS norms, rotary embeddings given once a step, a cache of
// samdec.kvcache.GrowingLayer buffers with room made beforehand, attention through SDPA with
// grouped key/value heads or through attention.cpp's row kernel where the model runs that
// (samdec.attention). Anything else stays in Python (samdec/lean.py decides).
#include <torch/extension.h>

#include <optional>
#include <vector>

torch::Tensor rows_times_weight(const torch::Tensor& x, const torch::Tensor& packed);
torch::Tensor rows_times_codes(const torch::Tensor& x, const torch::Tensor& codes,
                               const torch::Tensor& scales, int64_t bits);
torch::Tensor attend(const torch::Tensor& query, const torch::Tensor& key,
                     const torch::Tensor& value, const std::optional<torch::Tensor>& mask,
                     bool causal, double scale);  // attention.cpp

namespace {

// The kernel as a linear layer: codes and scales (bits 4 or 8) or float32 packed weights
// (bits 0), inputs (..., in) of at most samdec.streaming.STREAM_ROWS rows, zero columns added
// up to the padded width the weights were packed at, padded outputs cut. The one place both
// StreamedLinear.forward and Layers call the kernel from.
struct Linear {
  torch::Tensor codes, scales, packed;
  int64_t bits = 0, columns = 0, out = 0;

  Linear() = default;
  Linear(const std::vector<torch::Tensor>& weights, int64_t bits, int64_t out)
      : bits(bits), out(out) {
    TORCH_CHECK(weights.size() == (bits ? 2u : 1u), "codes and scales, or one packed weight");
    if (bits) codes = weights[0], scales = weights[1];
    else packed = weights[0];
    // pack's layout, (columns / COLUMN, width / LANES, COLUMN, LANES), in bytes for codes: two
    // 4-bit codes a byte.
    const auto& w = weights[0];
    TORCH_CHECK(w.dim() == 4, "weights packed by samdec.streaming");
    columns = w.size(1) * w.size(3) * (bits == 4 ? 2 : 1);
  }

  torch::Tensor operator()(const torch::Tensor& x) const {
    auto rows = x.reshape({-1, x.size(-1)});
    TORCH_CHECK(rows.size(1) <= columns, "more input columns than the weights have");
    if (rows.size(1) < columns) rows = at::constant_pad_nd(rows, {0, columns - rows.size(1)});
    rows = rows.contiguous();
    auto y = bits ? rows_times_codes(rows, codes, scales, bits) : rows_times_weight(rows, packed);
    if (y.size(1) != out) y = y.slice(1, 0, out);
    auto shape = x.sizes().vec();
    shape.back() = out;
    return y.reshape(shape);
  }
};

struct Layer {
  torch::Tensor input_norm, post_norm;  // RMS norm weights
  double input_eps = 0, post_eps = 0;
  Linear qkv, o, gate_up, down;
};

// lean._rms_norm for float32 states.
torch::Tensor rms_norm(const torch::Tensor& weight, double eps, const torch::Tensor& hidden) {
  const auto variance = hidden.pow(2).mean({-1}, true);
  return weight * (hidden * torch::rsqrt(variance + eps));
}

// lean._rotate: cos and sin already carry a head axis.
torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const auto turned = torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
  return (x * cos) + (turned * sin);
}

struct Layers {
  std::vector<Layer> layers;
  std::vector<int64_t> sizes;  // q, k and v widths of the stacked projection
  int64_t head_dim = 0, mlp_width = 0;
  double scaling = 1;
  bool grouped_heads = false;  // SDPA's enable_gqa: fewer key/value heads than query heads
  bool row_attention = false;  // attention.cpp's kernel instead of SDPA (samdec.attention)

  void add(torch::Tensor input_norm, double input_eps, torch::Tensor post_norm, double post_eps,
           Linear qkv, Linear o, Linear gate_up, Linear down) {
    layers.push_back({input_norm, post_norm, input_eps, post_eps, qkv, o, gate_up, down});
  }

  // lean.LeanForward._attention: keys and values written at `length` of each layer's room
  // (GrowingLayer's buffers), attention over the first length + tokens.
  torch::Tensor attention(const Layer& layer, const torch::Tensor& x, const torch::Tensor& cos,
                          const torch::Tensor& sin, const std::optional<torch::Tensor>& mask,
                          bool causal, const torch::Tensor& room_keys,
                          const torch::Tensor& room_values, int64_t length,
                          std::vector<torch::Tensor>& seen) const {
    const auto input_shape = x.sizes().slice(0, x.dim() - 1);
    std::vector<int64_t> shape(input_shape.begin(), input_shape.end());
    shape.push_back(-1);
    shape.push_back(head_dim);
    auto qkv = layer.qkv(x).split_with_sizes(sizes, -1);
    auto query = rotate(qkv[0].view(shape).transpose(1, 2), cos, sin);
    auto key = rotate(qkv[1].view(shape).transpose(1, 2), cos, sin);
    const auto value = qkv[2].view(shape).transpose(1, 2);
    const int64_t tokens = key.size(-2), end = length + tokens;
    room_keys.narrow(-2, length, tokens).copy_(key);
    room_values.narrow(-2, length, tokens).copy_(value);
    key = room_keys.narrow(-2, 0, end);
    auto all_values = room_values.narrow(-2, 0, end);
    seen.push_back(key);
    seen.push_back(all_values);
    const int64_t q_length = query.size(2);
    if (causal && key.size(2) > q_length) {  // transformers' cut for flash attention's sake
      key = key.slice(2, 0, q_length);
      all_values = all_values.slice(2, 0, q_length);
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

  // PackedMLP.forward with SiLU.
  torch::Tensor mlp(const Layer& layer, const torch::Tensor& x) const {
    const auto gate_up = layer.gate_up(x).split(mlp_width, -1);
    return layer.down(at::silu(gate_up[0]) * gate_up[1]);
  }

  // The hidden states after every layer (before the final norm), and each layer's cached keys
  // and values as views of its room (2 per layer), for the cache to hold.
  std::tuple<torch::Tensor, std::vector<torch::Tensor>> run(
      torch::Tensor hidden, const torch::Tensor& cos, const torch::Tensor& sin,
      const std::optional<torch::Tensor>& mask, bool causal,
      const std::vector<torch::Tensor>& room_keys, const std::vector<torch::Tensor>& room_values,
      int64_t length) const {
    TORCH_CHECK(room_keys.size() == layers.size() && room_values.size() == layers.size());
    std::vector<torch::Tensor> seen;
    seen.reserve(2 * layers.size());
    for (size_t i = 0; i < layers.size(); ++i) {
      const Layer& layer = layers[i];
      hidden = hidden + attention(layer, rms_norm(layer.input_norm, layer.input_eps, hidden), cos,
                                  sin, mask, causal, room_keys[i], room_values[i], length, seen);
      hidden = hidden + mlp(layer, rms_norm(layer.post_norm, layer.post_eps, hidden));
    }
    return {hidden, seen};
  }
};

}  // namespace

void bind_layers(pybind11::module_& m) {
  pybind11::class_<Linear>(m, "Linear")
      .def(pybind11::init<std::vector<torch::Tensor>, int64_t, int64_t>())
      .def("__call__", &Linear::operator(), pybind11::call_guard<pybind11::gil_scoped_release>());
  pybind11::class_<Layers>(m, "Layers")
      .def(pybind11::init([](std::vector<int64_t> sizes, int64_t head_dim, int64_t mlp_width,
                             double scaling, bool grouped_heads, bool row_attention) {
        Layers l;
        l.sizes = sizes, l.head_dim = head_dim, l.mlp_width = mlp_width;
        l.scaling = scaling, l.grouped_heads = grouped_heads, l.row_attention = row_attention;
        return l;
      }))
      .def("add", &Layers::add)
      .def("run", &Layers::run, pybind11::call_guard<pybind11::gil_scoped_release>());
}
