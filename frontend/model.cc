#include "frontend/model.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "frontend/initializers.h"
#include "frontend/layer_forms.h"
#include "ir/status.h"
#include "runtime/interpreter.h"

namespace kiln {

Layer Conv2D(int64_t filters, Window kernel, Conv2DOptions options) {
  return {"Conv2D",
          [=](GraphBuilder& b, NodeId x) { return b.Conv2D(x, filters, kernel, options); }};
}
Layer MaxPooling2D(Window pool, PoolOptions options) {
  return {"MaxPooling2D",
          [=](GraphBuilder& b, NodeId x) { return b.MaxPooling2D(x, pool, options); }};
}
Layer AveragePooling2D(Window pool, PoolOptions options) {
  return {"AveragePooling2D",
          [=](GraphBuilder& b, NodeId x) { return b.AveragePooling2D(x, pool, options); }};
}
Layer GlobalAveragePooling2D(std::string name) {
  return {"GlobalAveragePooling2D",
          [=](GraphBuilder& b, NodeId x) { return b.GlobalAveragePooling2D(x, name); }};
}
Layer GlobalMaxPooling2D(std::string name) {
  return {"GlobalMaxPooling2D",
          [=](GraphBuilder& b, NodeId x) { return b.GlobalMaxPooling2D(x, name); }};
}
Layer Rescaling(float scale, float offset, std::string name) {
  return {"Rescaling",
          [=](GraphBuilder& b, NodeId x) { return b.Rescaling(x, scale, offset, name); }};
}
Layer Dropout(double rate, int64_t seed, std::string name) {
  return {"Dropout", [=](GraphBuilder& b, NodeId x) { return b.Dropout(x, rate, seed, name); }};
}
Layer BatchNormalization(double momentum, double epsilon, std::string name) {
  return {"BatchNormalization", [=](GraphBuilder& b, NodeId x) {
            return b.BatchNormalization(x, momentum, epsilon, name);
          }};
}
Layer Flatten(std::string name) {
  return {"Flatten", [=](GraphBuilder& b, NodeId x) { return b.Flatten(x, name); }};
}
Layer Dense(int64_t units, std::string activation, std::string name, bool use_bias) {
  return {"Dense",
          [=](GraphBuilder& b, NodeId x) { return b.Dense(x, units, activation, name, use_bias); }};
}

absl::StatusOr<Model> Model::Sequential(std::string name, Dims input_shape,
                                        std::vector<Layer> layers, uint64_t seed) {
  if (layers.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("model '", name, "' has no layers"));
  }
  ModelFn fn = [layers = std::move(layers)](GraphBuilder& b, NodeId x) -> absl::StatusOr<NodeId> {
    for (const Layer& layer : layers) {
      KILN_ASSIGN_OR_RETURN(x, layer.apply(b, x));
    }
    return x;
  };
  return Functional(std::move(name), std::move(input_shape), std::move(fn), seed);
}

absl::StatusOr<Model> Model::Functional(std::string name, Dims input_shape, ModelFn fn,
                                        uint64_t seed) {
  Model model(std::move(name), std::move(input_shape), std::move(fn));
  KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, model.Build(1));
  // Refused before anything is allocated: a model file may ask for absurd layer sizes.
  constexpr int64_t kMaxParameters = int64_t{1} << 31;
  int64_t total = 0;
  for (const auto& [param, init] : fwd.parameters) {
    const int64_t n = NumElements(fwd.graph.node(fwd.graph.Find(param)).type.dims);
    if (__builtin_add_overflow(total, n, &total) || total > kMaxParameters) {
      return absl::InvalidArgumentError(absl::StrCat("model '", model.name_, "' has more than ",
                                                     kMaxParameters, " parameters (at '", param,
                                                     "')"));
    }
  }
  Rng rng(seed);
  for (const auto& [param, init] : fwd.parameters) {
    Tensor t(fwd.graph.node(fwd.graph.Find(param)).type);
    if (init == Init::kGlorotUniform) GlorotUniform(&t, &rng);
    if (init == Init::kOnes) std::fill(t.f32(), t.f32() + t.size(), 1.0f);
    model.weights_.emplace(param, std::move(t));
  }
  return model;
}

absl::StatusOr<ForwardGraph> Model::Build(int64_t batch, GraphForm form) const {
  if (batch <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("batch size must be positive, got ", batch));
  }
  GraphBuilder builder(name_, batch);
  ForwardGraph fwd;
  KILN_ASSIGN_OR_RETURN(fwd.input, builder.Input("image", input_shape_));
  KILN_ASSIGN_OR_RETURN(fwd.output, fn_(builder, fwd.input));
  fwd.logits = builder.logits() >= 0 && builder.graph().node(fwd.output).op == OpKind::kSoftmax &&
                       builder.graph().node(fwd.output).inputs[0] == builder.logits()
                   ? builder.logits()
                   : -1;
  fwd.layers = builder.layers();
  fwd.parameters = builder.parameters();
  fwd.graph = builder.TakeGraph();
  fwd.graph.set_outputs({fwd.output});
  if (form == GraphForm::kInference) KILN_RETURN_IF_ERROR(LowerForInference(fwd.graph));
  if (form == GraphForm::kTraining) KILN_RETURN_IF_ERROR(LowerForTraining(fwd.graph));
  KILN_RETURN_IF_ERROR(Verify(fwd.graph));
  return fwd;
}

absl::Status Model::SetWeight(const std::string& name, const Tensor& value) {
  auto it = weights_.find(name);
  if (it == weights_.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name_, "' has no weight '", name, "'"));
  }
  if (it->second.type() != value.type()) {
    return absl::InvalidArgumentError(absl::StrCat("weight '", name, "' is ",
                                                   TypeToString(it->second.type()), ", got ",
                                                   TypeToString(value.type())));
  }
  it->second = value;
  return absl::OkStatus();
}

int64_t Model::CountParams() const {
  int64_t n = 0;
  for (const auto& [name, t] : weights_) n += t.size();
  return n;
}

absl::StatusOr<Tensor> Model::Predict(const Tensor& images, int64_t batch_size, Backend backend,
                                      int threads) const {
  const Dims& d = images.dims();
  if (images.dtype() != DType::kF32 || d.size() != input_shape_.size() + 1 ||
      !std::equal(input_shape_.begin(), input_shape_.end(), d.begin() + 1)) {
    return absl::InvalidArgumentError(absl::StrCat("model '", name_, "' expects images f32[N,",
                                                   DimsToString(input_shape_).substr(1), ", got ",
                                                   TypeToString(images.type())));
  }
  if (batch_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch size must be positive, got ", batch_size));
  }
  const int64_t n = d[0];
  const int64_t per_image = NumElements(input_shape_);
  Tensor result;
  std::unique_ptr<Executable> exe;
  int64_t exe_batch = 0;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t count = std::min(batch_size, n - start);
    if (count != exe_batch) {  // First batch, or the ragged last one.
      KILN_ASSIGN_OR_RETURN(ForwardGraph fwd, Build(count));
      KILN_ASSIGN_OR_RETURN(exe, CreateExecutable(std::move(fwd.graph), backend, threads));
      for (const auto& [name, value] : weights_) KILN_RETURN_IF_ERROR(exe->SetTensor(name, value));
      exe_batch = count;
    }
    Dims batch_dims = d;
    batch_dims[0] = count;
    Tensor batch(TensorType{DType::kF32, batch_dims});
    std::memcpy(batch.raw(), images.f32() + start * per_image, batch.bytes());
    KILN_RETURN_IF_ERROR(exe->SetTensor("image", batch));
    KILN_RETURN_IF_ERROR(exe->Run());
    const Graph& g = exe->graph();
    KILN_ASSIGN_OR_RETURN(Tensor out, exe->GetTensor(g.node(g.outputs()[0]).name));
    if (start == 0) {
      Dims out_dims = out.dims();
      out_dims[0] = n;
      result = Tensor(TensorType{DType::kF32, out_dims});
    }
    const int64_t per_out = out.size() / count;
    std::memcpy(result.f32() + start * per_out, out.f32(), out.bytes());
  }
  return result;
}

}  // namespace kiln
