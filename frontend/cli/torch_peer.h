// The PyTorch peer for `kiln bench --vs-torch`: bench/torch_peer.py run by Debian's Python as a
// child process that answers one timed sample per request, so Kiln and PyTorch samples alternate.
#ifndef KILN_FRONTEND_CLI_TORCH_PEER_H_
#define KILN_FRONTEND_CLI_TORCH_PEER_H_

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace kiln::cli {

// The interpreter Debian's python3-torch installs into (another python3 on PATH may lack it).
inline constexpr char kTorchPython[] = "/usr/bin/python3";

// Whether the peer has the model: it knows the seed CNN (mnist-cnn and the identical fashion-cnn).
bool TorchPeerKnowsModel(const std::string& model);

// bench/torch_peer.py: `override_path` when not empty (it must exist), else looked up next to the
// kiln binary (build/bin/kiln -> bench/) and in the source tree Kiln was built from.
absl::StatusOr<std::string> FindTorchPeerScript(const std::string& override_path);

class TorchPeer {
 public:
  // Starts the peer in server mode and waits for it to be ready. A Python without torch gives
  // FailedPrecondition naming `scripts/setup.sh --torch`.
  static absl::StatusOr<std::unique_ptr<TorchPeer>> Start(const std::string& script,
                                                          const std::string& model, int64_t batch,
                                                          int threads);
  ~TorchPeer();  // Asks the peer to quit and reaps it.
  TorchPeer(const TorchPeer&) = delete;
  TorchPeer& operator=(const TorchPeer&) = delete;

  // Images/s over one sample of `mode` (train, train_channels_last, infer_default, infer_mkldnn,
  // infer_jit) lasting at least `min_seconds`. A mode the peer cannot run is an Unimplemented
  // error; a peer that died is Internal.
  absl::StatusOr<double> Sample(const std::string& mode, double min_seconds);
  const std::string& torch_version() const { return torch_version_; }

 private:
  TorchPeer() = default;
  absl::StatusOr<std::string> ReadLine();

  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  std::string torch_version_;
};

}  // namespace kiln::cli

#endif  // KILN_FRONTEND_CLI_TORCH_PEER_H_
