// Accessors for the flags defined in kiln.cc, so commands need not see ABSL_FLAG definitions.
#ifndef KILN_FRONTEND_CLI_FLAGS_H_
#define KILN_FRONTEND_CLI_FLAGS_H_

#include <cstdint>
#include <string>

namespace kiln::cli {
std::string FlagModel();
std::string FlagFormat();
int64_t FlagBatch();
uint64_t FlagSeed();
std::string FlagImage();
}  // namespace kiln::cli

#endif  // KILN_FRONTEND_CLI_FLAGS_H_
