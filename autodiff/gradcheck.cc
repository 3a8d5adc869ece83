#include "autodiff/gradcheck.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "autodiff/differentiate.h"
#include "ir/status.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

absl::Status Feed(Executable* exe, const std::map<std::string, Tensor>& feeds) {
  for (const auto& [name, value] : feeds) KILN_RETURN_IF_ERROR(exe->SetTensor(name, value));
  return absl::OkStatus();
}

absl::StatusOr<double> Loss(Executable* exe, const std::string& loss) {
  KILN_RETURN_IF_ERROR(exe->Run());
  KILN_ASSIGN_OR_RETURN(Tensor t, exe->GetTensor(loss));
  return static_cast<double>(t.f32()[0]);
}

}  // namespace

absl::StatusOr<std::vector<GradCheckResult>> CheckGradients(
    const Graph& graph, NodeId loss, const std::vector<NodeId>& parameters,
    const std::map<std::string, Tensor>& feeds, const GradCheckOptions& options) {
  const std::string loss_name = graph.node(loss).name;
  Graph with_grads = graph;
  KILN_ASSIGN_OR_RETURN(std::vector<NodeId> grads, Differentiate(with_grads, loss, parameters));
  std::vector<NodeId> outputs = {loss};
  outputs.insert(outputs.end(), grads.begin(), grads.end());
  with_grads.set_outputs(outputs);
  KILN_ASSIGN_OR_RETURN(auto symbolic_exe, CreateInterpreter(std::move(with_grads)));
  KILN_RETURN_IF_ERROR(Feed(symbolic_exe.get(), feeds));
  KILN_RETURN_IF_ERROR(symbolic_exe->Run());

  Graph forward = graph;
  forward.set_outputs({loss});
  KILN_ASSIGN_OR_RETURN(auto exe, CreateInterpreter(std::move(forward)));
  KILN_RETURN_IF_ERROR(Feed(exe.get(), feeds));

  KILN_ASSIGN_OR_RETURN(const double center, Loss(exe.get(), loss_name));
  std::vector<GradCheckResult> results;
  for (size_t p = 0; p < parameters.size(); ++p) {
    const std::string name = graph.node(parameters[p]).name;
    auto fed = feeds.find(name);
    if (fed == feeds.end()) {
      return absl::InvalidArgumentError(absl::StrCat("no value fed for parameter '", name, "'"));
    }
    KILN_ASSIGN_OR_RETURN(Tensor symbolic,
                          symbolic_exe->GetTensor(symbolic_exe->graph().node(grads[p]).name));
    Tensor value = fed->second;
    const int64_t n = value.size();
    const int64_t count = options.max_elements > 0 ? std::min(n, options.max_elements) : n;
    std::vector<double> numeric, analytic;
    int64_t skipped = 0;
    for (int64_t k = 0; k < count; ++k) {
      // Spread the sample over every dimension: a stride coprime to the sizes (an odd prime far
      // from the small powers of two that channel counts are) rather than k * n / count, which
      // would land in one output channel.
      const int64_t i = count == n ? k : (k * 7919 + 17) % n;
      const float original = value.f32()[i];
      value.f32()[i] = static_cast<float>(original + options.epsilon);
      KILN_RETURN_IF_ERROR(exe->SetTensor(name, value));
      KILN_ASSIGN_OR_RETURN(double plus, Loss(exe.get(), loss_name));
      value.f32()[i] = static_cast<float>(original - options.epsilon);
      KILN_RETURN_IF_ERROR(exe->SetTensor(name, value));
      KILN_ASSIGN_OR_RETURN(double minus, Loss(exe.get(), loss_name));
      // Divide by the step actually taken after rounding to float.
      const double step = static_cast<double>(static_cast<float>(original + options.epsilon)) -
                          static_cast<double>(static_cast<float>(original - options.epsilon));
      value.f32()[i] = original;
      // Piecewise-linear ops (ReLU, max pooling) have kinks: a step across one makes the
      // one-sided differences disagree, and no finite difference is meaningful there.
      const double forward = (plus - center) / (step / 2), backward = (center - minus) / (step / 2);
      if (std::abs(forward - backward) >
              options.kink_threshold * std::max(std::abs(forward), std::abs(backward)) &&
          std::abs(forward - backward) > 1e-3) {
        ++skipped;
        continue;
      }
      numeric.push_back((plus - minus) / step);
      analytic.push_back(symbolic.f32()[i]);
    }
    KILN_RETURN_IF_ERROR(exe->SetTensor(name, value));
    GradCheckResult r;
    r.parameter = name;
    r.checked = count - skipped;
    r.skipped_kinks = skipped;
    for (double v : numeric) r.max_abs_numeric = std::max(r.max_abs_numeric, std::abs(v));
    const double scale = std::max(r.max_abs_numeric, 1e-3);
    for (size_t k = 0; k < numeric.size(); ++k) {
      const double err = std::abs(numeric[k] - analytic[k]) / scale;
      r.max_relative_error = std::max(r.max_relative_error, std::isnan(err) ? INFINITY : err);
    }
    results.push_back(r);
  }
  return results;
}

}  // namespace kiln
