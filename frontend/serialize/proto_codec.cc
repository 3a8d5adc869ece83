#include "frontend/serialize/proto_codec.h"

#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "frontend/serialize/file_io.h"
#include "ir/status.h"

namespace kiln::serialize_internal {
namespace {

static_assert(std::endian::native == std::endian::little,
              "tensor bytes are stored little-endian; add byte swapping for this host");

absl::Status Bad(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

void TypeToProto(const TensorType& type, pb::TensorType* out) {
  out->set_dtype(type.dtype == DType::kF32 ? pb::F32 : pb::I32);
  for (int64_t d : type.dims) out->add_dims(d);
}

absl::StatusOr<TensorType> TypeFromProto(const pb::TensorType& in, const std::string& where) {
  TensorType type;
  switch (in.dtype()) {
    case pb::F32:
      type.dtype = DType::kF32;
      break;
    case pb::I32:
      type.dtype = DType::kI32;
      break;
    default:
      return Bad(where, absl::StrCat("unknown dtype ", static_cast<int>(in.dtype())));
  }
  type.dims.assign(in.dims().begin(), in.dims().end());
  auto bytes = CheckedByteSize(type);
  if (!bytes.ok()) return Bad(where, std::string(bytes.status().message()));
  return type;
}

void AttrToProto(const std::string& name, const AttrValue& v, pb::Attr* out) {
  out->set_name(name);
  switch (v.kind) {
    case AttrKind::kInt:
      out->set_i(v.i);
      return;
    case AttrKind::kInts:
      for (int64_t x : v.ints) out->mutable_ints()->add_values(x);
      out->mutable_ints();  // An empty list is still a list.
      return;
    case AttrKind::kFloat:
      out->set_f(v.f);
      return;
    case AttrKind::kFloats:
      for (float x : v.floats) out->mutable_floats()->add_values(x);
      out->mutable_floats();
      return;
    case AttrKind::kStr:
      out->set_s(v.s);
      return;
  }
}

absl::StatusOr<AttrValue> AttrFromProto(const pb::Attr& in, const std::string& where) {
  switch (in.value_case()) {
    case pb::Attr::kI:
      return AttrValue::Int(in.i());
    case pb::Attr::kInts:
      return AttrValue::Ints({in.ints().values().begin(), in.ints().values().end()});
    case pb::Attr::kF:
      return AttrValue::Float(in.f());
    case pb::Attr::kFloats:
      return AttrValue::Floats({in.floats().values().begin(), in.floats().values().end()});
    case pb::Attr::kS:
      return AttrValue::Str(in.s());
    case pb::Attr::VALUE_NOT_SET:
      break;
  }
  return Bad(where, absl::StrCat("attribute '", in.name(), "' has no value"));
}

}  // namespace

void GraphToProto(const Graph& graph, pb::Graph* out) {
  out->set_name(graph.name());
  for (const Node& node : graph.nodes()) {
    pb::Node* n = out->add_nodes();
    n->set_name(node.name);
    n->set_op(OpName(node.op));
    for (NodeId in : node.inputs) n->add_inputs(in);
    for (const auto& [name, value] : node.attrs) AttrToProto(name, value, n->add_attrs());
    TypeToProto(node.type, n->mutable_type());
  }
  for (NodeId id : graph.outputs()) out->add_outputs(id);
}

absl::StatusOr<Graph> GraphFromProto(const pb::Graph& in) {
  Graph graph(in.name());
  const int count = in.nodes_size();
  for (int i = 0; i < count; ++i) {
    const pb::Node& n = in.nodes(i);
    const std::string where = absl::StrCat("graph node ", i, " ('", n.name(), "')");
    Node node;
    auto op = ParseOpKind(n.op());
    if (!op.ok()) return Bad(where, absl::StrCat("unknown op '", n.op(), "'"));
    node.op = *op;
    node.name = n.name();
    for (int k = 0; k < n.inputs_size(); ++k) {
      const int32_t input = n.inputs(k);
      if (input < 0 || input >= count) {
        return Bad(where, absl::StrCat("input ", k, " refers to node ", input, ", but the graph has ",
                                       count, " nodes"));
      }
      node.inputs.push_back(input);
    }
    for (const pb::Attr& a : n.attrs()) {
      KILN_ASSIGN_OR_RETURN(AttrValue value, AttrFromProto(a, where));
      if (!node.attrs.emplace(a.name(), std::move(value)).second) {
        return Bad(where, absl::StrCat("attribute '", a.name(), "' appears twice"));
      }
    }
    KILN_ASSIGN_OR_RETURN(node.type, TypeFromProto(n.type(), where));
    graph.AddRaw(std::move(node));
  }
  std::vector<NodeId> outputs;
  for (int32_t id : in.outputs()) {
    if (id < 0 || id >= count) {
      return Bad("graph outputs", absl::StrCat("node ", id, " does not exist (", count, " nodes)"));
    }
    outputs.push_back(id);
  }
  graph.set_outputs(std::move(outputs));
  if (absl::Status s = Verify(graph); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("graph '", in.name(), "': ", s.message()));
  }
  return graph;
}

void TensorToProto(const std::string& name, const Tensor& tensor, pb::Tensor* out) {
  out->set_name(name);
  TypeToProto(tensor.type(), out->mutable_type());
  out->set_data(tensor.raw(), static_cast<size_t>(tensor.bytes()));
  out->set_crc32c(Crc32c(out->data()));
}

absl::StatusOr<Tensor> TensorFromProto(const pb::Tensor& in, const std::string& where) {
  const std::string at = absl::StrCat(where, " ('", in.name(), "')");
  KILN_ASSIGN_OR_RETURN(TensorType type, TypeFromProto(in.type(), at));
  KILN_ASSIGN_OR_RETURN(int64_t bytes, CheckedByteSize(type));
  if (static_cast<int64_t>(in.data().size()) != bytes) {
    return Bad(at, absl::StrCat("holds ", in.data().size(), " bytes, but ", TypeToString(type),
                                " needs ", bytes));
  }
  if (Crc32c(in.data()) != in.crc32c()) {
    return absl::DataLossError(absl::StrCat(at, ": checksum mismatch (corrupted data)"));
  }
  KILN_ASSIGN_OR_RETURN(Tensor tensor, Tensor::Create(type));
  if (bytes > 0) std::memcpy(tensor.raw(), in.data().data(), static_cast<size_t>(bytes));
  return tensor;
}

}  // namespace kiln::serialize_internal
