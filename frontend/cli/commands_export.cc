// `kiln export`: ahead-of-time compilation of a model into an object file, a C header and an
// example program (frontend/aot_export.h).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "frontend/aot_export.h"
#include "frontend/cli/commands.h"
#include "frontend/cli/flags.h"

namespace kiln::cli {

int Export() {
  const auto start = std::chrono::steady_clock::now();
  const std::string dir = FlagOut();
  if (dir.empty()) {
    return Fail("export", absl::InvalidArgumentError(
                              "--out DIR is required: the folder for the object, header and "
                              "example program"));
  }
  auto model = LoadModel(FlagModel(), FlagSeed());
  if (!model.ok()) return Fail("export", model.status());
  auto optimizer = OptimizerFromFlags();
  if (!optimizer.ok()) return Fail("export", optimizer.status());
  ExportOptions options;
  options.batch = FlagBatch() > 0 ? FlagBatch() : 1;
  // A saved model compiled with an optimizer keeps it, unless --lr or --optimizer sgd is given.
  const bool flags_default = FlagLr() == 0 && FlagOptimizer() == "adam";
  const bool keep = model->compiled() && flags_default;
  options.optimizer = keep ? model->optimizer() : *optimizer;
  if (keep) options.optimizer_state = model->optimizer_state();  // Training continues exactly.
  options.target_cpu = FlagTargetCpu();
  // Refuse an unusable folder before spending a second compiling; a folder created here is
  // removed again (when still empty) if the export fails.
  std::error_code ec;
  const bool existed = std::filesystem::exists(dir, ec);
  auto fail = [&](const absl::Status& status) {
    if (!existed) std::filesystem::remove(dir, ec);
    return Fail("export", status);
  };
  if (auto s = PrepareExportDir(dir); !s.ok()) return fail(s);
  auto exported = ExportModel(*model, options);
  if (!exported.ok()) return fail(exported.status());
  auto paths = WriteExportedModel(*exported, dir);
  if (!paths.ok()) return fail(paths.status());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("exported %s for batch %lld, training with %s: %lld kernels for CPU %s, %.1f s\n",
              model->name().c_str(), static_cast<long long>(options.batch),
              options.optimizer.Describe().c_str(), static_cast<long long>(exported->aot.kernels),
              exported->aot.cpu.c_str(), seconds);
  for (const std::string& path : *paths) std::printf("  %s\n", path.c_str());
  std::printf(
      "build and run the example:\n  cc -O2 -I %s %s/example.c %s/%s.o -lm -o example "
      "&& ./example\n",
      dir.c_str(), dir.c_str(), dir.c_str(), exported->name.c_str());
  return 0;
}

}  // namespace kiln::cli
