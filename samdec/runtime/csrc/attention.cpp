// Attention for the few query rows of a decoding or verify step, each row computed on its own.
//
// Why its own: torch's CPU attention (SDPA's flash kernel) is built for many query rows; for
// the one to few rows of a step of the bundled model most of its time went to set-up around
// very little arithmetic, a noticeable share of the whole step. samdec.runtime.attention says
// how this one compares.
//
// Exactness: a query row's output is computed from its own query, the keys and values it may
// see and its mask row, in one fixed order (scores key by key, each a fused multiply-add
// chain over the head's width and one horizontal sum; exponentials and their sum in pieces
// of 16 keys; the weighted values key by key; one division), whatever other rows, heads or
// sequences share the call, and whatever keys its mask hides (a draft tree's row adds up only
// the keys it sees, packed, as a step that holds just those keys would). So plain decoding and
// verification, of a chain or a tree, give a row the same bits.
// It is not SDPA's summation order, so its outputs differ from SDPA's in the last bits: a
// model runs this attention everywhere or nowhere (samdec.runtime.attention registers it with
// transformers so that the model's own forward uses it too).
#include "kernels.h"

#include <ATen/Parallel.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace samdec {
namespace {

// An additive mask's value at or below which a key is not seen at all (transformers masks
// with the float's lowest value).
constexpr float MASKED_BELOW = -1e37f;

// attend_rows' register budget: at most MOST_ROWS rows a call, MOST_VECTORS vectors of
// queries (or accumulators) in all.
constexpr int MOST_ROWS = 4, MOST_VECTORS = 16;

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

// Where a row's mask comes from: none, a causal cut, or a row of a boolean (true: may attend)
// or an additive float mask.
struct MaskRow {
  const bool* allow = nullptr;
  const float* add = nullptr;
  int64_t stride = 1;  // between keys
};

// Of the keys j0.. in `valid` (lanes), those a boolean mask row lets the query see.
inline __mmask16 allowed(const MaskRow& mask, int64_t j0, __mmask16 valid) {
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  if (mask.stride == 1) {  // 16 bools in one load
    const __m128i bytes = _mm_maskz_loadu_epi8(valid, mask.allow + j0);
    return _mm_test_epi8_mask(bytes, bytes);
  }
#endif
  __mmask16 seen = 0;
  for (int t = 0; t < LANES; ++t)
    if ((valid >> t & 1) && mask.allow[(j0 + t) * mask.stride]) seen |= 1u << t;
  return seen;
}

// An additive mask row's values for keys j0.. in `valid` (lanes), 0 in the other lanes.
inline __m512 added(const MaskRow& mask, int64_t j0, __mmask16 valid) {
  if (mask.stride == 1) return _mm512_maskz_loadu_ps(valid, mask.add + j0);
  alignas(64) float values[LANES] = {};
  for (int t = 0; t < LANES; ++t)
    if (valid >> t & 1) values[t] = mask.add[(j0 + t) * mask.stride];
  return _mm512_load_ps(values);
}

// What attend_rows needs of one query row: its query (width floats), where its output goes,
// how many keys it may see (the causal cut), its mask row and room for its scores (`end`
// floats rounded up to 16).
struct Row {
  const float* query;
  float* out;
  int64_t end;
  MaskRow mask;
  float* scores;
};

// R query rows that read the same keys and values (the heads of one key/value group, the
// tokens of one step), P pieces of 16 floats a head. Every row's arithmetic is its own and in
// one fixed order: scores key by key (a multiply, then fused multiply-adds over the pieces, one
// horizontal sum), exponentials and their sum in pieces of 16 keys, the weighted values key by
// key, one division. The rows share only the loads of each 16 keys (from L1) and of each value,
// so a row's bits do not depend on which rows, or how many, share its call.
//
// Why R rows at once: one row at a time re-read every key and value for each head and token,
// and chained each value's multiply-adds on the last key's. Sharing the loads among a group's
// rows made the kernel faster at every step size measured, the more so the more rows, and for
// causal prefills too, with the same bits; a whole step gained less, attention being a small
// part of it. Up to 6 rows a call instead of MOST_ROWS made no difference beyond the noise.
// The scores go row by row within each 16 keys: all R rows' 16 dot products at once did not
// fit the registers.
template <int P, int R>
void attend_rows(const Row* rows, const float* keys, const float* values, int64_t step,
                 int64_t value_step, float scale) {
  __m512 query[R][P];
  int64_t last = 0;
  for (int r = 0; r < R; ++r) {
    for (int p = 0; p < P; ++p) query[r][p] = _mm512_loadu_ps(rows[r].query + p * LANES);
    last = std::max(last, rows[r].end);
  }
  const __m512 never = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const auto add = [](__m512 a, __m512 b) { return _mm512_add_ps(a, b); };
  __m512 most[R];
  for (int r = 0; r < R; ++r) most[r] = never;
  for (int64_t j0 = 0; j0 < last; j0 += LANES) {  // 16 keys' scores at a time
    const int64_t n = std::min(LANES, last - j0);
    // Row by row, each row's 16 dot products in registers: all rows' at once (R x 16 vectors)
    // spilled to the stack; the 16 keys' loads repeat per row, but from L1.
    for (int r = 0; r < R; ++r) {
      const Row& row = rows[r];
      if (j0 >= row.end) continue;
      __m512 dots[LANES];
      for (int64_t t = 0; t < LANES; ++t) {  // past the last key: it again, dropped below
        const float* key = keys + (j0 + std::min(t, n - 1)) * step;
        dots[t] = _mm512_mul_ps(query[r][0], _mm512_loadu_ps(key));
        for (int p = 1; p < P; ++p)
          dots[t] = _mm512_fmadd_ps(query[r][p], _mm512_loadu_ps(key + p * LANES), dots[t]);
      }
      const int64_t seen_keys = std::min(LANES, row.end - j0);
      __m512 score = _mm512_mul_ps(across_lanes(dots, add), _mm512_set1_ps(scale));
      __mmask16 seen = seen_keys == LANES ? 0xffff : (1u << seen_keys) - 1;
      if (row.mask.allow) seen &= allowed(row.mask, j0, seen);
      if (row.mask.add) {  // a key masked by a huge negative number is left out
        score = _mm512_add_ps(score, added(row.mask, j0, seen));
        seen &= _mm512_cmp_ps_mask(score, _mm512_set1_ps(MASKED_BELOW), _CMP_GT_OQ);
      }
      score = _mm512_mask_mov_ps(never, seen, score);
      _mm512_storeu_ps(row.scores + j0, score);
      most[r] = _mm512_max_ps(most[r], score);
    }
  }
  int64_t ends[R];  // 0 for a row that sees nothing (padding): its output is zeros
  __m512 totals[R];
  // A masked row's exponentials of the keys it sees, in key order: one buffer a thread, grown
  // as needed (a vector a row cost an allocation and a clearing each).
  thread_local std::vector<float> buffer;
  for (int r = 0; r < R; ++r) {
    const float top_score = _mm512_reduce_max_ps(most[r]);
    ends[r] = top_score == -std::numeric_limits<float>::infinity() ? 0 : rows[r].end;
    __m512 total = _mm512_setzero_ps();
    const __m512 top = _mm512_set1_ps(top_score);
    // A row with a mask (a draft tree's) adds up the exponentials of only the keys it sees,
    // packed side by side: the k-th key it sees in lane k % 16, as in a step where those keys
    // are all the keys (a plain step, a chain). Adding them where the keys lie would put a
    // key in another lane for every masked key before it, and change the sum's last bits.
    const bool masked = rows[r].mask.add || rows[r].mask.allow;
    int64_t count = 0;
    float* kept = nullptr;  // read once: the thread's buffer is a call away in a shared library
    if (masked) {
      if (buffer.size() < static_cast<size_t>(ends[r] + LANES)) buffer.resize(ends[r] + LANES);
      kept = buffer.data();
    }
    for (int64_t j = 0; j < ends[r]; j += LANES) {  // past the end: -inf, so 0
      const __m512 s = _mm512_loadu_ps(rows[r].scores + j);
      const __m512 e = exp_nonpositive(_mm512_sub_ps(s, top));
      _mm512_storeu_ps(rows[r].scores + j, e);
      if (!masked) {
        total = _mm512_add_ps(total, e);
        continue;
      }
      const __mmask16 sees = _mm512_cmp_ps_mask(s, never, _CMP_NEQ_OQ);
      // Packed in a register, then stored whole (what follows is written over or cleared):
      // the form that stores packed to memory is microcoded on some CPUs (AMD's Zen 4) and
      // took a large share of the kernel there.
      _mm512_storeu_ps(kept + count, _mm512_maskz_compress_ps(sees, e));
      count += __builtin_popcount(sees);
    }
    if (masked) std::fill_n(kept + count, LANES, 0.0f);  // the last piece's tail
    for (int64_t j = 0; j < count; j += LANES)  // past the last key seen: zeros
      total = _mm512_add_ps(total, _mm512_loadu_ps(kept + j));
    totals[r] = total;
  }
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  for (int64_t j = 0; j < last; ++j) {
    __m512 v[P];
    for (int p = 0; p < P; ++p) v[p] = _mm512_loadu_ps(values + j * value_step + p * LANES);
    for (int r = 0; r < R; ++r) {
      // masked, past its end, or too small to count: adds exact zeros
      if (j >= ends[r] || rows[r].scores[j] == 0.0f) continue;
      const __m512 weight = _mm512_set1_ps(rows[r].scores[j]);
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(weight, v[p], acc[r][p]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m512 sum = _mm512_set1_ps(_mm512_reduce_add_ps(totals[r]));
    for (int p = 0; p < P; ++p)
      _mm512_storeu_ps(rows[r].out + p * LANES,
                       ends[r] ? _mm512_div_ps(acc[r][p], sum) : _mm512_setzero_ps());
  }
}

using AttendRows = void (*)(const Row*, const float*, const float*, int64_t, int64_t, float);

// Rows a call takes for P pieces a head: their queries and accumulators, R x P vectors each,
// stay within the 32 registers.
constexpr int most_rows(int pieces) { return std::clamp(MOST_VECTORS / pieces, 1, MOST_ROWS); }

template <int P, int... R>
AttendRows pick_rows(int64_t rows, std::integer_sequence<int, R...>) {
  constexpr AttendRows table[] = {attend_rows<P, R + 1>...};
  return table[rows - 1];
}

template <int... P>
AttendRows pick(int64_t pieces, int64_t rows, std::integer_sequence<int, P...>) {
  AttendRows found = nullptr;
  ((pieces == P + 1
        ? (found = pick_rows<P + 1>(rows, std::make_integer_sequence<int, most_rows(P + 1)>()))
        : nullptr),
   ...);
  return found;
}

}  // namespace

at::Tensor attend(const at::Tensor& query, const at::Tensor& key,
                     const at::Tensor& value, const std::optional<at::Tensor>& mask,
                     bool causal, double scale, RowCodes* codes) {
  TORCH_CHECK(query.dim() == 4 && key.dim() == 4 && value.dim() == 4, "4-d query, key, value");
  const int64_t B = query.size(0), H = query.size(1), Q = query.size(2), D = query.size(3);
  const int64_t KVH = key.size(1), KV = key.size(2);
  for (const auto* t : {&query, &key, &value})
    TORCH_CHECK(t->scalar_type() == at::kFloat && t->stride(3) == 1 && t->device().is_cpu(),
                "float32 CPU tensors with a contiguous last axis");
  TORCH_CHECK(D % LANES == 0 && D <= MAX_HEAD_WIDTH, "a head width that is a multiple of ", LANES,
              ", <= ", MAX_HEAD_WIDTH);
  TORCH_CHECK(key.sizes() == value.sizes() && key.size(0) == B && key.size(3) == D &&
                  H % KVH == 0,
              "keys and values of one shape, grouped heads");
  std::optional<at::Tensor> m = mask;
  if (m) {
    TORCH_CHECK(m->dim() == 4 && (m->size(0) == 1 || m->size(0) == B) &&
                    (m->size(1) == 1 || m->size(1) == H) && m->size(2) == Q && m->size(3) == KV,
                "a mask of (1 or batch, 1 or heads, queries, keys)");
    TORCH_CHECK(m->scalar_type() == at::kBool || m->scalar_type() == at::kFloat,
                "a boolean or float32 mask");
  }
  TORCH_CHECK(!codes || D % BLOCK == 0, "codes of heads a multiple of ", BLOCK, " wide");
  auto out = at::empty({B, Q, H, D}, query.options());
  const float* qp = query.data_ptr<float>();
  const float* kp = key.data_ptr<float>();
  const float* vp = value.data_ptr<float>();
  float* op = out.data_ptr<float>();
  // A call of attend_rows takes up to `chunk` rows of one key/value group (its heads times the
  // step's tokens, heads outer); the threads share the calls one by one: against grains of 2, 3
  // or all calls on one thread, one by one was the fastest at the step sizes measured.
  const int64_t group = H / KVH, pieces = D / LANES, chunk = most_rows(pieces);
  const int64_t per_group = group * Q, calls = (per_group + chunk - 1) / chunk;
  const int64_t padded = (KV + LANES - 1) / LANES * LANES;
  const float row_scale = static_cast<float>(scale);
  AttendRows attend_count[MOST_ROWS + 1] = {};  // attend_rows for this width, by rows a call
  for (int64_t count = 1; count <= chunk; ++count)
    attend_count[count] =
        pick(pieces, count, std::make_integer_sequence<int, MAX_HEAD_WIDTH / LANES>());
  at::parallel_for(0, B * KVH * calls, 1, [&](int64_t begin, int64_t end) {
    // Room for the rows' scores, one buffer a thread: every score read is written first.
    thread_local std::vector<float> scores;
    if (scores.size() < static_cast<size_t>(chunk * padded)) scores.resize(chunk * padded);
    Row rows[MOST_ROWS];
    for (int64_t call = begin; call < end; ++call) {
      const int64_t b = call / (KVH * calls), g = call / calls % KVH, first = call % calls * chunk;
      const int64_t count = std::min(chunk, per_group - first);
      for (int64_t r = 0; r < count; ++r) {
        const int64_t h = g * group + (first + r) / Q, i = (first + r) % Q;
        MaskRow mrow;
        if (m) {
          const int64_t mb = m->size(0) == 1 ? 0 : b, mh = m->size(1) == 1 ? 0 : h;
          const int64_t offset = mb * m->stride(0) + mh * m->stride(1) + i * m->stride(2);
          mrow.stride = m->stride(3);
          if (m->scalar_type() == at::kBool) mrow.allow = m->data_ptr<bool>() + offset;
          else mrow.add = m->data_ptr<float>() + offset;
        }
        rows[r] = {qp + b * query.stride(0) + h * query.stride(1) + i * query.stride(2),
                   op + ((b * Q + i) * H + h) * D, causal ? std::min(KV, i + 1) : KV, mrow,
                   scores.data() + r * padded};
      }
      attend_count[count](rows, kp + b * key.stride(0) + g * key.stride(1),
                          vp + b * value.stride(0) + g * value.stride(1), key.stride(2),
                          value.stride(2), row_scale);
      if (codes)  // a row's output is D floats from offset (its token's row * H + head) * D
        for (int64_t r = 0; r < count; ++r)
          quantise_into(rows[r].out, D / BLOCK, *codes, rows[r].out - op);
    }
  });
  return out;
}

}  // namespace samdec
