// Element types and static shapes with overflow-checked sizes.
#ifndef KILN_IR_TYPES_H_
#define KILN_IR_TYPES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln {

enum class DType : uint8_t { kF32, kI32 };

// "f32" / "i32".
const char* DTypeName(DType dtype);
absl::StatusOr<DType> ParseDType(absl::string_view text);
inline int64_t DTypeSize(DType) { return 4; }

// A static shape; every dimension is known and >= 0. Rank 0 is a scalar.
using Dims = std::vector<int64_t>;

// The value type of a node's output.
struct TensorType {
  DType dtype = DType::kF32;
  Dims dims;

  int rank() const { return static_cast<int>(dims.size()); }
  bool operator==(const TensorType& o) const { return dtype == o.dtype && dims == o.dims; }
  bool operator!=(const TensorType& o) const { return !(*this == o); }
};

// Element count of `dims`; an error if a dimension is negative or the product overflows int64.
absl::StatusOr<int64_t> CheckedNumElements(const Dims& dims);
// Byte size of `type`, overflow checked.
absl::StatusOr<int64_t> CheckedByteSize(const TensorType& type);
// Element count of dims already known to be valid (verified graphs).
int64_t NumElements(const Dims& dims);

// "[2,3,4]".
std::string DimsToString(const Dims& dims);
// "f32[2,3,4]".
std::string TypeToString(const TensorType& type);

}  // namespace kiln

#endif  // KILN_IR_TYPES_H_
