// The peak-FMA measurement compiles, runs, and keeps its FMA loop. Timing is never asserted
// beyond a sanity floor: the machine may be shared.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "codegen/peak.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(PeakFlopsTest, MeasuresAPositiveRate) {
  PeakOptions options;
  options.threads = 2;
  options.samples = 1;
  options.keep_ir = true;
  absl::StatusOr<PeakFlops> peak = MeasurePeakFlops(options);
  ASSERT_TRUE(peak.ok()) << peak.status();
  EXPECT_TRUE(peak->lanes == 8 || peak->lanes == 16) << peak->lanes;
  EXPECT_GE(peak->chains, 8);
  EXPECT_EQ(peak->threads, 2);
  EXPECT_GT(peak->gflops_per_core, 1.0);
  EXPECT_GT(peak->gflops_total, 1.0);
  std::printf("peak: %d x %d-lane FMA chains, %.1f GFLOP/s per core, %.1f on %d threads\n",
              peak->chains, peak->lanes, peak->gflops_per_core, peak->gflops_total, peak->threads);
  if (const char* path = std::getenv("KILN_DUMP_IR")) {  // For checking the assembly by hand.
    if (FILE* f = std::fopen(path, "w")) {
      std::fputs(peak->llvm_ir.c_str(), f);
      std::fclose(f);
    }
  }
  // The optimized kernel still holds vector FMAs at the host width (the loop was not folded).
  const std::string fma = "llvm.fmuladd.v" + std::to_string(peak->lanes) + "f32";
  EXPECT_NE(peak->llvm_ir.find(fma), std::string::npos) << peak->llvm_ir;
}

}  // namespace
}  // namespace kiln
