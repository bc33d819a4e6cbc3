// The most AVX-512 instructions of two kinds one core retires a second: vpdpbusd (the integer
// layout's 64 byte products a lane-sum, samdec/runtime/csrc/integer.cpp) and vfmadd231ps (16
// float32 multiply-adds, attention's and the float32 layouts'). scripts/verify_cost.py builds
// and runs it to put a floor under a verify step: no kernel can issue more of them than this.
//
// Twelve independent accumulators, more than an instruction's latency times the number of
// units, so that only the units' throughput limits the loop; the instructions are written out
// (asm) so that the compiler neither folds them away nor keeps the accumulators in memory.
#include <immintrin.h>

#include <chrono>
#include <cstdio>

#define TWELVE(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

int main() {
  const long n = 300000000;
#define INT_ACC(i) __m512i a##i = _mm512_set1_epi32(i);
  TWELVE(INT_ACC)
  const __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(5);
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < n; i += 12) {
#define INT_STEP(i) asm volatile("vpdpbusd %2, %1, %0" : "+v"(a##i) : "v"(w), "v"(x));
    TWELVE(INT_STEP)
  }
  const double integer =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
#define FLOAT_ACC(i) __m512 f##i = _mm512_set1_ps(i);
  TWELVE(FLOAT_ACC)
  const __m512 fw = _mm512_set1_ps(1.0001f), fx = _mm512_set1_ps(0.999f);
  start = std::chrono::steady_clock::now();
  for (long i = 0; i < n; i += 12) {
#define FLOAT_STEP(i) asm volatile("vfmadd231ps %2, %1, %0" : "+v"(f##i) : "v"(fw), "v"(fx));
    TWELVE(FLOAT_STEP)
  }
  const double floats =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("vpdpbusd_per_s %.6g\nfma_per_s %.6g\n", n / integer, n / floats);
  return 0;
}
