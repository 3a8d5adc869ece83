#include "ir/types.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status.h"

namespace kiln {

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kI32:
      return "i32";
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(absl::string_view text) {
  if (text == "f32") return DType::kF32;
  if (text == "i32") return DType::kI32;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", text, "' (expected f32 or i32)"));
}

absl::StatusOr<int64_t> CheckedNumElements(const Dims& dims) {
  int64_t n = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("dimension ", i, " of ", DimsToString(dims), " is negative"));
    }
    if (__builtin_mul_overflow(n, dims[i], &n)) {
      return absl::InvalidArgumentError(
          absl::StrCat("element count of ", DimsToString(dims), " overflows"));
    }
  }
  return n;
}

absl::StatusOr<int64_t> CheckedByteSize(const TensorType& type) {
  KILN_ASSIGN_OR_RETURN(int64_t n, CheckedNumElements(type.dims));
  int64_t bytes;
  if (__builtin_mul_overflow(n, DTypeSize(type.dtype), &bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("byte size of ", TypeToString(type), " overflows"));
  }
  return bytes;
}

int64_t NumElements(const Dims& dims) {
  auto n = CheckedNumElements(dims);
  KILN_CHECK(n.ok());
  return *n;
}

std::string DimsToString(const Dims& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

std::string TypeToString(const TensorType& type) {
  return absl::StrCat(DTypeName(type.dtype), DimsToString(type.dims));
}

}  // namespace kiln
