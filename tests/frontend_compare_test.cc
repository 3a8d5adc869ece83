// `kiln compare` (frontend/compare.h): every kernel of a training step agrees between the JIT and
// the interpreter, and a wrong kernel (JitOptions::inject_fault, a test-only fault that bumps
// one element of a node's result) is named as the first disagreement, with what it fuses.
#include "frontend/compare.h"

#include <string>

#include "bench/zoo/zoo.h"
#include "frontend/builtin_models.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

CompareOptions Small() {
  CompareOptions o;
  o.batch = 4;
  return o;
}

int IndexOf(const CompareReport& r, const std::string& node) {
  for (size_t i = 0; i < r.kernels.size(); ++i) {
    if (r.kernels[i].node == node) return static_cast<int>(i);
  }
  return -1;
}

TEST(CompareTest, EveryKernelOfEveryZooModelAgrees) {
  for (const ZooEntry& entry : ZooModels()) {
    auto model = ZooModel(entry.name, 3);
    ASSERT_TRUE(model.ok()) << model.status();
    auto report = CompareBackends(*model, Small());
    ASSERT_TRUE(report.ok()) << entry.name << ": " << report.status();
    EXPECT_GT(report->kernels.size(), 5u) << entry.name;
    EXPECT_EQ(report->first_disagreement, -1)
        << entry.name << ": " << report->kernels[report->first_disagreement].node;
  }
}

TEST(CompareTest, NamesAnInjectedFaultInAFusedKernel) {
  auto model = BuiltinModel("mnist-cnn", 1);
  ASSERT_TRUE(model.ok());
  auto clean = CompareBackends(*model, Small());
  ASSERT_TRUE(clean.ok()) << clean.status();
  // The first fused kernel of the step, and one late in the backward pass.
  int fused = -1;
  for (size_t i = 0; i < clean->kernels.size() && fused < 0; ++i) {
    if (!clean->kernels[i].body.empty()) fused = static_cast<int>(i);
  }
  ASSERT_GE(fused, 0);
  // Kernels come first, then the parameters their updates wrote: a node halfway through the
  // kernels is in the backward pass.
  int kernels = 0;
  while (kernels < static_cast<int>(clean->kernels.size()) &&
         clean->kernels[kernels].op.find("Apply") == std::string::npos) {
    ++kernels;
  }
  const int late = kernels / 2;
  for (int target : {fused, late}) {
    const std::string node = clean->kernels[target].node;
    CompareOptions options = Small();
    options.jit.inject_fault = node;
    auto report = CompareBackends(*model, options);
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_GE(report->first_disagreement, 0) << "fault in " << node << " not found";
    EXPECT_EQ(report->kernels[report->first_disagreement].node, node);
    EXPECT_EQ(report->first_disagreement, IndexOf(*report, node));
    for (int i = 0; i < report->first_disagreement; ++i) EXPECT_TRUE(report->kernels[i].agrees);
  }
  EXPECT_FALSE(clean->kernels[fused].body.empty());
  EXPECT_NE(clean->kernels[fused].body.find(" + "), std::string::npos)
      << clean->kernels[fused].body;
}

TEST(CompareTest, UnknownFaultNodeIsAnError) {
  auto model = BuiltinModel("mnist-dnn", 1);
  ASSERT_TRUE(model.ok());
  CompareOptions options = Small();
  options.jit.inject_fault = "no_such_node";
  auto report = CompareBackends(*model, options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("no_such_node"), std::string::npos);
}

}  // namespace
}  // namespace kiln
