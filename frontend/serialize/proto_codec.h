// Internal to frontend/serialize/: graphs and tensors to and from their protobuf messages.
#ifndef KILN_FRONTEND_SERIALIZE_PROTO_CODEC_H_
#define KILN_FRONTEND_SERIALIZE_PROTO_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "frontend/serialize/kiln.pb.h"
#include "ir/graph.h"
#include "ir/tensor.h"

namespace kiln::serialize_internal {

void GraphToProto(const Graph& graph, pb::Graph* out);
// Checks every index, type and attribute as it goes, then verifies the whole graph.
absl::StatusOr<Graph> GraphFromProto(const pb::Graph& in);

void TensorToProto(const std::string& name, const Tensor& tensor, pb::Tensor* out);
// `where` prefixes errors ("weights[3]").
absl::StatusOr<Tensor> TensorFromProto(const pb::Tensor& in, const std::string& where);

}  // namespace kiln::serialize_internal

#endif  // KILN_FRONTEND_SERIALIZE_PROTO_CODEC_H_
