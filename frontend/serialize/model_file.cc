#include "frontend/serialize/model_file.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "frontend/serialize/file_io.h"
#include "frontend/serialize/kiln.pb.h"
#include "frontend/serialize/proto_codec.h"
#include "ir/status.h"

namespace kiln {
namespace {

using serialize_internal::GraphFromProto;
using serialize_internal::GraphToProto;
using serialize_internal::TensorFromProto;
using serialize_internal::TensorToProto;

constexpr char kModelMagic[] = "KILNMODL";
constexpr char kGraphMagic[] = "KILNGRPH";
constexpr uint32_t kEnvelopeVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 8 + 4;
// A node's value at batch 1 larger than this is refused: running it could not allocate.
constexpr int64_t kMaxNodeBytes = int64_t{1} << 30;

template <typename T>
void PutLe(std::string* out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
template <typename T>
T GetLe(const char* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string Wrap(const char* magic, const std::string& payload) {
  std::string out(magic, 8);
  PutLe<uint32_t>(&out, kEnvelopeVersion);
  PutLe<uint64_t>(&out, payload.size());
  PutLe<uint32_t>(&out, Crc32c(payload));
  return out + payload;
}

absl::StatusOr<absl::string_view> Unwrap(const char* magic, absl::string_view bytes) {
  const char* kind = std::strcmp(magic, kModelMagic) == 0 ? "model" : "graph";
  if (bytes.size() < kHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat("not a Kiln ", kind, " file: ", bytes.size(),
                                                   " bytes, shorter than the header"));
  }
  if (std::memcmp(bytes.data(), magic, 8) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("not a Kiln ", kind, " file (bad magic)"));
  }
  const uint32_t version = GetLe<uint32_t>(bytes.data() + 8);
  if (version != kEnvelopeVersion) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported file envelope version ", version,
                                                   " (this build reads ", kEnvelopeVersion, ")"));
  }
  const uint64_t length = GetLe<uint64_t>(bytes.data() + 12);
  const uint64_t have = bytes.size() - kHeaderBytes;
  if (length != have) {
    return absl::DataLossError(absl::StrCat("file is truncated or padded: header says ", length,
                                            " payload bytes, found ", have));
  }
  absl::string_view payload = bytes.substr(kHeaderBytes);
  if (Crc32c(payload) != GetLe<uint32_t>(bytes.data() + 20)) {
    return absl::DataLossError("file checksum mismatch (corrupted file)");
  }
  return payload;
}

absl::Status Bad(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

void ToProto(const ModelFile& f, pb::Model* m) {
  m->set_format_version(kModelFormatVersion);
  m->set_name(f.name);
  for (int64_t d : f.input_shape) m->add_input_shape(d);
  GraphToProto(f.forward, m->mutable_forward());
  m->set_logits(f.logits);
  for (const SavedLayer& l : f.layers) {
    pb::Layer* p = m->add_layers();
    p->set_name(l.name);
    p->set_type(l.type);
    p->set_output(l.output);
    p->set_params(l.params);
    p->set_flops_per_example(l.flops_per_example);
    p->set_config(l.config);
  }
  for (const auto& [name, t] : f.weights) TensorToProto(name, t, m->add_weights());
  for (const auto& [name, t] : f.optimizer_state) TensorToProto(name, t, m->add_optimizer_state());
  m->set_compiled(f.compiled);
  pb::Optimizer* o = m->mutable_optimizer();
  o->set_kind(f.optimizer.kind);
  o->set_learning_rate(f.optimizer.learning_rate);
  o->set_momentum(f.optimizer.momentum);
  o->set_nesterov(f.optimizer.nesterov);
  o->set_weight_decay(f.optimizer.weight_decay);
  o->set_beta1(f.optimizer.beta1);
  o->set_beta2(f.optimizer.beta2);
  o->set_epsilon(f.optimizer.epsilon);
  o->set_rho(f.optimizer.rho);
  pb::TrainingConfig* c = m->mutable_config();
  c->set_dataset(f.config.dataset);
  c->set_backend(f.config.backend);
  c->set_batch_size(f.config.batch_size);
  c->set_epochs(f.config.epochs);
  c->set_seed(f.config.seed);
  c->set_limit(f.config.limit);
  c->set_loss(f.config.loss);
  pb::Metadata* md = m->mutable_metadata();
  md->set_kiln_version(f.kiln_version);
  md->set_epoch(f.progress.epoch);
  md->set_step(f.progress.step);
  if (f.progress.has_rng) {
    for (uint64_t w : f.progress.rng_state) md->add_rng_state(w);
  }
  for (const auto& logs : f.progress.history) {
    pb::EpochLogs* e = md->add_history();
    for (const auto& [name, value] : logs) {
      pb::Metric* metric = e->add_metrics();
      metric->set_name(name);
      metric->set_value(value);
    }
  }
  md->set_compile_seconds(f.progress.compile_seconds);
}

absl::Status CheckInput(const ModelFile& f) {
  const Graph& g = f.forward;
  const NodeId image = g.Find("image");
  if (image < 0 || g.node(image).op != OpKind::kInput) {
    return Bad("forward", "has no Input node named 'image'");
  }
  Dims want = {1};
  want.insert(want.end(), f.input_shape.begin(), f.input_shape.end());
  if (g.node(image).type != TensorType{DType::kF32, want}) {
    return Bad("forward", absl::StrCat("input 'image' is ", TypeToString(g.node(image).type),
                                       ", but input_shape says f32", DimsToString(want)));
  }
  for (const Node& node : g.nodes()) {
    if (node.op == OpKind::kInput && node.id != image) {
      return Bad("forward", absl::StrCat("node '", node.name, "': a second Input"));
    }
    if (IsSink(node.op)) {
      return Bad("forward", absl::StrCat("node '", node.name, "': update op in a forward graph"));
    }
    if (CheckedByteSize(node.type).value() > kMaxNodeBytes) {
      return Bad("forward", absl::StrCat("node '", node.name, "' is ", TypeToString(node.type),
                                         ", larger than 1 GiB at batch 1"));
    }
  }
  if (g.outputs().size() != 1) {
    return Bad("forward", absl::StrCat("needs exactly one output, has ", g.outputs().size()));
  }
  return absl::OkStatus();
}

absl::Status FromProto(const pb::Model& m, ModelFile* f) {
  if (m.format_version() != kModelFormatVersion) {
    return Bad("format_version", absl::StrCat(m.format_version(), " is not supported (this build "
                                              "reads ", kModelFormatVersion, ")"));
  }
  f->name = m.name();
  for (int64_t d : m.input_shape()) {
    if (d <= 0 || d > (int64_t{1} << 24)) {
      return Bad("input_shape", absl::StrCat("dimension ", d, " is out of range"));
    }
    f->input_shape.push_back(d);
  }
  if (f->input_shape.empty()) return Bad("input_shape", "is empty");
  KILN_ASSIGN_OR_RETURN(f->forward, GraphFromProto(m.forward()));
  KILN_RETURN_IF_ERROR(CheckInput(*f));
  f->logits = m.logits();
  if (!f->logits.empty() && f->forward.Find(f->logits) < 0) {
    return Bad("logits", absl::StrCat("names no node ('", f->logits, "')"));
  }
  for (int i = 0; i < m.layers_size(); ++i) {
    const pb::Layer& l = m.layers(i);
    if (f->forward.Find(l.output()) < 0) {
      return Bad(absl::StrCat("layers[", i, "] ('", l.name(), "')"),
                 absl::StrCat("output '", l.output(), "' is not a node of the forward graph"));
    }
    f->layers.push_back(
        {l.name(), l.type(), l.output(), l.params(), l.flops_per_example(), l.config()});
  }
  for (int i = 0; i < m.weights_size(); ++i) {
    const std::string where = absl::StrCat("weights[", i, "]");
    KILN_ASSIGN_OR_RETURN(Tensor t, TensorFromProto(m.weights(i), where));
    const NodeId id = f->forward.Find(m.weights(i).name());
    if (id < 0 || f->forward.node(id).op != OpKind::kParameter) {
      return Bad(where, absl::StrCat("'", m.weights(i).name(), "' is not a Parameter of the graph"));
    }
    if (f->forward.node(id).type != t.type()) {
      return Bad(where, absl::StrCat("'", m.weights(i).name(), "' is ", TypeToString(t.type()),
                                     ", the graph's Parameter is ",
                                     TypeToString(f->forward.node(id).type)));
    }
    if (!f->weights.emplace(m.weights(i).name(), std::move(t)).second) {
      return Bad(where, absl::StrCat("'", m.weights(i).name(), "' appears twice"));
    }
  }
  for (const Node& node : f->forward.nodes()) {
    if (node.op == OpKind::kParameter && !f->weights.count(node.name)) {
      return Bad("weights", absl::StrCat("no value for Parameter '", node.name, "'"));
    }
  }
  for (int i = 0; i < m.optimizer_state_size(); ++i) {
    const std::string where = absl::StrCat("optimizer_state[", i, "]");
    KILN_ASSIGN_OR_RETURN(Tensor t, TensorFromProto(m.optimizer_state(i), where));
    if (!f->optimizer_state.emplace(m.optimizer_state(i).name(), std::move(t)).second) {
      return Bad(where, absl::StrCat("'", m.optimizer_state(i).name(), "' appears twice"));
    }
  }
  f->compiled = m.compiled();
  const pb::Optimizer& o = m.optimizer();
  f->optimizer = {o.kind(),  o.learning_rate(), o.momentum(), o.nesterov(), o.weight_decay(),
                  o.beta1(), o.beta2(),         o.epsilon(),  o.rho()};
  if (f->compiled && o.kind() != "sgd" && o.kind() != "adam" && o.kind() != "rmsprop") {
    return Bad("optimizer.kind", absl::StrCat("'", o.kind(), "' (sgd, adam or rmsprop)"));
  }
  for (double v : {o.learning_rate(), o.momentum(), o.weight_decay(), o.beta1(), o.beta2(),
                   o.epsilon()}) {
    if (!std::isfinite(v)) return Bad("optimizer", "a hyperparameter is not finite");
  }
  const pb::TrainingConfig& c = m.config();
  f->config = {c.dataset(), c.backend(), c.batch_size(), c.epochs(), c.seed(), c.limit(), c.loss()};
  if (!c.loss().empty() && c.loss() != "sparse_categorical_crossentropy" &&
      c.loss() != "binary_crossentropy") {
    return Bad("config.loss", absl::StrCat("unknown loss '", c.loss(), "'"));
  }
  if (c.batch_size() < 0 || c.epochs() < 0 || c.limit() < 0) {
    return Bad("config", "negative batch size, epochs or limit");
  }
  const pb::Metadata& md = m.metadata();
  f->kiln_version = md.kiln_version();
  f->progress.epoch = md.epoch();
  f->progress.step = md.step();
  if (md.epoch() < 0 || md.step() < 0) return Bad("metadata", "negative epoch or step");
  if (md.rng_state_size() != 0 && md.rng_state_size() != 4) {
    return Bad("metadata.rng_state", absl::StrCat("has ", md.rng_state_size(), " words, not 4"));
  }
  f->progress.has_rng = md.rng_state_size() == 4;
  for (int i = 0; i < md.rng_state_size(); ++i) f->progress.rng_state[i] = md.rng_state(i);
  for (const pb::EpochLogs& e : md.history()) {
    std::map<std::string, double>& logs = f->progress.history.emplace_back();
    for (const pb::Metric& metric : e.metrics()) logs[metric.name()] = metric.value();
  }
  f->progress.compile_seconds = md.compile_seconds();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EncodeModelFile(const ModelFile& file) {
  pb::Model m;
  ToProto(file, &m);
  std::string payload;
  if (!m.SerializeToString(&payload)) return absl::InternalError("cannot serialize the model");
  if (static_cast<int64_t>(payload.size()) + static_cast<int64_t>(kHeaderBytes) >
      kMaxModelFileBytes) {
    return absl::InvalidArgumentError("model is larger than the 1 GiB file limit");
  }
  return Wrap(kModelMagic, payload);
}

absl::StatusOr<ModelFile> DecodeModelPayload(absl::string_view payload) {
  if (static_cast<int64_t>(payload.size()) > kMaxModelFileBytes) {
    return absl::InvalidArgumentError("model payload is larger than the 1 GiB limit");
  }
  pb::Model m;
  if (!m.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::InvalidArgumentError("model payload is not a valid kiln.pb.Model message");
  }
  ModelFile f;
  KILN_RETURN_IF_ERROR(FromProto(m, &f));
  return f;
}

absl::StatusOr<ModelFile> DecodeModelFile(absl::string_view bytes) {
  KILN_ASSIGN_OR_RETURN(absl::string_view payload, Unwrap(kModelMagic, bytes));
  return DecodeModelPayload(payload);
}

absl::StatusOr<std::string> EncodeGraphFile(const Graph& graph) {
  pb::GraphFile file;
  file.set_format_version(kModelFormatVersion);
  GraphToProto(graph, file.mutable_graph());
  std::string payload;
  if (!file.SerializeToString(&payload)) return absl::InternalError("cannot serialize the graph");
  return Wrap(kGraphMagic, payload);
}

absl::StatusOr<Graph> DecodeGraphFile(absl::string_view bytes) {
  KILN_ASSIGN_OR_RETURN(absl::string_view payload, Unwrap(kGraphMagic, bytes));
  pb::GraphFile file;
  if (!file.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::InvalidArgumentError("graph payload is not a valid kiln.pb.GraphFile message");
  }
  if (file.format_version() != kModelFormatVersion) {
    return Bad("format_version", absl::StrCat(file.format_version(), " is not supported"));
  }
  return GraphFromProto(file.graph());
}

absl::Status SaveModelFile(const std::string& path, const ModelFile& file) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, EncodeModelFile(file));
  return WriteFileAtomically(path, bytes);
}

}  // namespace kiln
