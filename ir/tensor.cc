#include "ir/tensor.h"

#include <cstring>

#include "ir/status.h"

namespace kiln {

Tensor::Tensor(TensorType type) : type_(std::move(type)) {
  KILN_CHECK(CheckedByteSize(type_).ok());
  Allocate();
}

absl::StatusOr<Tensor> Tensor::Create(TensorType type) {
  KILN_RETURN_IF_ERROR(CheckedByteSize(type).status());
  return Tensor(std::move(type));
}

void Tensor::Allocate() {
  size_ = NumElements(type_.dims);
  // Round up to whole cache lines so vector kernels may read a full last line.
  size_t bytes = ((static_cast<size_t>(size_) * 4 + 63) / 64) * 64;
  if (bytes == 0) bytes = 64;
  data_.reset(static_cast<uint32_t*>(std::aligned_alloc(64, bytes)));
  KILN_CHECK(data_ != nullptr);
  std::memset(data_.get(), 0, bytes);
}

Tensor Tensor::F32(Dims dims, const std::vector<float>& values) {
  Tensor t(TensorType{DType::kF32, std::move(dims)});
  KILN_CHECK(static_cast<int64_t>(values.size()) == t.size());
  std::memcpy(t.raw(), values.data(), values.size() * 4);
  return t;
}

Tensor Tensor::I32(Dims dims, const std::vector<int32_t>& values) {
  Tensor t(TensorType{DType::kI32, std::move(dims)});
  KILN_CHECK(static_cast<int64_t>(values.size()) == t.size());
  std::memcpy(t.raw(), values.data(), values.size() * 4);
  return t;
}

Tensor::Tensor(const Tensor& other) : type_(other.type_) {
  if (!other.data_) return;
  Allocate();
  std::memcpy(raw(), other.raw(), bytes());
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) *this = Tensor(other);
  return *this;
}

bool Tensor::BitwiseEqual(const Tensor& other) const {
  return type_ == other.type_ && std::memcmp(raw(), other.raw(), bytes()) == 0;
}

}  // namespace kiln
