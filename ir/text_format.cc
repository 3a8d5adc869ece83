#include "ir/text_format.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status.h"

namespace kiln {
namespace {

bool IsNameChar(char c) { return absl::ascii_isalnum(c) || std::strchr("_./:-", c) != nullptr; }
bool IsIdentChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }
bool IsNumberChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '+' || c == '-'; }
bool IsIdent(absl::string_view s) {
  return !s.empty() && !absl::ascii_isdigit(s[0]) && std::all_of(s.begin(), s.end(), IsIdentChar);
}
int HexValue(char c) {
  if (!absl::ascii_isxdigit(c)) return -1;
  return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
}

// (escape letter, character) pairs shared by Quote and the lexer; others use \xHH.
constexpr absl::string_view kEscapes = "\"\"\\\\n\nt\tr\r";
char EscapeLetter(char c) {
  for (size_t i = 0; i < kEscapes.size(); i += 2) {
    if (kEscapes[i + 1] == c) return kEscapes[i];
  }
  return 0;
}
char Unescape(char letter) {
  for (size_t i = 0; i < kEscapes.size(); i += 2) {
    if (kEscapes[i] == letter) return kEscapes[i + 1];
  }
  return 0;
}

// A double-quoted literal that the lexer reads back exactly (bytes >= 0x80 pass through).
std::string Quote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (char letter = EscapeLetter(c)) {
      absl::StrAppend(&out, "\\", std::string(1, letter));
    } else if (u < 0x20 || u == 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string NameRef(absl::string_view name) {
  bool bare = !name.empty() && std::all_of(name.begin(), name.end(), IsNameChar);
  return absl::StrCat("%", bare ? std::string(name) : Quote(name));
}

// Shortest text that reads back to exactly `v` (the std::to_chars guarantee).
template <typename T>
std::string ShortestRepr(T v) {
  char buf[64];
  return std::string(buf, std::to_chars(buf, buf + sizeof(buf), v).ptr);
}

// A whole token as a T: false on junk, trailing text or out-of-range values. Locale-free.
template <typename T>
bool ParseNumber(absl::string_view text, T* out) {
  auto result = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && result.ec == std::errc() && result.ptr == text.data() + text.size();
}

enum class Tok { kEnd, kIdent, kName, kString, kNumber, kPunct };

struct Token {
  Tok kind;
  std::string text;  // Unescaped for kName and kString.
  int line;
};

std::string Describe(const Token& t) {
  std::string text = t.text.size() > 40 ? t.text.substr(0, 40) + "..." : t.text;
  if (t.kind == Tok::kEnd) return "end of input";
  if (t.kind == Tok::kString) return absl::StrCat("string ", Quote(text));
  return absl::StrCat("'", t.kind == Tok::kName ? NameRef(text) : text, "'");
}

absl::Status LineError(int line, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", msg));
}

// Splits text into tokens ending with one kEnd. Whitespace is free; '#' comments to end of line.
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view text) {
  std::vector<Token> tokens;
  size_t pos = 0;
  int line = 1;
  auto take = [&](bool (*pred)(char)) {
    size_t start = pos;
    while (pos < text.size() && pred(text[pos])) ++pos;
    return std::string(text.substr(start, pos - start));
  };
  // At an opening quote: reads through the closing one, undoing Quote's escapes.
  auto lex_string = [&]() -> absl::StatusOr<std::string> {
    std::string out;
    for (++pos; pos < text.size() && text[pos] != '\n';) {
      char c = text[pos++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
      } else if (char u = pos < text.size() ? Unescape(text[pos]) : 0) {
        out += u;
        ++pos;
      } else if (pos + 2 < text.size() && text[pos] == 'x' && HexValue(text[pos + 1]) >= 0 &&
                 HexValue(text[pos + 2]) >= 0) {
        out += static_cast<char>(HexValue(text[pos + 1]) * 16 + HexValue(text[pos + 2]));
        pos += 3;
      } else {
        return LineError(line, "bad escape in string (expected \\\" \\\\ \\n \\t \\r or \\xHH)");
      }
    }
    return LineError(line, "unterminated string");
  };
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == '\n' || c == ' ' || c == '\t' || c == '\r') {
      line += c == '\n';
      ++pos;
    } else if (c == '#') {
      while (pos < text.size() && text[pos] != '\n') ++pos;
    } else if (c == '"' || (c == '%' && pos + 1 < text.size() && text[pos + 1] == '"')) {
      pos += c == '%';
      KILN_ASSIGN_OR_RETURN(std::string s, lex_string());
      tokens.push_back({c == '%' ? Tok::kName : Tok::kString, std::move(s), line});
    } else if (c == '%') {
      ++pos;
      std::string name = take(IsNameChar);
      if (name.empty()) return LineError(line, "expected a node name after '%'");
      tokens.push_back({Tok::kName, std::move(name), line});
    } else if (absl::ascii_isalpha(c) || c == '_') {
      tokens.push_back({Tok::kIdent, take(IsIdentChar), line});
    } else if (absl::ascii_isdigit(c) || c == '-' || c == '+' || c == '.') {
      tokens.push_back({Tok::kNumber, take(IsNumberChar), line});
    } else if (c != '\0' && std::strchr("{}()[],=:", c) != nullptr) {
      tokens.push_back({Tok::kPunct, std::string(1, c), line});
      ++pos;
    } else {
      const auto u = static_cast<unsigned char>(c);
      return LineError(line,
                       absl::StrCat("unexpected character ",
                                    absl::ascii_isgraph(c)
                                        ? std::string(1, c)
                                        : absl::StrCat("\\x", absl::Hex(u, absl::kZeroPad2))));
    }
  }
  tokens.push_back({Tok::kEnd, "", line});
  return tokens;
}

struct Ref {
  std::string name;
  int line;
};

// Recursive descent over the tokens. `ctx` strings (" in node 'x'") name the node in errors.
class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  absl::StatusOr<Graph> ParseGraphText() {
    if (Peek().kind != Tok::kIdent || Peek().text != "graph") return Expected("'graph'", "");
    Next();
    if (Peek().kind != Tok::kString) return Expected("the graph name as a quoted string", "");
    Graph g(Next().text);
    KILN_RETURN_IF_ERROR(ExpectPunct('{', " after the graph name"));
    while (!IsPunct('}')) {
      if (Peek().kind == Tok::kName) {
        KILN_RETURN_IF_ERROR(ParseNode(g));
      } else if (Peek().kind == Tok::kIdent && Peek().text == "outputs" && !seen_outputs_) {
        seen_outputs_ = true;
        Next();
        KILN_RETURN_IF_ERROR(ParseRefs(" in outputs(...)", outputs_));
      } else {
        return Expected("a node '%name = Op(...) : type', one 'outputs(...)' or '}'", "");
      }
    }
    Next();
    KILN_RETURN_IF_ERROR(ExpectEnd());
    // Names resolve only now, so inputs may refer forward; Verify then finds any cycle.
    for (NodeId id = 0; id < g.num_nodes(); ++id) {
      for (const Ref& ref : inputs_[id]) {
        NodeId in = g.Find(ref.name);
        if (in < 0) {
          return LineError(ref.line, absl::StrCat("dangling input '", NameRef(ref.name),
                                                  "' of node '", g.node(id).name, "'"));
        }
        g.mutable_node(id).inputs.push_back(in);
      }
    }
    for (const Ref& ref : outputs_) {
      NodeId out = g.Find(ref.name);
      if (out < 0) {
        return LineError(ref.line, absl::StrCat("unknown graph output '", NameRef(ref.name), "'"));
      }
      g.AddOutput(out);
    }
    KILN_RETURN_IF_ERROR(Verify(g));
    return g;
  }

  // One value of `kind`; an integer literal is accepted where a float is expected.
  absl::StatusOr<AttrValue> ParseValue(AttrKind kind, absl::string_view ctx) {
    AttrValue value;
    value.kind = kind;
    absl::Status status;
    switch (kind) {
      case AttrKind::kInt:
        status = Number(&value.i, "an integer", ctx);
        break;
      case AttrKind::kInts:
        status = ParseSeq('[', ']', ctx, [&] { return Item(value.ints, "an integer", ctx); });
        break;
      case AttrKind::kFloat:  // An integer literal is a fine float.
        status = Number(&value.f, "a float", ctx);
        break;
      case AttrKind::kFloats:
        status = ParseSeq('[', ']', ctx, [&] { return Item(value.floats, "a float32", ctx); });
        break;
      case AttrKind::kStr:
        if (Peek().kind != Tok::kString) return Expected("a quoted string", ctx);
        value.s = Next().text;
        break;
    }
    if (!status.ok()) return status;
    return value;
  }

  absl::Status ExpectEnd() const {
    return Peek().kind == Tok::kEnd ? absl::OkStatus() : Expected("end of input", "");
  }

 private:
  const Token& Peek() const { return toks_[pos_]; }
  // Returns the current token and advances, never past the final kEnd.
  Token Next() {
    Token t = toks_[pos_];
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }
  bool IsPunct(char c) const { return Peek().kind == Tok::kPunct && Peek().text[0] == c; }

  absl::Status Expected(absl::string_view what, absl::string_view ctx) const {
    return LineError(Peek().line,
                     absl::StrCat("expected ", what, ctx, ", found ", Describe(Peek())));
  }
  absl::Status ExpectPunct(char c, absl::string_view ctx) {
    if (!IsPunct(c)) return Expected(absl::StrCat("'", std::string(1, c), "'"), ctx);
    Next();
    return absl::OkStatus();
  }

  // The current token as a T (integers in base 10, floats also "inf" and "nan"), overflow checked.
  template <typename T>
  absl::Status Number(T* out, absl::string_view what, absl::string_view ctx) {
    bool ok;
    if constexpr (std::is_integral_v<T>) {
      ok = Peek().kind == Tok::kNumber && absl::SimpleAtoi(Peek().text, out);
    } else {
      ok = (Peek().kind == Tok::kNumber || Peek().kind == Tok::kIdent) &&
           ParseNumber(Peek().text, out);
    }
    if (!ok) return Expected(what, ctx);
    Next();
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Item(std::vector<T>& values, absl::string_view what, absl::string_view ctx) {
    T v{};
    KILN_RETURN_IF_ERROR(Number(&v, what, ctx));
    values.push_back(v);
    return absl::OkStatus();
  }

  // `open item, item, ... close`, possibly empty.
  template <typename Fn>
  absl::Status ParseSeq(char open, char close, absl::string_view ctx, Fn item) {
    KILN_RETURN_IF_ERROR(ExpectPunct(open, ctx));
    if (IsPunct(close)) return ExpectPunct(close, ctx);
    while (true) {
      KILN_RETURN_IF_ERROR(item());
      if (!IsPunct(',')) return ExpectPunct(close, ctx);
      Next();
    }
  }

  // `(%a, %b)`, appended to `refs`.
  absl::Status ParseRefs(absl::string_view ctx, std::vector<Ref>& refs) {
    return ParseSeq('(', ')', ctx, [&]() -> absl::Status {
      if (Peek().kind != Tok::kName) return Expected("a node reference '%name'", ctx);
      Token t = Next();
      refs.push_back({std::move(t.text), t.line});
      return absl::OkStatus();
    });
  }

  // `%name = Op(%in, ...) {key=value, ...} : type`; the attribute block is optional.
  absl::Status ParseNode(Graph& g) {
    const Token name = Next();
    const std::string ctx = absl::StrCat(" in node '", name.text, "'");
    if (auto it = lines_.find(name.text); it != lines_.end()) {
      return LineError(name.line, absl::StrCat("duplicate node name '", name.text,
                                               "' (first defined on line ", it->second, ")"));
    }
    KILN_RETURN_IF_ERROR(ExpectPunct('=', ctx));
    if (Peek().kind != Tok::kIdent) return Expected("an op name", ctx);
    const Token op = Next();
    auto kind = ParseOpKind(op.text);
    if (!kind.ok()) {
      return LineError(op.line,
                       absl::StrCat("unknown op '", op.text, "' for node '", name.text, "'"));
    }
    Node node;
    node.op = *kind;
    node.name = name.text;
    std::vector<Ref> refs;
    KILN_RETURN_IF_ERROR(ParseRefs(ctx, refs));
    const OpInfo& info = GetOpInfo(node.op);
    if (IsPunct('{')) {
      KILN_RETURN_IF_ERROR(ParseSeq('{', '}', ctx, [&]() { return ParseAttr(info, node, ctx); }));
    }
    for (const AttrSpec& spec : info.attrs) {
      if (!node.attrs.count(spec.name)) {
        return LineError(name.line, absl::StrCat("node '", name.text, "' (", info.name,
                                                 ") is missing attribute '", spec.name, "'"));
      }
    }
    KILN_RETURN_IF_ERROR(ExpectPunct(':', ctx));
    KILN_ASSIGN_OR_RETURN(node.type, ParseType(name.text, ctx));
    lines_[name.text] = name.line;
    inputs_.push_back(std::move(refs));
    g.AddRaw(std::move(node));
    return absl::OkStatus();
  }

  // `key=value`, the value read as the kind the op's schema gives the key.
  absl::Status ParseAttr(const OpInfo& info, Node& node, absl::string_view ctx) {
    if (Peek().kind != Tok::kIdent && Peek().kind != Tok::kString) {
      return Expected("an attribute name", ctx);
    }
    const Token key = Next();
    auto spec = std::find_if(info.attrs.begin(), info.attrs.end(),
                             [&](const AttrSpec& s) { return s.name == key.text; });
    if (spec == info.attrs.end()) {
      std::string known = absl::StrJoin(
          info.attrs, ", ", [](std::string* out, const AttrSpec& s) { out->append(s.name); });
      return LineError(
          key.line, absl::StrCat("unknown attribute '", key.text, "' of node '", node.name, "' (",
                                 info.name, " takes ", known.empty() ? "none" : known, ")"));
    }
    if (node.attrs.count(key.text)) {
      return LineError(key.line, absl::StrCat("duplicate attribute '", key.text, "'", ctx));
    }
    KILN_RETURN_IF_ERROR(ExpectPunct('=', ctx));
    std::string value_ctx = absl::StrCat(" for attribute '", key.text, "'", ctx);
    KILN_ASSIGN_OR_RETURN(node.attrs[key.text], ParseValue(spec->kind, value_ctx));
    return absl::OkStatus();
  }

  // `f32[2,3]`: a known dtype and dimensions >= 0 whose byte size fits int64.
  absl::StatusOr<TensorType> ParseType(const std::string& name, absl::string_view ctx) {
    if (Peek().kind != Tok::kIdent) return Expected("a type like f32[2,3]", ctx);
    const Token dtype = Next();
    TensorType type;
    if (auto parsed = ParseDType(dtype.text); parsed.ok()) {
      type.dtype = *parsed;
    } else {
      return LineError(dtype.line, absl::StrCat("bad dtype '", dtype.text, "' of node '", name,
                                                "' (expected f32 or i32)"));
    }
    std::string what =
        absl::StrCat("a dimension (an integer >= 0) in the type of node '", name, "'");
    KILN_RETURN_IF_ERROR(ParseSeq('[', ']', ctx, [&] { return Item(type.dims, what, ""); }));
    for (int64_t d : type.dims) {
      if (d < 0) return LineError(dtype.line, absl::StrCat("bad dimension ", d, ctx));
    }
    if (!CheckedByteSize(type).ok()) {
      return LineError(dtype.line, absl::StrCat("bad dims: type ", TypeToString(type), " of node '",
                                                name, "' is too large"));
    }
    return type;
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  absl::flat_hash_map<std::string, int> lines_;  // Node name -> defining line.
  std::vector<std::vector<Ref>> inputs_;         // Input references, by node id.
  std::vector<Ref> outputs_;
  bool seen_outputs_ = false;
};

}  // namespace

std::string FormatAttrValue(const AttrValue& value) {
  switch (value.kind) {
    case AttrKind::kInt:
      return absl::StrCat(value.i);
    case AttrKind::kInts:
      return absl::StrCat("[", absl::StrJoin(value.ints, ","), "]");
    case AttrKind::kFloat: {
      // Always a '.', an exponent, "inf" or "nan", so a float never reads as an int.
      std::string s = ShortestRepr(value.f);
      return s.find_first_of(".ein") == std::string::npos ? s + ".0" : s;
    }
    case AttrKind::kFloats:
      return absl::StrCat(
          "[",
          absl::StrJoin(value.floats, ", ",
                        [](std::string* out, float f) { out->append(ShortestRepr(f)); }),
          "]");
    case AttrKind::kStr:
      return Quote(value.s);
  }
  return "?";
}

absl::StatusOr<AttrValue> ParseAttrValue(absl::string_view text, AttrKind kind) {
  KILN_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(text));
  Parser parser(std::move(tokens));
  KILN_ASSIGN_OR_RETURN(AttrValue value, parser.ParseValue(kind, ""));
  KILN_RETURN_IF_ERROR(parser.ExpectEnd());
  return value;
}

std::string PrintGraph(const Graph& g) {
  auto refs = [&](const std::vector<NodeId>& ids) {
    return absl::StrJoin(ids, ", ", [&](std::string* out, NodeId id) {
      bool valid = id >= 0 && id < g.num_nodes();
      out->append(NameRef(valid ? g.node(id).name : absl::StrCat("<invalid id ", id, ">")));
    });
  };
  std::string out = absl::StrCat("graph ", Quote(g.name()), " {\n");
  for (const Node& node : g.nodes()) {
    absl::StrAppend(&out, "  ", NameRef(node.name), " = ", OpName(node.op), "(", refs(node.inputs),
                    ")");
    if (!node.attrs.empty()) {
      out += " {";
      for (auto it = node.attrs.begin(); it != node.attrs.end(); ++it) {
        absl::StrAppend(&out, it == node.attrs.begin() ? "" : ", ",
                        IsIdent(it->first) ? it->first : Quote(it->first), "=",
                        FormatAttrValue(it->second));
      }
      out += "}";
    }
    absl::StrAppend(&out, " : ", TypeToString(node.type), "\n");
  }
  return absl::StrCat(out, "  outputs(", refs(g.outputs()), ")\n}\n");
}

absl::StatusOr<Graph> ParseGraph(absl::string_view text) {
  KILN_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(text));
  return Parser(std::move(tokens)).ParseGraphText();
}

}  // namespace kiln
