// Rendering DOT text (ir/dot.h) to SVG or PNG with Graphviz's `dot` program, when installed.
#ifndef KILN_FRONTEND_VIZ_GRAPHVIZ_H_
#define KILN_FRONTEND_VIZ_GRAPHVIZ_H_

#include <string>

#include "absl/status/status.h"

namespace kiln::viz {

// The path of `dot` on $PATH, or empty when Graphviz is not installed.
std::string FindDot();

// Runs `dot -T<format>` (format "svg" or "png") on `dot_text` and writes the result to
// `out_path` atomically, or to stdout when `out_path` is empty (PNG only when stdout is not a
// terminal). Errors: an unknown format or PNG to a terminal (InvalidArgument), Graphviz not
// installed (FailedPrecondition, saying how to install it), `dot` failing (Internal).
absl::Status RenderDot(const std::string& dot_text, const std::string& format,
                       const std::string& out_path);

}  // namespace kiln::viz

#endif  // KILN_FRONTEND_VIZ_GRAPHVIZ_H_
