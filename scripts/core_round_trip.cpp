// How long one cache line takes to go from one core to the other and back: two threads, each
// pinned to one of the first two CPUs this process may run on, hand a counter back and forth.
// scripts/verify_cost.py builds and runs it beside its curves.
//
// Why: on this project's 2-core VMs the two cores sometimes share a cache and sometimes sit on
// different chiplets, where the round trip takes several times longer, and this changes from
// one few minutes to the next. A verify step of 8 tokens hands its threads eight rows of every
// layer where a plain step hands them one, so the 8-token ratio of the curve moves with it
// (benchmarks/verify_cost.json records the round trip beside the curve).
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

namespace {

alignas(64) std::atomic<long> counter{0};

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace

int main() {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 1;
  int cpus[2], found = 0;
  for (int c = 0; c < CPU_SETSIZE && found < 2; ++c)
    if (CPU_ISSET(c, &allowed)) cpus[found++] = c;
  if (found < 2) return 1;  // one CPU: nothing to hand over
  const long trips = 200000;
  std::thread other([&] {
    pin(cpus[1]);
    for (long i = 0; i < trips; ++i) {
      while (counter.load(std::memory_order_acquire) != 2 * i + 1) {
      }
      counter.store(2 * i + 2, std::memory_order_release);
    }
  });
  pin(cpus[0]);
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < trips; ++i) {
    counter.store(2 * i + 1, std::memory_order_release);
    while (counter.load(std::memory_order_acquire) != 2 * i + 2) {
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  other.join();
  std::printf("round_trip_ns %.1f\n", seconds / trips * 1e9);
  return 0;
}
