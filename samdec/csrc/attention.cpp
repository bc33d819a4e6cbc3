// Attention for the few query rows of a decoding or verify step, each row computed on its own.
//
// Why its own: torch's CPU attention (SDPA's flash kernel) cost 64 us a layer for one query
// row of the bundled model (9 heads, 300 cached tokens) and 165 us for 8, most of it set-up
// around very little arithmetic: 1.9 ms of a 13 ms step, 4.6 of 35 (profiler, 2-core AMD
// EPYC, 2026-12-03). samdec.attention has the measurements of this one.
//
// Exactness: a query row's output is computed from its own query, the keys and values it may
// see and its mask row, in one fixed order (scores key by key, each a fused multiply-add
// chain over the head's width and one horizontal sum; exponentials and their sum in pieces
// of 16 keys; the weighted values key by key; one division), whatever other rows, heads or
// sequences share the call. So plain decoding and verification give a row the same bits.
// It is not SDPA's summation order, so its outputs differ from SDPA's in the last bits: a
// model runs this attention everywhere or nowhere (samdec.attention registers it with
// transformers so that the model's own forward uses it too).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

namespace {

constexpr int64_t LANES = 16, MAX_WIDTH = 256;

// e^x for 16 floats x <= 0 (scores minus their maximum), -inf giving 0: x = n ln2 + r with
// |r| <= ln2 / 2, e^r by the classic degree-7 polynomial (Cephes' expf coefficients), then
// times 2^n. Within 2 ulp of e^x; every row uses the same function, so only accuracy rides on
// it, never exactness.
inline __m512 exp_nonpositive(__m512 x) {
  const __mmask16 zero = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~zero), _mm512_scalef_ps(p, n));
}

// Lane t: the sum of the 16 lanes of v[t]. Every lane's sum is the same tree (lanes l and
// l + 8, then l + 4, l + 2, l + 1), so a key's score does not depend on which lane it had.
inline __m512 sums_of(const __m512* v) {
  __m512 c[8], e[4], g[2];
  for (int i = 0; i < 8; ++i)  // lanes 0-7: v[2i]'s halves added, 8-15: v[2i + 1]'s
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; ++i)  // quad q: 4 partial sums of v[4i + q]
    e[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0xDD));
  for (int i = 0; i < 2; ++i) {  // quad q: 2 partial sums of v[8i + q], then of v[8i + 4 + q]
    const __m512d a = _mm512_castps_pd(e[2 * i]), b = _mm512_castps_pd(e[2 * i + 1]);
    g[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  // lane 4q + s: the sum of v[q + 4s]
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(g[0], g[1], 0x88),
                                 _mm512_shuffle_ps(g[0], g[1], 0xDD));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, r);
}

// Where a row's mask comes from: none, a causal cut, or a row of a boolean (true: may attend)
// or an additive float mask.
struct MaskRow {
  const bool* allow = nullptr;
  const float* add = nullptr;
  int64_t stride = 1;  // between keys
};

// One query row of one head: `q` (width floats), keys and values `rows` rows of width floats
// `step` and `value_step` apart, `end` keys visible (the causal cut), `scores` room for `end`
// floats rounded up to 16.
void attend_row(const float* q, const float* keys, const float* values, int64_t step,
                int64_t value_step, int64_t end, int64_t width, float scale, MaskRow mask,
                float* scores, float* out) {
  const int64_t pieces = width / LANES;
  __m512 query[MAX_WIDTH / LANES];
  for (int64_t p = 0; p < pieces; ++p) query[p] = _mm512_loadu_ps(q + p * LANES);
  const __m512 never = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 most = never;
  for (int64_t j0 = 0; j0 < end; j0 += LANES) {  // 16 keys' scores at a time
    const int64_t n = std::min(LANES, end - j0);
    __m512 dots[LANES];
    for (int64_t t = 0; t < LANES; ++t) {  // past the end: the last key again, then dropped
      const float* key = keys + (j0 + std::min(t, n - 1)) * step;
      dots[t] = _mm512_mul_ps(query[0], _mm512_loadu_ps(key));
      for (int64_t p = 1; p < pieces; ++p)
        dots[t] = _mm512_fmadd_ps(query[p], _mm512_loadu_ps(key + p * LANES), dots[t]);
    }
    __m512 score = _mm512_mul_ps(sums_of(dots), _mm512_set1_ps(scale));
    __mmask16 seen = n == LANES ? 0xffff : (1u << n) - 1;
    if (mask.add || mask.allow) {
      alignas(64) float added[LANES] = {};
      for (int64_t t = 0; t < n; ++t) {
        const int64_t at = (j0 + t) * mask.stride;
        if (mask.add) added[t] = mask.add[at];
        else if (!mask.allow[at]) seen &= static_cast<__mmask16>(~(1u << t));
      }
      if (mask.add) score = _mm512_add_ps(score, _mm512_load_ps(added));
    }
    score = _mm512_mask_mov_ps(never, seen, score);
    _mm512_storeu_ps(scores + j0, score);
    most = _mm512_max_ps(most, score);
  }
  const float top_score = _mm512_reduce_max_ps(most);
  if (top_score == -std::numeric_limits<float>::infinity()) {  // sees nothing (padding): zeros
    for (int64_t d = 0; d < width; ++d) out[d] = 0.0f;
    return;
  }
  __m512 total = _mm512_setzero_ps();
  const __m512 top = _mm512_set1_ps(top_score);
  for (int64_t j = 0; j < end; j += LANES) {  // past the end: -inf, so 0
    const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(scores + j), top));
    _mm512_storeu_ps(scores + j, e);
    total = _mm512_add_ps(total, e);
  }
  __m512 acc[MAX_WIDTH / LANES];
  for (int64_t p = 0; p < pieces; ++p) acc[p] = _mm512_setzero_ps();
  for (int64_t j = 0; j < end; ++j) {
    if (scores[j] == 0.0f) continue;  // masked, or too small to count: adds exact zeros
    const __m512 weight = _mm512_set1_ps(scores[j]);
    const float* value = values + j * value_step;
    for (int64_t p = 0; p < pieces; ++p)
      acc[p] = _mm512_fmadd_ps(weight, _mm512_loadu_ps(value + p * LANES), acc[p]);
  }
  const __m512 sum = _mm512_set1_ps(_mm512_reduce_add_ps(total));
  for (int64_t p = 0; p < pieces; ++p)
    _mm512_storeu_ps(out + p * LANES, _mm512_div_ps(acc[p], sum));
}

}  // namespace

// query (B, H, Q, D), key and value (B, KVH, KV, D) with H a multiple of KVH (grouped heads
// read in place), each with its last axis contiguous and keys and values laid out alike; mask
// None or (1 or B, 1 or H, Q, KV), bool (true: may attend) or float32 (added to the scores);
// causal: query row i sees keys 0..i (SDPA's is_causal). -> (B, Q, H, D) contiguous, what
// transformers' attention functions return.
torch::Tensor attend(const torch::Tensor& query, const torch::Tensor& key,
                     const torch::Tensor& value, const std::optional<torch::Tensor>& mask,
                     bool causal, double scale) {
  TORCH_CHECK(query.dim() == 4 && key.dim() == 4 && value.dim() == 4, "4-d query, key, value");
  const int64_t B = query.size(0), H = query.size(1), Q = query.size(2), D = query.size(3);
  const int64_t KVH = key.size(1), KV = key.size(2);
  for (const auto* t : {&query, &key, &value})
    TORCH_CHECK(t->scalar_type() == torch::kFloat32 && t->stride(3) == 1 && t->device().is_cpu(),
                "float32 CPU tensors with a contiguous last axis");
  TORCH_CHECK(D % LANES == 0 && D <= MAX_WIDTH, "a head width that is a multiple of 16, <= 256");
  TORCH_CHECK(key.sizes() == value.sizes() && key.size(0) == B && key.size(3) == D &&
                  H % KVH == 0,
              "keys and values of one shape, grouped heads");
  std::optional<torch::Tensor> m = mask;
  if (m) {
    TORCH_CHECK(m->dim() == 4 && (m->size(0) == 1 || m->size(0) == B) &&
                    (m->size(1) == 1 || m->size(1) == H) && m->size(2) == Q && m->size(3) == KV,
                "a mask of (1 or batch, 1 or heads, queries, keys)");
    TORCH_CHECK(m->scalar_type() == torch::kBool || m->scalar_type() == torch::kFloat32,
                "a boolean or float32 mask");
  }
  auto out = torch::empty({B, Q, H, D}, query.options());
  const float* qp = query.data_ptr<float>();
  const float* kp = key.data_ptr<float>();
  const float* vp = value.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const int64_t group = H / KVH, rows = B * H * Q;
  // A row is ~2 x KV x D multiply-adds: grains of 8 rows keep one layer of a 1-token step
  // (9 rows) from paying to wake the second thread for one row.
  at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> scores((KV + LANES - 1) / LANES * LANES);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / (H * Q), h = row / Q % H, i = row % Q;
      MaskRow mrow;
      if (m) {
        const int64_t mb = m->size(0) == 1 ? 0 : b, mh = m->size(1) == 1 ? 0 : h;
        const int64_t offset = mb * m->stride(0) + mh * m->stride(1) + i * m->stride(2);
        mrow.stride = m->stride(3);
        if (m->scalar_type() == torch::kBool) mrow.allow = m->data_ptr<bool>() + offset;
        else mrow.add = m->data_ptr<float>() + offset;
      }
      const int64_t g = h / group;
      attend_row(qp + b * query.stride(0) + h * query.stride(1) + i * query.stride(2),
                 kp + b * key.stride(0) + g * key.stride(1),
                 vp + b * value.stride(0) + g * value.stride(1), key.stride(2), value.stride(2),
                 causal ? std::min(KV, i + 1) : KV, D,
                 static_cast<float>(scale), mrow, scores.data(),
                 op + ((b * Q + i) * H + h) * D);
    }
  });
  return out;
}

void bind_attention(pybind11::module_& m) {
  m.def("attend", &attend, pybind11::call_guard<pybind11::gil_scoped_release>());
}
