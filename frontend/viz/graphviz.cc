#include "frontend/viz/graphviz.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "frontend/image_io.h"

extern char** environ;

namespace kiln::viz {
namespace {

// A file under the temporary folder, removed when this goes out of scope.
class TempFile {
 public:
  explicit TempFile(const char* suffix_hint) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / absl::StrCat("kiln_", suffix_hint, "_XXXXXX"))
            .string();
    const int fd = mkstemp(pattern.data());
    if (fd >= 0) {
      ::close(fd);
      path_ = pattern;
    }
  }
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

std::string FindDot() {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    const std::string candidate = absl::StrCat(dir, "/dot");
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

absl::Status RenderDot(const std::string& dot_text, const std::string& format,
                       const std::string& out_path) {
  if (format != "svg" && format != "png") {
    return absl::InvalidArgumentError(absl::StrCat("unknown --render '", format, "' (svg or png)"));
  }
  if (format == "png" && out_path.empty() && ::isatty(STDOUT_FILENO)) {
    return absl::InvalidArgumentError("not writing a PNG to the terminal; pass --out FILE.png");
  }
  const std::string dot = FindDot();
  if (dot.empty()) {
    return absl::FailedPreconditionError(
        "--render needs Graphviz's `dot`, which is not installed (Debian: apt-get install "
        "graphviz, or scripts/setup.sh); without --render, --format dot prints the DOT text");
  }
  TempFile input("graph_dot"), output("graph_render");
  if (input.path().empty() || output.path().empty()) {
    return absl::InternalError(
        absl::StrCat("cannot create a temporary file: ", std::strerror(errno)));
  }
  {
    std::ofstream out(input.path(), std::ios::binary);
    out << dot_text;
    if (!out.flush()) return absl::InternalError("cannot write the DOT text to a temporary file");
  }
  const std::string type = absl::StrCat("-T", format);
  std::vector<char*> argv = {
      const_cast<char*>(dot.c_str()),           const_cast<char*>(type.c_str()),
      const_cast<char*>(input.path().c_str()),  const_cast<char*>("-o"),
      const_cast<char*>(output.path().c_str()), nullptr};
  pid_t pid = 0;
  if (const int err = posix_spawn(&pid, dot.c_str(), nullptr, nullptr, argv.data(), environ)) {
    return absl::InternalError(absl::StrCat("cannot run ", dot, ": ", std::strerror(err)));
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR)
      return absl::InternalError(absl::StrCat("waiting for dot: ", std::strerror(errno)));
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return absl::InternalError(absl::StrCat(
        "dot ", type, " failed (",
        WIFEXITED(wstatus) ? absl::StrCat("exit ", WEXITSTATUS(wstatus)) : "killed by a signal",
        ")"));
  }
  std::ifstream rendered(output.path(), std::ios::binary);
  std::stringstream bytes;
  bytes << rendered.rdbuf();
  if (out_path.empty()) {
    const std::string data = bytes.str();
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() || std::fflush(stdout)) {
      return absl::InternalError("cannot write to stdout");
    }
    return absl::OkStatus();
  }
  return WriteFileAtomically(out_path, bytes.str());
}

}  // namespace kiln::viz
