#include "frontend/pycall.h"

#include <cctype>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/status.h"

namespace kiln {
namespace {

struct Token {
  enum class Type { kName, kInt, kFloat, kString, kPunct, kNewline, kEnd };
  Type type = Type::kEnd;
  std::string text;  // A name, a string's contents, or the punctuation character.
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1, column = 1;

  bool Is(char punct) const { return type == Type::kPunct && text[0] == punct; }
  std::string Describe() const {
    switch (type) {
      case Type::kName:
        return absl::StrCat("the name '", text, "'");
      case Type::kInt:
        return absl::StrCat("the number ", int_value);
      case Type::kFloat:
        return absl::StrCat("the number ", float_value);
      case Type::kString:
        return absl::StrCat("the string ", PyQuote(text));
      case Type::kPunct:
        return absl::StrCat("'", text, "'");
      case Type::kNewline:
        return "the end of the line";
      case Type::kEnd:
        return "the end of the file";
    }
    return "?";
  }
};

class Lexer {
 public:
  Lexer(absl::string_view text, absl::string_view filename) : s_(text), file_(filename) {}

  absl::StatusOr<std::vector<Token>> Run() {
    std::vector<Token> out;
    for (;;) {
      Token t;
      if (absl::Status st = Next(&t); !st.ok()) return st;
      // Newlines end statements only outside brackets, and only once.
      if (t.type == Token::Type::kNewline &&
          (depth_ > 0 || out.empty() || out.back().type == Token::Type::kNewline)) {
        continue;
      }
      if (t.type == Token::Type::kPunct) {
        if (t.Is('(') || t.Is('[')) ++depth_;
        if ((t.Is(')') || t.Is(']')) && depth_ > 0) --depth_;
      }
      const bool end = t.type == Token::Type::kEnd;
      out.push_back(std::move(t));
      if (end) return out;
    }
  }

 private:
  absl::Status Error(int line, int column, absl::string_view msg) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", line, ":", column, ": ", msg));
  }
  char Peek(size_t ahead = 0) const { return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : '\0'; }
  void Advance() {
    if (s_[pos_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++pos_;
  }

  absl::Status Next(Token* t) {
    for (;;) {  // Blanks, comments and backslash continuations.
      char c = Peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
        Advance();
      } else if (c == '#') {
        while (pos_ < s_.size() && Peek() != '\n') Advance();
      } else if (c == '\\' && (Peek(1) == '\n' || (Peek(1) == '\r' && Peek(2) == '\n'))) {
        while (Peek() != '\n') Advance();
        Advance();
      } else {
        break;
      }
    }
    t->line = line_;
    t->column = column_;
    if (pos_ >= s_.size()) {
      t->type = Token::Type::kEnd;
      return absl::OkStatus();
    }
    const char c = Peek();
    if (c == '\n') {
      Advance();
      t->type = Token::Type::kNewline;
      return absl::OkStatus();
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      t->type = Token::Type::kName;
      while (std::isalnum(static_cast<unsigned char>(Peek())) || Peek() == '_') {
        t->text += Peek();
        Advance();
      }
      return absl::OkStatus();
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && std::isdigit(static_cast<unsigned char>(Peek(1))))) {
      return Number(t);
    }
    if (c == '\'' || c == '"') return String(t);
    if (std::string_view("()[],=-+.*/").find(c) != std::string_view::npos) {
      t->type = Token::Type::kPunct;
      t->text = std::string(1, c);
      Advance();
      return absl::OkStatus();
    }
    const unsigned char u = static_cast<unsigned char>(c);
    return Error(line_, column_,
                 std::isprint(u) ? absl::StrCat("unexpected character '", std::string(1, c), "'")
                                 : absl::StrFormat("unexpected byte 0x%02x", u));
  }

  absl::Status Number(Token* t) {
    std::string digits;
    bool is_float = false;
    while (pos_ < s_.size()) {
      const char c = Peek();
      if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
        is_float |= c == '.';
      } else if (c == 'e' || c == 'E') {
        is_float = true;
        if (Peek(1) == '+' || Peek(1) == '-') {
          digits += c;
          Advance();
        }
      } else if (c != '_' && !std::isalpha(static_cast<unsigned char>(c))) {
        break;
      }
      if (c != '_') digits += Peek();
      Advance();
    }
    const char* begin = digits.data();
    const char* end = digits.data() + digits.size();
    std::from_chars_result r;
    if (is_float) {
      t->type = Token::Type::kFloat;
      r = std::from_chars(begin, end, t->float_value);
    } else {
      t->type = Token::Type::kInt;
      r = std::from_chars(begin, end, t->int_value);
    }
    if (r.ec == std::errc::result_out_of_range) {
      return Error(t->line, t->column, absl::StrCat("number '", digits, "' is out of range"));
    }
    if (r.ec != std::errc() || r.ptr != end) {
      return Error(t->line, t->column, absl::StrCat("malformed number '", digits, "'"));
    }
    return absl::OkStatus();
  }

  absl::Status String(Token* t) {
    const char quote = Peek();
    Advance();
    t->type = Token::Type::kString;
    for (;;) {
      if (pos_ >= s_.size() || Peek() == '\n') {
        return Error(t->line, t->column, "unterminated string");
      }
      char c = Peek();
      Advance();
      if (c == quote) return absl::OkStatus();
      if (c == '\\' && pos_ < s_.size() && Peek() != '\n') {
        c = Peek();
        Advance();
        if (c == 'n') c = '\n';
        if (c == 't') c = '\t';
      }
      t->text += c;
    }
  }

  absl::string_view s_;
  absl::string_view file_;
  size_t pos_ = 0;
  int line_ = 1, column_ = 1;
  int depth_ = 0;
};

class Parser {
 public:
  Parser(std::vector<Token> tokens, absl::string_view filename)
      : t_(std::move(tokens)), file_(filename) {}

  absl::StatusOr<std::vector<PyStatement>> Statements() {
    std::vector<PyStatement> out;
    while (Cur().type != Token::Type::kEnd) {
      if (Cur().type == Token::Type::kNewline) {
        ++i_;
        continue;
      }
      if (Cur().type == Token::Type::kName && (Cur().text == "import" || Cur().text == "from")) {
        while (Cur().type != Token::Type::kNewline && Cur().type != Token::Type::kEnd) ++i_;
        continue;
      }
      PyStatement st;
      if (Cur().type == Token::Type::kName && At(1).Is('=')) {
        st.target = Cur().text;
        i_ += 2;
      }
      auto value = Expr(0);
      if (!value.ok()) return value.status();
      st.value = *std::move(value);
      if (Cur().Is(',')) ++i_;  // A layer pasted from a list keeps its comma.
      if (Cur().type != Token::Type::kNewline && Cur().type != Token::Type::kEnd) {
        return Expected("the end of the statement");
      }
      out.push_back(std::move(st));
    }
    return out;
  }

 private:
  const Token& Cur() const { return t_[i_]; }
  const Token& At(size_t ahead) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  absl::Status Error(const Token& at, absl::string_view msg) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", at.line, ":", at.column, ": ", msg));
  }
  absl::Status Expected(absl::string_view what) const {
    return Error(Cur(), absl::StrCat("expected ", what, ", got ", Cur().Describe()));
  }

  // A value, or numbers multiplied and divided (`1. / 255`, as Rescaling is often written).
  absl::StatusOr<PyValue> Expr(int depth) {
    auto v = Primary(depth);
    if (!v.ok()) return v;
    while (Cur().Is('*') || Cur().Is('/')) {
      const Token op = Cur();
      ++i_;
      auto rhs = Primary(depth);
      if (!rhs.ok()) return rhs;
      KILN_RETURN_IF_ERROR(Arithmetic(op, &*v, *rhs));
    }
    return v;
  }

  absl::Status Arithmetic(const Token& op, PyValue* lhs, const PyValue& rhs) const {
    auto is_number = [](const PyValue& v) {
      return v.kind == PyValue::Kind::kInt || v.kind == PyValue::Kind::kFloat;
    };
    if (!is_number(*lhs) || !is_number(rhs)) {
      return Error(op, absl::StrCat("'", op.text, "' needs numbers, got ", lhs->Describe(), " and ",
                                    rhs.Describe()));
    }
    auto as_double = [](const PyValue& v) {
      return v.kind == PyValue::Kind::kInt ? static_cast<double>(v.int_value) : v.float_value;
    };
    if (op.Is('*') && lhs->kind == PyValue::Kind::kInt && rhs.kind == PyValue::Kind::kInt) {
      if (__builtin_mul_overflow(lhs->int_value, rhs.int_value, &lhs->int_value)) {
        return Error(op, "integer product is out of range");
      }
      return absl::OkStatus();
    }
    const double a = as_double(*lhs), b = as_double(rhs);
    if (op.Is('/') && b == 0) return Error(op, "division by zero");
    lhs->float_value = op.Is('*') ? a * b : a / b;  // Python's / is true division.
    lhs->kind = PyValue::Kind::kFloat;
    return absl::OkStatus();
  }

  absl::StatusOr<PyValue> Primary(int depth) {
    if (depth > kMaxPyNesting) {
      return Error(Cur(), absl::StrCat("nesting deeper than ", kMaxPyNesting, " levels"));
    }
    const Token& tok = Cur();
    PyValue v;
    v.line = tok.line;
    v.column = tok.column;
    if (tok.Is('-') || tok.Is('+')) {
      const bool negate = tok.Is('-');
      ++i_;
      if (Cur().type != Token::Type::kInt && Cur().type != Token::Type::kFloat) {
        return Expected("a number after the sign");
      }
      auto number = Primary(depth + 1);
      if (!number.ok()) return number.status();
      if (negate) {
        number->int_value = -number->int_value;
        number->float_value = -number->float_value;
      }
      number->line = v.line;
      number->column = v.column;
      return number;
    }
    switch (tok.type) {
      case Token::Type::kInt:
        v.kind = PyValue::Kind::kInt;
        v.int_value = tok.int_value;
        ++i_;
        return v;
      case Token::Type::kFloat:
        v.kind = PyValue::Kind::kFloat;
        v.float_value = tok.float_value;
        ++i_;
        return v;
      case Token::Type::kString:
        v.kind = PyValue::Kind::kString;
        v.text = tok.text;
        ++i_;
        return v;
      case Token::Type::kName:
        return NameOrCall(std::move(v), depth);
      default:
        break;
    }
    if (tok.Is('(') || tok.Is('[')) {
      const char close = tok.Is('(') ? ')' : ']';
      v.kind = close == ')' ? PyValue::Kind::kTuple : PyValue::Kind::kList;
      ++i_;
      bool comma = false;
      while (!Cur().Is(close)) {
        auto item = Expr(depth + 1);
        if (!item.ok()) return item.status();
        v.items.push_back(*std::move(item));
        if (Cur().Is(',')) {
          comma = true;
          ++i_;
        } else if (!Cur().Is(close)) {
          return Expected(absl::StrCat("',' or '", std::string(1, close), "'"));
        }
      }
      ++i_;
      // (x) is x itself; (x,) is a tuple of one.
      if (close == ')' && v.items.size() == 1 && !comma) return std::move(v.items[0]);
      return v;
    }
    return Expected("a value");
  }

  absl::StatusOr<PyValue> NameOrCall(PyValue v, int depth) {
    v.kind = PyValue::Kind::kName;
    v.text = Cur().text;
    ++i_;
    while (Cur().Is('.')) {
      ++i_;
      if (Cur().type != Token::Type::kName) return Expected("a name after '.'");
      absl::StrAppend(&v.text, ".", Cur().text);
      ++i_;
    }
    if (v.text == "True" || v.text == "False") {
      v.kind = PyValue::Kind::kBool;
      v.bool_value = v.text == "True";
      return v;
    }
    if (v.text == "None") {
      v.kind = PyValue::Kind::kNone;
      return v;
    }
    if (!Cur().Is('(')) return v;
    v.kind = PyValue::Kind::kCall;
    ++i_;
    while (!Cur().Is(')')) {
      if (Cur().type == Token::Type::kName && At(1).Is('=')) {
        std::string key = Cur().text;
        const int line = Cur().line, column = Cur().column;
        for (const PyKwarg& kw : v.kwargs) {
          if (kw.name == key)
            return Error(Cur(), absl::StrCat("keyword argument '", key, "' repeated"));
        }
        i_ += 2;
        auto arg = Expr(depth + 1);
        if (!arg.ok()) return arg.status();
        v.kwargs.push_back({std::move(key), *std::move(arg), line, column});
      } else {
        if (!v.kwargs.empty()) {
          return Error(Cur(), "positional argument follows keyword argument");
        }
        auto arg = Expr(depth + 1);
        if (!arg.ok()) return arg.status();
        v.items.push_back(*std::move(arg));
      }
      if (Cur().Is(',')) {
        ++i_;
      } else if (!Cur().Is(')')) {
        return Expected("',' or ')'");
      }
    }
    ++i_;
    return v;
  }

  std::vector<Token> t_;
  absl::string_view file_;
  size_t i_ = 0;
};

}  // namespace

std::string PyValue::Describe() const {
  switch (kind) {
    case Kind::kInt:
      return absl::StrCat("the integer ", int_value);
    case Kind::kFloat:
      return absl::StrCat("the number ", float_value);
    case Kind::kString:
      return absl::StrCat("the string ", PyQuote(text));
    case Kind::kBool:
      return bool_value ? "True" : "False";
    case Kind::kNone:
      return "None";
    case Kind::kName:
      return absl::StrCat("the name ", text);
    case Kind::kTuple:
      return absl::StrCat("a tuple of ", items.size());
    case Kind::kList:
      return absl::StrCat("a list of ", items.size());
    case Kind::kCall:
      return absl::StrCat("a call of ", text);
  }
  return "?";
}

std::string PyQuote(absl::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "'";
}

absl::StatusOr<std::vector<PyStatement>> ParsePyStatements(absl::string_view text,
                                                           absl::string_view filename) {
  if (text.size() > kMaxPyTextBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ": ", text.size(), " bytes; the limit is ", kMaxPyTextBytes));
  }
  auto tokens = Lexer(text, filename).Run();
  if (!tokens.ok()) return tokens.status();
  return Parser(*std::move(tokens), filename).Statements();
}

}  // namespace kiln
