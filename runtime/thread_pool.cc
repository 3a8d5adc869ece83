#include "runtime/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#define KILN_PAUSE() _mm_pause()
#else
#define KILN_PAUSE() std::this_thread::yield()
#endif

namespace kiln {
namespace {
// How long an idle worker spins before sleeping: kernels of a step follow each other within
// microseconds, and a condition-variable wake costs tens of them.
constexpr int kSpins = 20000;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < std::max(threads, 1); ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunChunks() {
  while (true) {
    const int64_t begin = next_.fetch_add(grain_, std::memory_order_relaxed);
    if (begin >= tasks_) return;
    (*fn_)(begin, std::min(begin + grain_, tasks_));
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  while (true) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpins) {
      KILN_PAUSE();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    // Join the job unless the caller has already closed it (it finished every chunk without us):
    // either the caller sees this increment and waits for us, or we see the job closed. A worker
    // that was descheduled long enough that a later job is now being set up (or running) must not
    // join it with a stale `seen`: it has not synchronized with that job's fields (fn_ may still
    // point at a finished job's function). It goes round again and sees the new generation.
    active_.fetch_add(1, std::memory_order_seq_cst);
    if (generation_.load(std::memory_order_seq_cst) == seen &&
        closed_.load(std::memory_order_seq_cst) != seen) {
      RunChunks();
    }
    active_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void ThreadPool::ParallelFor(int64_t tasks, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (tasks <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (workers_.empty() || tasks <= grain) {
    for (int64_t b = 0; b < tasks; b += grain) fn(b, std::min(b + grain, tasks));
    return;
  }
  fn_ = &fn;
  tasks_ = tasks;
  grain_ = grain;
  next_.store(0, std::memory_order_relaxed);
  uint64_t job;
  {
    std::lock_guard<std::mutex> lock(mu_);  // Pairs with a sleeping worker's wait.
    job = generation_.fetch_add(1, std::memory_order_seq_cst) + 1;
  }
  wake_.notify_all();
  RunChunks();
  // Every chunk has been handed out: close the job, then wait only for workers inside it.
  closed_.store(job, std::memory_order_seq_cst);
  while (active_.load(std::memory_order_seq_cst) != 0) KILN_PAUSE();
}

}  // namespace kiln
