// The text form of the IR: a readable, exactly round-tripping listing of a graph.
//
//   graph "mnist-cnn" {
//     %image = Input() : f32[32,28,28,1]
//     %conv2d/kernel = Parameter() {trainable=1} : f32[3,3,1,64]
//     %conv2d = Conv2D(%image, %conv2d/kernel) {padding="valid", strides=[1,1]} : f32[32,26,26,64]
//     %c = Constant() {value=[1, 2.5]} : f32[2]
//     outputs(%conv2d)
//   }
//
// One node per line in id order, attributes in name order, every node annotated with its type.
// Names matching [A-Za-z0-9_./:-]+ are written bare after '%', others as %"quoted". Attribute
// values are read by the kind the op's schema gives: int `3`, ints `[1,1]`, float `0.5` (always
// with '.', 'e', "inf" or "nan"), floats `[1, 2.5]` (float32, shortest exact form), str `"s"`
// (escapes \" \\ \n \t \r \xHH). Whitespace is free; '#' starts a comment to the end of the line.
#ifndef KILN_IR_TEXT_FORMAT_H_
#define KILN_IR_TEXT_FORMAT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/graph.h"

namespace kiln {

// Prints `g`; total (never fails), even for graphs that do not verify.
std::string PrintGraph(const Graph& g);

// Parses the text form, then runs Verify. Errors are InvalidArgument; parse errors start with
// "line N: " and name the node involved. Never crashes, whatever the input.
absl::StatusOr<Graph> ParseGraph(absl::string_view text);

// One attribute value as PrintGraph writes it.
std::string FormatAttrValue(const AttrValue& value);
// Parses a whole attribute value of the given kind (the inverse of FormatAttrValue).
absl::StatusOr<AttrValue> ParseAttrValue(absl::string_view text, AttrKind kind);

}  // namespace kiln

#endif  // KILN_IR_TEXT_FORMAT_H_
