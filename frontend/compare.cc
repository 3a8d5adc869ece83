#include "frontend/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_join.h"
#include "frontend/initializers.h"
#include "ir/dot.h"
#include "ir/passes/passes.h"
#include "ir/status.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

// max |got - ref| / max(1, max |ref|); infinite when NaN or infinities do not match.
double RelativeError(const Tensor& ref, const Tensor& got) {
  if (ref.dtype() == DType::kI32) {
    for (int64_t i = 0; i < ref.size(); ++i) {
      if (ref.i32()[i] != got.i32()[i]) return std::numeric_limits<double>::infinity();
    }
    return 0;
  }
  double scale = 1, worst = 0;
  for (int64_t i = 0; i < ref.size(); ++i) {
    if (std::isfinite(ref.f32()[i])) scale = std::max(scale, std::fabs(double{ref.f32()[i]}));
  }
  for (int64_t i = 0; i < ref.size(); ++i) {
    const float r = ref.f32()[i], g = got.f32()[i];
    if (std::isnan(r) || std::isnan(g) || std::isinf(r) || std::isinf(g)) {
      if (!(std::isnan(r) && std::isnan(g)) && r != g) return std::numeric_limits<double>::infinity();
      continue;
    }
    worst = std::max(worst, std::fabs(double{g} - double{r}));
  }
  return worst / scale;
}

absl::Status FeedBoth(const Model& model, int64_t batch, Executable* a, Executable* b) {
  Rng rng(11);
  Dims dims = {batch};
  dims.insert(dims.end(), model.input_shape().begin(), model.input_shape().end());
  Tensor images(TensorType{DType::kF32, dims});
  for (float& v : images.f32_span()) v = rng.UniformFloat();
  Tensor labels(TensorType{DType::kI32, {batch}});
  for (int64_t i = 0; i < batch; ++i) labels.i32()[i] = static_cast<int32_t>(i % 10);
  for (Executable* exe : {a, b}) {
    for (const auto& [name, value] : model.weights()) {
      if (exe->graph().Find(name) >= 0) KILN_RETURN_IF_ERROR(exe->SetTensor(name, value));
    }
    KILN_RETURN_IF_ERROR(exe->SetTensor("image", images));
    KILN_RETURN_IF_ERROR(exe->SetTensor("label", labels));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CompareReport> CompareBackends(const Model& model, const CompareOptions& options) {
  KILN_ASSIGN_OR_RETURN(Graph train, BuildTrainingGraph(model, options.batch, Optimizer::Adam()));
  KILN_ASSIGN_OR_RETURN(Graph graph, OptimizeGraph(std::move(train)));
  // Every computed result becomes an output, so the JIT's memory plan keeps it readable.
  std::vector<bool> is_output(graph.num_nodes(), false);
  for (NodeId id : graph.outputs()) is_output[id] = true;
  for (const Node& n : graph.nodes()) {
    if (!IsSource(n.op) && !IsSink(n.op) && !is_output[n.id]) graph.AddOutput(n.id);
  }
  JitOptions jit_options = options.jit;
  jit_options.threads = options.threads;
  jit_options.optimize = false;  // The graph above, exactly: both backends run the same nodes.
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<JitExecutable> jit, CreateJit(graph, jit_options));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Executable> interp, CreateInterpreter(graph));
  KILN_RETURN_IF_ERROR(FeedBoth(model, options.batch, jit.get(), interp.get()));
  KILN_RETURN_IF_ERROR(jit->Run());
  KILN_RETURN_IF_ERROR(interp->Run());

  CompareReport report;
  std::vector<bool> seen(graph.num_nodes(), false);
  for (const JitKernelInfo& k : jit->info().kernels) {
    if (k.node < 0 || seen[k.node]) continue;
    seen[k.node] = true;
    const Node& node = graph.node(k.node);
    if (IsSink(node.op)) continue;  // Updates are compared through the Parameters below.
    KernelComparison c{node.name, OpName(node.op), absl::StrJoin(FusedOps(node), " + "),
                       k.symbol};
    KILN_ASSIGN_OR_RETURN(Tensor ref, interp->GetTensor(node.name));
    KILN_ASSIGN_OR_RETURN(Tensor got, jit->GetTensor(node.name));
    c.max_error = RelativeError(ref, got);
    c.agrees = c.max_error <= options.tolerance;
    report.kernels.push_back(std::move(c));
  }
  // The updated parameters and optimizer slots, after the update kernels.
  for (const JitKernelInfo& k : jit->info().kernels) {
    if (k.node < 0 || !IsSink(graph.node(k.node).op)) continue;
    const Node& update = graph.node(k.node);
    for (int i = 0; i < NumMutatedInputs(update.op); ++i) {
      const Node& param = graph.node(update.inputs[i]);
      if (seen[param.id]) continue;
      seen[param.id] = true;
      KernelComparison c{param.name, OpName(update.op), "", k.symbol};
      KILN_ASSIGN_OR_RETURN(Tensor ref, interp->GetTensor(param.name));
      KILN_ASSIGN_OR_RETURN(Tensor got, jit->GetTensor(param.name));
      c.max_error = RelativeError(ref, got);
      c.agrees = c.max_error <= options.tolerance;
      report.kernels.push_back(std::move(c));
    }
  }
  for (size_t i = 0; i < report.kernels.size(); ++i) {
    if (!report.kernels[i].agrees) {
      report.first_disagreement = static_cast<int>(i);
      break;
    }
  }
  return report;
}

}  // namespace kiln
