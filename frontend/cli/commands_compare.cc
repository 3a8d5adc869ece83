// `kiln compare`: the JIT against the interpreter, kernel by kernel, on one training step.
#include <cmath>
#include <cstdio>

#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"
#include "frontend/compare.h"
#include "frontend/json.h"

namespace kiln::cli {

int Compare() {
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail("compare", model.status());
  CompareOptions options;
  options.batch = FlagBatch() > 0 ? FlagBatch() : 64;
  options.threads = FlagThreads() > 0 ? FlagThreads() : 2;
  if (FlagSpecified("tolerance")) options.tolerance = FlagTolerance();
  auto report = CompareBackends(*model, options);
  if (!report.ok()) return Fail("compare", report.status());
  const int bad = report->first_disagreement;
  if (FlagJson()) {
    for (const KernelComparison& k : report->kernels) {
      std::printf("%s\n", JsonLine()
                              .Add("node", k.node)
                              .Add("op", k.op)
                              .Add("fused_ops", k.body)
                              .Add("kernel", k.kernel)
                              .Add("max_error", k.max_error)
                              .Add("agrees", k.agrees)
                              .str()
                              .c_str());
    }
    JsonLine summary;
    summary.Add("model", model->name())
        .Add("batch", options.batch)
        .Add("tolerance", options.tolerance)
        .Add("kernels", static_cast<int64_t>(report->kernels.size()))
        .Add("agree", bad < 0);
    if (bad >= 0) {
      summary.Add("first_disagreement", report->kernels[bad].node)
          .Add("first_disagreement_op", report->kernels[bad].op);
    }
    std::printf("%s\n", summary.str().c_str());
    return bad < 0 ? 0 : 1;
  }
  std::printf("%s, batch %lld: one training step on the JIT and the interpreter from the same "
              "weights and batch\n",
              model->name().c_str(), static_cast<long long>(options.batch));
  std::printf("%-4s %-34s %-26s %11s  %s\n", "", "node", "op", "max error", "fused ops");
  for (size_t i = 0; i < report->kernels.size(); ++i) {
    const KernelComparison& k = report->kernels[i];
    std::printf("%-4s %-34s %-26s %11.3g  %s\n", k.agrees ? "ok" : "BAD", k.node.c_str(),
                k.op.c_str(), k.max_error, k.body.c_str());
  }
  if (bad < 0) {
    std::printf("all %zu kernels agree within %.3g (relative to each result's largest value)\n",
                report->kernels.size(), options.tolerance);
    return 0;
  }
  const KernelComparison& k = report->kernels[bad];
  std::printf("\nfirst disagreement: node '%s' (%s%s%s), kernel %s: max error %.3g > %.3g; every "
              "input it read agreed\n",
              k.node.c_str(), k.op.c_str(), k.body.empty() ? "" : ": ", k.body.c_str(),
              k.kernel.c_str(), k.max_error, options.tolerance);
  return 1;
}

}  // namespace kiln::cli
