#include "frontend/json.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

void JsonLine::Key(const std::string& key) {
  if (!body_.empty()) body_ += ", ";
  absl::StrAppend(&body_, JsonString(key), ": ");
}

JsonLine& JsonLine::Add(const std::string& key, double value) {
  Key(key);
  // JSON has no NaN or infinity.
  absl::StrAppend(&body_, std::isfinite(value) ? absl::StrFormat("%.6g", value) : "null");
  return *this;
}
JsonLine& JsonLine::Add(const std::string& key, int64_t value) {
  Key(key);
  absl::StrAppend(&body_, value);
  return *this;
}
JsonLine& JsonLine::AddRaw(const std::string& key, const std::string& json) {
  Key(key);
  absl::StrAppend(&body_, json);
  return *this;
}
JsonLine& JsonLine::Add(const std::string& key, bool value) {
  Key(key);
  absl::StrAppend(&body_, value ? "true" : "false");
  return *this;
}
JsonLine& JsonLine::Add(const std::string& key, const std::string& value) {
  Key(key);
  absl::StrAppend(&body_, JsonString(value));
  return *this;
}

}  // namespace kiln
