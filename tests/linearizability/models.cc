// tests/linearizability/models.cc — the register and key-value models.
#include "tests/linearizability/models.h"

#include <charconv>
#include <functional>

namespace kvraft::lincheck {

std::string quote(std::string_view s, std::size_t max_len) {
  auto escape = [](std::string_view part) {
    std::string out;
    for (unsigned char c : part) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c >= 0x20 && c < 0x7f) {
        out += static_cast<char>(c);
      } else {
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
    return out;
  };
  if (s.size() <= max_len) return "\"" + escape(s) + "\"";
  const std::size_t head = max_len / 3;
  const std::size_t tail = max_len - head;
  return "\"" + escape(s.substr(0, head)) + "..." + escape(s.substr(s.size() - tail)) + "\" (" +
         std::to_string(s.size()) + " bytes)";
}

// ------------------------------------------------------------ register

std::optional<RegisterModel::State> RegisterModel::step(const State& s, const Input& in,
                                                        const Output& out) const {
  switch (in.kind) {
    case Kind::kRead:
      if (out.unknown || out.value == s) return s;
      return std::nullopt;
    case Kind::kWrite:
      return State{in.arg};
    case Kind::kCas: {
      const bool matches = s == in.arg;
      if (out.unknown) return matches ? State{in.arg2} : s;
      if (out.ok != matches) return std::nullopt;
      return matches ? State{in.arg2} : s;
    }
  }
  return std::nullopt;
}

bool RegisterModel::read_only(const Input& in, const Output& out) const {
  if (out.unknown) return in.kind == Kind::kRead;
  return in.kind == Kind::kRead || (in.kind == Kind::kCas && !out.ok);
}

std::size_t RegisterModel::hash(const State& s) const {
  return s ? std::hash<int64_t>{}(*s) : 0x51ed270b27c0ffeeULL;
}

std::string RegisterModel::describe_state(const State& s) const {
  return s ? std::to_string(*s) : std::string("nil");
}

std::string RegisterModel::describe_op(const Input& in, const Output& out) const {
  std::string text;
  switch (in.kind) {
    case Kind::kRead:
      text = "read -> " + (out.unknown ? std::string("?") : describe_state(out.value));
      break;
    case Kind::kWrite:
      text = "write " + std::to_string(in.arg) + (out.unknown ? " -> ?" : " -> ok");
      break;
    case Kind::kCas:
      text = "cas " + std::to_string(in.arg) + " " + std::to_string(in.arg2) + " -> " +
             (out.unknown ? "?"
              : out.ok    ? "ok"
                          : "fail");
      break;
  }
  return text;
}

// ------------------------------------------------------------ key-value

namespace {

// Parses a value the way Redis's INCR accepts it (string2ll): optional '-',
// decimal digits, no leading zeros, no "-0", within int64.
std::optional<int64_t> parse_redis_integer(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (s == "0") return 0;
  std::size_t digits_at = s[0] == '-' ? 1 : 0;
  if (digits_at >= s.size() || s[digits_at] < '1' || s[digits_at] > '9') return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string_view kind_name(KvModel::Kind kind) {
  switch (kind) {
    case KvModel::Kind::kGet:
      return "get";
    case KvModel::Kind::kSet:
      return "set";
    case KvModel::Kind::kDel:
      return "del";
    case KvModel::Kind::kIncr:
      return "incr";
    case KvModel::Kind::kAppend:
      return "append";
    case KvModel::Kind::kCas:
      return "cas";
  }
  return "?";
}

std::optional<KvModel::State> KvModel::step(const State& s, const Input& in,
                                            const Output& out) const {
  switch (in.kind) {
    case Kind::kGet: {
      if (out.unknown) return s;
      if (missing_reads_as_empty) {
        if (s.value_or("") == out.value.value_or("")) return s;
        return std::nullopt;
      }
      if (out.value == s) return s;
      return std::nullopt;
    }
    case Kind::kSet:
      return State{in.arg.value_or("")};
    case Kind::kDel:
      if (!out.unknown && out.number && *out.number != (s ? 1 : 0)) return std::nullopt;
      return State{};
    case Kind::kIncr: {
      std::optional<int64_t> current = s ? parse_redis_integer(*s) : std::optional<int64_t>{0};
      int64_t next = 0;
      const bool errs = !current || __builtin_add_overflow(*current, in.delta, &next);
      // Redis answers an error and changes nothing; a recorded integer
      // reply is then impossible, an unknown outcome is this no-op.
      if (errs) return out.unknown ? std::optional<State>{s} : std::nullopt;
      if (!out.unknown && out.number && *out.number != next) return std::nullopt;
      return State{std::to_string(next)};
    }
    case Kind::kAppend: {
      std::string value = s.value_or("") + in.arg.value_or("");
      if (!out.unknown && out.number && *out.number != static_cast<int64_t>(value.size())) {
        return std::nullopt;
      }
      return State{std::move(value)};
    }
    case Kind::kCas: {
      const bool matches = s == in.arg;
      if (out.unknown) return matches ? State{in.arg2} : s;
      if (out.ok != matches) return std::nullopt;
      return matches ? State{in.arg2} : s;
    }
  }
  return std::nullopt;
}

bool KvModel::read_only(const Input& in, const Output& out) const {
  if (in.kind == Kind::kGet) return true;
  if (out.unknown) return false;
  return (in.kind == Kind::kCas && !out.ok) || (in.kind == Kind::kDel && out.number == 0);
}

bool KvModel::accepts(const State& s, const Input& in, const Output& out) const {
  if (in.kind != Kind::kGet || out.unknown) return step(s, in, out).has_value();
  if (missing_reads_as_empty) {
    const std::string_view have = s ? std::string_view(*s) : std::string_view();
    const std::string_view want = out.value ? std::string_view(*out.value) : std::string_view();
    return have == want;
  }
  return out.value == s;
}

std::size_t KvModel::hash(const State& s) const {
  return s ? std::hash<std::string>{}(*s) : 0x51ed270b27c0ffeeULL;
}

std::string KvModel::describe_state(const State& s) const {
  if (!s) return missing_reads_as_empty ? "\"\" (absent)" : "nil";
  return quote(*s);
}

std::string KvModel::describe_op(const Input& in, const Output& out) const {
  std::string text(kind_name(in.kind));
  switch (in.kind) {
    case Kind::kGet:
      text += " -> ";
      text += out.unknown ? std::string("?") : out.value ? quote(*out.value) : std::string("nil");
      return text;
    case Kind::kSet:
      text += " " + quote(in.arg.value_or(""));
      text += out.unknown ? " -> ?" : " -> ok";
      return text;
    case Kind::kDel:
      break;
    case Kind::kIncr:
      text += " " + std::to_string(in.delta);
      break;
    case Kind::kAppend:
      text += " " + quote(in.arg.value_or(""));
      break;
    case Kind::kCas:
      text += " " + (in.arg ? quote(*in.arg) : std::string("nil")) + " " + quote(in.arg2);
      text += out.unknown ? " -> ?" : out.ok ? " -> ok" : " -> fail";
      return text;
  }
  text += " -> ";
  text += out.unknown  ? std::string("?")
          : out.number ? std::to_string(*out.number)
                       : std::string("ok");
  return text;
}

}  // namespace kvraft::lincheck
