// Checks shared by shape inference's cases (ir/shape_inference.cc): each names what it
// expected in an InvalidArgument status.
#ifndef KILN_IR_SHAPE_CHECKS_H_
#define KILN_IR_SHAPE_CHECKS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/graph.h"

namespace kiln::shape_checks {

// InvalidArgument with `msg`.
absl::Status Fail(absl::string_view msg);

// The node's input count against its ops.def row (`arity` inputs) and its attributes against
// the row's schema.
absl::Status CheckSchema(const Node& node, int arity);

// `what` is f32 / has rank `rank` / is a pair of positive ints; padding is "valid" or "same".
absl::Status ExpectF32(const TensorType& t, absl::string_view what);
absl::Status ExpectRank(const TensorType& t, int rank, absl::string_view what);
absl::Status ExpectPair(const std::vector<int64_t>& v, absl::string_view what);
absl::Status ExpectPadding(const std::string& padding);

// Shared by Conv2D and the pools: output [N, OH, OW, channels].
absl::StatusOr<TensorType> InferWindow(const TensorType& x, const std::vector<int64_t>& window,
                                       const std::vector<int64_t>& strides,
                                       const std::string& padding, int64_t channels,
                                       absl::string_view window_what);

// FusedConv2D / FusedDense: the program parses over in0 and the extras, and every extra is an
// f32 tensor of the result's shape or an f32 scalar.
absl::Status ExpectEpilogue(const Node& node, const std::vector<TensorType>& in,
                            const TensorType& out);

// FusedConv2DMaxPool's `activation`: "relu" or "none".
absl::Status ExpectActivation(const Node& node);

// `axis` in [-rank, rank) as a non-negative axis.
absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank);

// ReduceSum/Mean/Max over `axes`, keepdims or not; Add/Sub/Mul/Div: equal shapes or a scalar.
absl::StatusOr<TensorType> InferReduce(const Node& node, const TensorType& x);
absl::StatusOr<TensorType> InferBinary(const TensorType& a, const TensorType& b);
// Every elementwise op of ops.def: f32 operands of one shape (a rank-0 operand broadcasts);
// arithmetic (Add, Sub, Mul, Div) also on i32.
absl::StatusOr<TensorType> InferElementwise(OpKind op, const std::vector<TensorType>& in);

}  // namespace kiln::shape_checks

#endif  // KILN_IR_SHAPE_CHECKS_H_
