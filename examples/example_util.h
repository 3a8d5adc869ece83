// Shared bits of the course examples: `--limit N` and `--epochs N` arguments, and failing loudly.
#ifndef KILN_EXAMPLES_EXAMPLE_UTIL_H_
#define KILN_EXAMPLES_EXAMPLE_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/status/status.h"

namespace kiln::examples {

struct Args {
  long limit = 0;  // Training images to use (0: all).
  int epochs = 0;  // 0: the example's own default.
};

inline Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--limit") == 0) {
      args.limit = std::atol(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--epochs") == 0) {
      args.epochs = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: %s [--limit N] [--epochs N]\n", argv[0]);
      std::exit(2);
    }
  }
  return args;
}

// Exits with the status's message when it is not OK.
inline void Check(const absl::Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
    std::exit(1);
  }
}

}  // namespace kiln::examples

#endif  // KILN_EXAMPLES_EXAMPLE_UTIL_H_
