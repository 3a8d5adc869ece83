// A parser for the small part of Python that Keras layer calls are written in: calls with
// positional and keyword arguments, tuples, lists, strings in either quote, numbers,
// True/False/None and dotted names (`tf.nn.relu`), one statement per logical line, `#` comments
// and `x = ...` assignments. Model description files (frontend/layers_file.h) are read with it.
// The input is untrusted: sizes and nesting are limited, numbers are range checked, and every
// error names the file, line and column and says what was expected.
#ifndef KILN_FRONTEND_PYCALL_H_
#define KILN_FRONTEND_PYCALL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kiln {

// Larger texts are refused before they are parsed.
inline constexpr size_t kMaxPyTextBytes = size_t{1} << 20;
// Deepest nesting of calls, tuples and lists.
inline constexpr int kMaxPyNesting = 32;

struct PyKwarg;

struct PyValue {
  enum class Kind { kInt, kFloat, kString, kBool, kNone, kName, kTuple, kList, kCall };
  Kind kind = Kind::kNone;
  int line = 0;  // 1-based position of the value's first character.
  int column = 0;
  int64_t int_value = 0;
  double float_value = 0;
  bool bool_value = false;
  std::string text;             // A string's contents, a name ("tf.nn.relu") or a call's callee.
  std::vector<PyValue> items;   // Tuple and list elements; a call's positional arguments.
  std::vector<PyKwarg> kwargs;  // A call's keyword arguments, in order.

  // "an integer", "a string 'relu'", "a call of Dense", ... for error messages.
  std::string Describe() const;
};

struct PyKwarg {
  std::string name;
  PyValue value;
  int line = 0;  // Where the keyword is written.
  int column = 0;
};

// One top-level statement: an expression, or `target = expression`.
struct PyStatement {
  std::string target;  // Empty unless the statement is an assignment.
  PyValue value;
};

// Parses `text`; errors read "FILE:LINE:COLUMN: ...". `import` and `from` lines are skipped.
absl::StatusOr<std::vector<PyStatement>> ParsePyStatements(absl::string_view text,
                                                           absl::string_view filename);

// Python source for a string literal: 'relu', with quotes and backslashes escaped.
std::string PyQuote(absl::string_view s);

}  // namespace kiln

#endif  // KILN_FRONTEND_PYCALL_H_
