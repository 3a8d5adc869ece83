// A small fixed-size thread pool for data-parallel kernels.
#ifndef KILN_RUNTIME_THREAD_POOL_H_
#define KILN_RUNTIME_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {

// Runs `fn(begin, end)` over [0, tasks) in chunks of `grain` tasks, handed out dynamically (an
// atomic counter) so a busy core does not stall the others. Kernels split work only over
// independent outputs, so the result does not depend on which thread ran which chunk.
class ThreadPool {
 public:
  // `threads` counts the calling thread: ThreadPool(1) runs everything inline.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  void ParallelFor(int64_t tasks, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop();
  void RunChunks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};  // Bumped once per job (and to stop).
  std::atomic<uint64_t> closed_{0};      // The last job whose chunks are all handed out.
  std::atomic<int> active_{0};           // Workers inside a job's RunChunks.
  bool stop_ = false;
  // The current job.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t tasks_ = 0, grain_ = 1;
  std::atomic<int64_t> next_{0};
};

}  // namespace kiln

#endif  // KILN_RUNTIME_THREAD_POOL_H_
