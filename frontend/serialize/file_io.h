// Durable file writes and bounded reads for model files and checkpoints, and the CRC-32C that
// guards every tensor and every file.
#ifndef KILN_FRONTEND_SERIALIZE_FILE_IO_H_
#define KILN_FRONTEND_SERIALIZE_FILE_IO_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln {

// CRC-32C (Castagnoli), as used by iSCSI, ext4 and LevelDB: crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(absl::string_view bytes);

// Writes `bytes` to `path` so that a crash leaves either the old file or the new one, never a
// mix: a fresh temporary file in the same folder, fsync, rename over `path`, fsync of the folder.
// On failure the temporary file is removed, `path` is untouched, and the error names the path.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes);

// Reads a regular file of at most `max_bytes` bytes; larger files are refused before reading.
absl::StatusOr<std::string> ReadFileLimited(const std::string& path, int64_t max_bytes);

// Test hook: the next writes fail after this many bytes reach the temporary file (a full disk);
// negative turns it off.
void SetWriteFailureAfterBytesForTesting(int64_t bytes);

}  // namespace kiln

#endif  // KILN_FRONTEND_SERIALIZE_FILE_IO_H_
