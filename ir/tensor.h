// A dense host tensor: a TensorType plus 64-byte-aligned storage, with value semantics.
#ifndef KILN_IR_TENSOR_H_
#define KILN_IR_TENSOR_H_

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "ir/types.h"

namespace kiln {

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor of a type whose size is known to be valid.
  explicit Tensor(TensorType type);
  // Zero-filled tensor; an error when the size is invalid or overflows.
  static absl::StatusOr<Tensor> Create(TensorType type);
  static Tensor F32(Dims dims, const std::vector<float>& values);
  static Tensor I32(Dims dims, const std::vector<int32_t>& values);

  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  const TensorType& type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  const Dims& dims() const { return type_.dims; }
  int64_t size() const { return size_; }
  int64_t bytes() const { return size_ * 4; }

  float* f32() { return reinterpret_cast<float*>(data_.get()); }
  const float* f32() const { return reinterpret_cast<const float*>(data_.get()); }
  int32_t* i32() { return reinterpret_cast<int32_t*>(data_.get()); }
  const int32_t* i32() const { return reinterpret_cast<const int32_t*>(data_.get()); }
  void* raw() { return data_.get(); }
  const void* raw() const { return data_.get(); }

  absl::Span<float> f32_span() { return {f32(), static_cast<size_t>(size_)}; }
  absl::Span<const float> f32_span() const { return {f32(), static_cast<size_t>(size_)}; }

  // Same type and same bits.
  bool BitwiseEqual(const Tensor& other) const;

 private:
  struct Free {
    void operator()(uint32_t* p) const { std::free(p); }
  };
  void Allocate();

  TensorType type_;
  int64_t size_ = 0;
  std::unique_ptr<uint32_t[], Free> data_;
};

}  // namespace kiln

#endif  // KILN_IR_TENSOR_H_
