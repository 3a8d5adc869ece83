// A one-line JSON object writer for `--json` output.
#ifndef KILN_FRONTEND_JSON_H_
#define KILN_FRONTEND_JSON_H_

#include <cstdint>
#include <string>

namespace kiln {

class JsonLine {
 public:
  JsonLine& Add(const std::string& key, double value);  // Non-finite values print as null.
  JsonLine& Add(const std::string& key, int64_t value);
  JsonLine& Add(const std::string& key, int value) { return Add(key, int64_t{value}); }
  JsonLine& Add(const std::string& key, bool value);
  JsonLine& Add(const std::string& key, const std::string& value);
  JsonLine& Add(const std::string& key, const char* value) { return Add(key, std::string(value)); }
  // `json` is already JSON (an array or object built by the caller) and is inserted verbatim.
  JsonLine& AddRaw(const std::string& key, const std::string& json);
  // "{...}" without a newline.
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void Key(const std::string& key);
  std::string body_;
};

// Escapes `s` as a JSON string literal, quotes included.
std::string JsonString(const std::string& s);

}  // namespace kiln

#endif  // KILN_FRONTEND_JSON_H_
