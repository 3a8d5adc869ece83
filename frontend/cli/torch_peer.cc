#include "frontend/cli/torch_peer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <vector>

#include "bench/zoo/zoo.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::cli {
namespace {

constexpr char kSetupHint[] = "run scripts/setup.sh --torch";

bool IsFile(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

// The text after `"key":` in one line of Python's json.dumps output, spaces skipped.
std::optional<std::string> After(const std::string& line, const std::string& key) {
  const std::string quoted = absl::StrCat("\"", key, "\":");
  const size_t at = line.find(quoted);
  if (at == std::string::npos) return std::nullopt;
  size_t i = at + quoted.size();
  while (i < line.size() && line[i] == ' ') ++i;
  return line.substr(i);
}

std::optional<double> JsonNumber(const std::string& line, const std::string& key) {
  std::optional<std::string> rest = After(line, key);
  if (!rest) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(rest->c_str(), &end);
  if (end == rest->c_str()) return std::nullopt;
  return v;
}

std::optional<std::string> JsonText(const std::string& line, const std::string& key) {
  std::optional<std::string> rest = After(line, key);
  if (!rest || rest->empty() || (*rest)[0] != '"') return std::nullopt;
  std::string out;
  for (size_t i = 1; i < rest->size(); ++i) {
    const char c = (*rest)[i];
    if (c == '"') return out;
    if (c == '\\' && i + 1 < rest->size()) {
      out += (*rest)[++i];
    } else {
      out += c;
    }
  }
  return std::nullopt;
}

}  // namespace

bool TorchPeerKnowsModel(const std::string& model) {
  return model == "mnist-cnn" || model == "fashion-cnn" || IsZooModel(model);
}

absl::StatusOr<std::string> FindTorchPeerScript(const std::string& override_path) {
  if (!override_path.empty()) {
    if (IsFile(override_path)) return override_path;
    return absl::InvalidArgumentError(
        absl::StrCat("--torch_script ", override_path, ": no such file"));
  }
  std::vector<std::string> candidates;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    const std::string path(exe, n);
    const std::string dir = path.substr(0, path.rfind('/'));
    candidates.push_back(dir + "/../../bench/torch_peer.py");  // build/bin/kiln
    candidates.push_back(dir + "/../bench/torch_peer.py");
    candidates.push_back(dir + "/torch_peer.py");
  }
#ifdef KILN_SOURCE_DIR
  candidates.push_back(std::string(KILN_SOURCE_DIR) + "/bench/torch_peer.py");
#endif
  for (const std::string& c : candidates) {
    if (IsFile(c)) return c;
  }
  return absl::NotFoundError(
      "cannot find bench/torch_peer.py next to the kiln binary or in its source tree; "
      "pass --torch_script PATH");
}

absl::StatusOr<std::unique_ptr<TorchPeer>> TorchPeer::Start(const std::string& script,
                                                            const std::string& model, int64_t batch,
                                                            int threads) {
  if (access(kTorchPython, X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("PyTorch needs ", kTorchPython, ", which is missing: ", kSetupHint));
  }
  const std::string batch_s = absl::StrCat(batch), threads_s = absl::StrCat(threads);
  std::vector<const char*> argv = {kTorchPython,      script.c_str(), "--serve",       "--model",
                                   model.c_str(),     "--batch",      batch_s.c_str(), "--threads",
                                   threads_s.c_str(), nullptr};
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return absl::InternalError("pipe failed");
  }
  signal(SIGPIPE, SIG_IGN);  // A peer that dies must give an error, not kill kiln.
  const pid_t pid = fork();
  if (pid == 0) {  // Child: only async-signal-safe calls until exec.
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    execv(kTorchPython, const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  if (pid < 0) {
    close(to_child[1]);
    close(from_child[0]);
    return absl::InternalError("fork failed");
  }
  std::unique_ptr<TorchPeer> peer(new TorchPeer());
  peer->pid_ = pid;
  peer->to_ = fdopen(to_child[1], "w");
  peer->from_ = fdopen(from_child[0], "r");
  absl::StatusOr<std::string> ready = peer->ReadLine();
  if (!ready.ok()) return ready.status();
  if (ready->find("\"missing_torch\"") != std::string::npos) {
    return absl::FailedPreconditionError(
        absl::StrCat("PyTorch is not installed for ", kTorchPython, ": ", kSetupHint));
  }
  if (std::optional<std::string> error = JsonText(*ready, "error")) {
    return absl::FailedPreconditionError(absl::StrCat("the PyTorch peer: ", *error));
  }
  if (ready->find("\"ready\": true") == std::string::npos) {
    return absl::InternalError(absl::StrCat("the PyTorch peer did not start: ", *ready));
  }
  peer->torch_version_ = JsonText(*ready, "torch_version").value_or("?");
  return peer;
}

TorchPeer::~TorchPeer() {
  if (to_) {
    std::fputs("quit\n", to_);
    std::fclose(to_);
  }
  if (from_) std::fclose(from_);
  if (pid_ > 0) waitpid(pid_, nullptr, 0);
}

absl::StatusOr<std::string> TorchPeer::ReadLine() {
  char* line = nullptr;
  size_t capacity = 0;
  const ssize_t n = getline(&line, &capacity, from_);
  std::string out = n > 0 ? std::string(line, n) : "";
  std::free(line);
  if (n <= 0) {
    return absl::InternalError(absl::StrCat("the PyTorch peer (", kTorchPython,
                                            ") exited without answering; its errors are above"));
  }
  return out;
}

absl::StatusOr<double> TorchPeer::Sample(const std::string& mode, double min_seconds) {
  if (std::fprintf(to_, "%s %.3f\n", mode.c_str(), min_seconds) < 0 || std::fflush(to_) != 0) {
    return absl::InternalError("the PyTorch peer stopped reading requests");
  }
  absl::StatusOr<std::string> reply = ReadLine();
  if (!reply.ok()) return reply.status();
  if (std::optional<std::string> error = JsonText(*reply, "error")) {
    return absl::UnimplementedError(absl::StrCat("PyTorch ", mode, ": ", *error));
  }
  std::optional<double> ips = JsonNumber(*reply, "images_per_second");
  if (!ips || *ips <= 0) {
    return absl::InternalError(absl::StrCat("unexpected reply from the PyTorch peer: ", *reply));
  }
  return *ips;
}

}  // namespace kiln::cli
