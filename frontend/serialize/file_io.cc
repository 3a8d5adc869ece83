#include "frontend/serialize/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

std::atomic<int64_t> fail_after_bytes{-1};
std::atomic<uint64_t> temp_counter{0};

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  const int err = errno;
  return absl::Status(err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                      absl::StrCat(what, " '", path, "': ", std::strerror(err)));
}

std::string Folder(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Writes everything, retrying short writes and EINTR; honours the test hook.
bool WriteAll(int fd, absl::string_view bytes) {
  int64_t limit = fail_after_bytes.load();
  size_t done = 0;
  while (done < bytes.size()) {
    size_t chunk = bytes.size() - done;
    if (limit >= 0) {
      if (static_cast<int64_t>(done) >= limit) {
        errno = ENOSPC;
        return false;
      }
      chunk = std::min<size_t>(chunk, static_cast<size_t>(limit) - done);
    }
    const ssize_t n = ::write(fd, bytes.data() + done, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

uint32_t Crc32c(absl::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) crc = kCrcTable[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

void SetWriteFailureAfterBytesForTesting(int64_t bytes) { fail_after_bytes.store(bytes); }

absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes) {
  if (path.empty()) return absl::InvalidArgumentError("empty output path");
  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid(), ".", temp_counter++);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", temp);
  absl::Status status;
  if (!WriteAll(fd, bytes)) {
    status = ErrnoError("cannot write", temp);
  } else if (::fsync(fd) != 0) {
    status = ErrnoError("cannot fsync", temp);
  }
  if (::close(fd) != 0 && status.ok()) status = ErrnoError("cannot close", temp);
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError("cannot rename into", path);
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  // The rename is durable only once the folder's entry is.
  const std::string folder = Folder(path);
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return ErrnoError("cannot open folder", folder);
  const bool synced = ::fsync(dir) == 0;
  ::close(dir);
  if (!synced) return ErrnoError("cannot fsync folder", folder);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileLimited(const std::string& path, int64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status s = ErrnoError("cannot stat", path);
    ::close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not a regular file"));
  }
  if (st.st_size > max_bytes) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is ", st.st_size,
                                                   " bytes, more than the limit of ", max_bytes));
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (done != bytes.size()) {
    return absl::DataLossError(absl::StrCat("'", path, "' changed size while being read"));
  }
  return bytes;
}

}  // namespace kiln
