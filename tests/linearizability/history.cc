// tests/linearizability/history.cc — parsers for the three history formats
// and the glue that checks a history with its model.
#include "tests/linearizability/history.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

namespace kvraft::lincheck {

namespace {

[[noreturn]] void fail(const std::string& name, std::size_t line, const std::string& why) {
  throw HistoryError(name + ":" + std::to_string(line) + ": " + why);
}

// Splits text into lines without the trailing '\r' of CRLF files.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> tokens;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i]))
      ++i;
    std::size_t start = i;
    while (i < line.size() && !is_space(line[i]))
      ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  return tokens;
}

// Decimal int64 with an optional '-', nothing else.
std::optional<int64_t> parse_int(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Gives every operation still open at the end of the history an unknown
// outcome that returns after everything else.
template <class M>
void close_pending(std::map<std::string, std::size_t>& open, std::vector<Operation<M>>& ops,
                   std::size_t& unknown_ops) {
  for (const auto& [process, index] : open) {
    ops[index].output = {};
    ops[index].output.unknown = true;
    ops[index].ret = kPendingForever;
    ++unknown_ops;
  }
  open.clear();
}

// ------------------------------------------------------------ jepsen etcd

struct JepsenLine {
  std::string process;
  std::string_view type;  // ":invoke", ":ok", ":fail", ":info"
  std::string_view f;     // ":read", ":write", ":cas"
  std::vector<std::string_view> rest;
};

// Matches "INFO jepsen.util - <digits> :<type> :<f> ..." (the prefix every
// porcupine regex shares); anything else is not an event.
std::optional<JepsenLine> split_jepsen(std::string_view line) {
  std::vector<std::string_view> t = split_ws(line);
  if (t.size() < 6 || t[0] != "INFO" || t[1] != "jepsen.util" || t[2] != "-" || !all_digits(t[3])) {
    return std::nullopt;
  }
  JepsenLine j;
  j.process = std::string(t[3]);
  j.type = t[4];
  j.f = t[5];
  j.rest.assign(t.begin() + 6, t.end());
  return j;
}

// Parses "[A B]" split into two tokens.
std::optional<std::pair<int64_t, int64_t>> parse_cas_args(const std::vector<std::string_view>& r) {
  if (r.size() != 2 || r[0].size() < 2 || r[1].size() < 2 || r[0].front() != '[' ||
      r[1].back() != ']') {
    return std::nullopt;
  }
  std::string_view a = r[0].substr(1), b = r[1].substr(0, r[1].size() - 1);
  if (!all_digits(a) || !all_digits(b)) return std::nullopt;
  return std::make_pair(*parse_int(a), *parse_int(b));
}

// ------------------------------------------------------------ tiny EDN maps

// Reads one flat EDN map of keyword keys to keyword / integer / string / nil
// values: {:process 4, :type :ok, :f :get, :key "3", :value ""}.
// Values are returned in their textual form, strings unescaped; `is_string`
// tells a string "nil" from the symbol nil.
struct EdnValue {
  std::string text;
  bool is_string = false;
};

std::optional<std::map<std::string, EdnValue>> parse_edn_map(std::string_view s, std::string* why) {
  std::map<std::string, EdnValue> out;
  std::size_t i = 0;
  auto skip = [&] {
    while (i < s.size() && (is_space(s[i]) || s[i] == ','))
      ++i;
  };
  auto bare = [&] {
    std::size_t start = i;
    while (i < s.size() && !is_space(s[i]) && s[i] != ',' && s[i] != '}')
      ++i;
    return s.substr(start, i - start);
  };
  skip();
  if (i >= s.size() || s[i] != '{') {
    *why = "expected '{'";
    return std::nullopt;
  }
  ++i;
  while (true) {
    skip();
    if (i >= s.size()) {
      *why = "unterminated map";
      return std::nullopt;
    }
    if (s[i] == '}') {
      ++i;
      break;
    }
    if (s[i] != ':') {
      *why = "expected a keyword key at column " + std::to_string(i + 1);
      return std::nullopt;
    }
    std::string key(bare());
    skip();
    if (i >= s.size()) {
      *why = "missing value for " + key;
      return std::nullopt;
    }
    EdnValue v;
    if (s[i] == '"') {
      v.is_string = true;
      ++i;
      while (true) {
        if (i >= s.size()) {
          *why = "unterminated string";
          return std::nullopt;
        }
        char c = s[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= s.size()) {
            *why = "unterminated string";
            return std::nullopt;
          }
          char e = s[i++];
          v.text += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          v.text += c;
        }
      }
    } else {
      v.text = std::string(bare());
      if (v.text.empty()) {
        *why = "missing value for " + key;
        return std::nullopt;
      }
    }
    if (!out.emplace(key, std::move(v)).second) {
      *why = "duplicate key " + key;
      return std::nullopt;
    }
  }
  skip();
  if (i != s.size()) {
    *why = "text after the map";
    return std::nullopt;
  }
  return out;
}

// ------------------------------------------------------------ kvraft format

// A cursor over one line of the kvraft format.
class LineReader {
 public:
  LineReader(std::string_view line, const std::string& name, std::size_t line_no)
      : s_(line), name_(name), line_no_(line_no) {}

  bool at_end() {
    skip();
    return i_ >= s_.size();
  }
  // A bare token (up to whitespace); fails at the end of the line.
  std::string_view word(const char* what) {
    skip();
    if (i_ >= s_.size()) fail(name_, line_no_, std::string("missing ") + what);
    std::size_t start = i_;
    while (i_ < s_.size() && !is_space(s_[i_]))
      ++i_;
    return s_.substr(start, i_ - start);
  }
  bool next_is_quote() {
    skip();
    return i_ < s_.size() && s_[i_] == '"';
  }
  int64_t integer(const char* what) {
    std::string_view w = word(what);
    std::optional<int64_t> v = parse_int(w);
    if (!v) fail(name_, line_no_, std::string("bad ") + what + " '" + std::string(w) + "'");
    return *v;
  }
  // A double-quoted string with \" \\ \n \r \t \xHH escapes.
  std::string quoted(const char* what) {
    if (!next_is_quote()) fail(name_, line_no_, std::string("expected a quoted ") + what);
    ++i_;
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail(name_, line_no_, std::string("unterminated ") + what);
      char c = s_[i_++];
      if (c == '"') break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail(name_, line_no_, std::string("unterminated ") + what);
      char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
          out += e;
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'x': {
          auto hex = [](char h) -> int {
            if (h >= '0' && h <= '9') return h - '0';
            if (h >= 'a' && h <= 'f') return h - 'a' + 10;
            if (h >= 'A' && h <= 'F') return h - 'A' + 10;
            return -1;
          };
          if (i_ + 2 > s_.size() || hex(s_[i_]) < 0 || hex(s_[i_ + 1]) < 0) {
            fail(name_, line_no_, std::string("bad \\x escape in ") + what);
          }
          out += static_cast<char>(hex(s_[i_]) * 16 + hex(s_[i_ + 1]));
          i_ += 2;
          break;
        }
        default:
          fail(name_, line_no_, std::string("bad escape \\") + e + " in " + what);
      }
    }
    return out;
  }

 private:
  void skip() {
    while (i_ < s_.size() && is_space(s_[i_]))
      ++i_;
  }
  std::string_view s_;
  const std::string& name_;
  std::size_t line_no_;
  std::size_t i_ = 0;
};

bool skippable(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && is_space(line[i]))
    ++i;
  return i == line.size() || line[i] == '#';
}

}  // namespace

std::string_view format_name(Format format) {
  switch (format) {
    case Format::kJepsenEtcd:
      return "jepsen-etcd";
    case Format::kPorcupineKv:
      return "porcupine-kv";
    case Format::kKvraft:
      return "kvraft";
  }
  return "?";
}

History parse_jepsen_etcd(std::string_view text, const std::string& name) {
  using In = RegisterModel::Input;
  using Kind = RegisterModel::Kind;
  History h;
  h.format = Format::kJepsenEtcd;
  auto& ops = h.register_ops;
  std::map<std::string, std::size_t> open;  // process -> index of its outstanding op
  std::set<std::string> processes;
  const std::vector<std::string_view> lines = split_lines(text);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::size_t line_no = n + 1;
    const int64_t time = static_cast<int64_t>(line_no);
    std::optional<JepsenLine> j = split_jepsen(lines[n]);
    if (!j) continue;  // not an event; porcupine ignores such lines too
    auto it = open.find(j->process);
    if (j->type == ":invoke") {
      In in;
      if (j->f == ":read" && j->rest.size() == 1 && j->rest[0] == "nil") {
        in.kind = Kind::kRead;
      } else if (j->f == ":write" && j->rest.size() == 1 && all_digits(j->rest[0])) {
        in.kind = Kind::kWrite;
        in.arg = *parse_int(j->rest[0]);
      } else if (auto cas = j->f == ":cas" ? parse_cas_args(j->rest) : std::nullopt) {
        in.kind = Kind::kCas;
        in.arg = cas->first;
        in.arg2 = cas->second;
      } else {
        continue;  // matches no invoke pattern
      }
      if (it != open.end()) {
        fail(name, line_no,
             "process " + j->process + " invokes while its operation from line " +
                 std::to_string(ops[it->second].call) + " is still open");
      }
      processes.insert(j->process);
      open.emplace(j->process, ops.size());
      ops.push_back(Operation<RegisterModel>{j->process, in, {}, time, time});
      continue;
    }
    if (j->type != ":ok" && j->type != ":fail" && j->type != ":info") continue;
    if (it == open.end()) {
      fail(name, line_no, "process " + j->process + " completes an operation it never invoked");
    }
    Operation<RegisterModel>& op = ops[it->second];
    const char* expected_f = op.input.kind == Kind::kRead    ? ":read"
                             : op.input.kind == Kind::kWrite ? ":write"
                                                             : ":cas";
    if (j->f != expected_f) {
      fail(name, line_no,
           "completion " + std::string(j->f) + " does not match the " + expected_f +
               " invoked at line " + std::to_string(op.call));
    }
    RegisterModel::Output out;
    if (j->type == ":info") {
      // Jepsen's indeterminate outcome: the operation may take effect at any
      // later time or never (porcupine leaves it open until the end).
      out.unknown = true;
      op.output = out;
      op.ret = kPendingForever;
      ++h.unknown_ops;
      open.erase(it);
      continue;
    }
    if (op.input.kind == Kind::kRead) {
      if (j->type == ":fail") {
        if (j->rest.size() != 1 || j->rest[0] != ":timed-out") {
          fail(name, line_no, "a failed read must be ':timed-out'");
        }
        out.unknown = true;  // returned, with no value: accepts anything
        ++h.unknown_ops;
      } else if (j->rest.size() == 1 && j->rest[0] == "nil") {
        out.value = std::nullopt;
      } else if (j->rest.size() == 1 && all_digits(j->rest[0])) {
        out.value = *parse_int(j->rest[0]);
      } else {
        fail(name, line_no, "bad read result");
      }
    } else if (op.input.kind == Kind::kWrite) {
      if (j->type != ":ok" || j->rest.size() != 1 || parse_int(j->rest[0]) != op.input.arg) {
        fail(name, line_no, "write completion does not repeat the written value with :ok");
      }
    } else {
      auto cas = parse_cas_args(j->rest);
      if (!cas || cas->first != op.input.arg || cas->second != op.input.arg2) {
        fail(name, line_no, "cas completion does not repeat the invoked [A B]");
      }
      out.ok = j->type == ":ok";
    }
    op.output = out;
    op.ret = time;
    open.erase(it);
  }
  close_pending(open, ops, h.unknown_ops);
  h.processes = processes.size();
  return h;
}

History parse_porcupine_kv(std::string_view text, const std::string& name) {
  using Kind = KvModel::Kind;
  History h;
  h.format = Format::kPorcupineKv;
  auto& ops = h.kv_ops;
  std::map<std::string, std::size_t> open;
  std::set<std::string> processes;
  std::vector<bool> failed;  // ops[i] definitely did not happen
  const std::vector<std::string_view> lines = split_lines(text);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::size_t line_no = n + 1;
    const int64_t time = static_cast<int64_t>(line_no);
    if (skippable(lines[n])) continue;
    std::string why;
    auto map = parse_edn_map(lines[n], &why);
    if (!map) fail(name, line_no, why);
    auto field = [&](const char* key) -> const EdnValue& {
      auto it = map->find(key);
      if (it == map->end()) fail(name, line_no, std::string("missing ") + key);
      return it->second;
    };
    const EdnValue& process = field(":process");
    if (process.is_string || !parse_int(process.text)) fail(name, line_no, "bad :process");
    const std::string& type = field(":type").text;
    const std::string& f = field(":f").text;
    const EdnValue& key = field(":key");
    const EdnValue& value = field(":value");
    if (!key.is_string) fail(name, line_no, ":key must be a string");
    auto it = open.find(process.text);
    if (type == ":invoke") {
      if (it != open.end()) {
        fail(name, line_no,
             "process " + process.text + " invokes while its operation from line " +
                 std::to_string(ops[it->second].call) + " is still open");
      }
      KvModel::Input in;
      in.key = key.text;
      if (f == ":get") {
        in.kind = Kind::kGet;
      } else if (f == ":put" || f == ":append") {
        in.kind = f == ":put" ? Kind::kSet : Kind::kAppend;
        if (!value.is_string) fail(name, line_no, f + " needs a string :value");
        in.arg = value.text;
      } else {
        fail(name, line_no, "unknown :f " + f);
      }
      processes.insert(process.text);
      open.emplace(process.text, ops.size());
      ops.push_back(Operation<KvModel>{process.text, std::move(in), {}, time, time});
      failed.push_back(false);
      continue;
    }
    if (it == open.end()) {
      fail(name, line_no, "process " + process.text + " completes an operation it never invoked");
    }
    Operation<KvModel>& op = ops[it->second];
    if (f != ":" + std::string(op.input.kind == Kind::kSet ? "put" : kind_name(op.input.kind)) ||
        key.text != op.input.key) {
      fail(name, line_no,
           "completion does not match the operation invoked at line " + std::to_string(op.call));
    }
    if (type == ":ok") {
      if (op.input.kind == Kind::kGet) {
        if (value.is_string) op.output.value = value.text;  // nil stays nil
      }
      op.ret = time;
    } else if (type == ":fail") {
      failed[it->second] = true;  // Jepsen: definitely had no effect
    } else if (type == ":info") {
      op.output.unknown = true;
      op.ret = kPendingForever;
      ++h.unknown_ops;
    } else {
      fail(name, line_no, "unknown :type " + type);
    }
    open.erase(it);
  }
  close_pending(open, ops, h.unknown_ops);
  failed.resize(ops.size(), false);
  // Failed operations took no effect and returned nothing to check.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (failed[i]) continue;
    if (kept != i) ops[kept] = std::move(ops[i]);
    ++kept;
  }
  ops.resize(kept);
  h.processes = processes.size();
  return h;
}

History parse_kvraft_history(std::string_view text, const std::string& name) {
  using Kind = KvModel::Kind;
  History h;
  h.format = Format::kKvraft;
  std::set<std::string> processes;
  // Per client, its operations with a known completion: (call, ret, line).
  std::map<std::string, std::vector<std::tuple<int64_t, int64_t, std::size_t>>> definite;
  bool header_seen = false;
  const std::vector<std::string_view> lines = split_lines(text);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::size_t line_no = n + 1;
    if (skippable(lines[n])) continue;
    LineReader r(lines[n], name, line_no);
    if (!header_seen) {
      if (r.word("header") != "kvraft-history" || r.word("version") != "1" || !r.at_end()) {
        fail(name, line_no, "expected the header 'kvraft-history 1'");
      }
      header_seen = true;
      continue;
    }
    Operation<KvModel> op;
    op.client = std::string(r.word("client id"));
    op.call = r.integer("invoke time");
    std::string_view complete = r.word("completion time");
    bool no_reply = complete == "unknown";
    if (!no_reply) {
      std::optional<int64_t> t = parse_int(complete);
      if (!t) fail(name, line_no, "bad completion time '" + std::string(complete) + "'");
      // The largest value means "never returns" to the checker.
      if (*t == kPendingForever) fail(name, line_no, "completion time out of range");
      if (*t < op.call) fail(name, line_no, "completes before it is invoked");
      op.ret = *t;
    }
    std::string_view kind = r.word("operation");
    op.input.key = r.quoted("key");
    if (kind == "get") {
      op.input.kind = Kind::kGet;
    } else if (kind == "set" || kind == "append") {
      op.input.kind = kind == "set" ? Kind::kSet : Kind::kAppend;
      op.input.arg = r.quoted("value");
    } else if (kind == "del") {
      op.input.kind = Kind::kDel;
    } else if (kind == "incr") {
      op.input.kind = Kind::kIncr;
      op.input.delta = r.integer("increment");
    } else if (kind == "cas") {
      op.input.kind = Kind::kCas;
      if (r.next_is_quote()) {
        op.input.arg = r.quoted("expected value");
      } else if (r.word("expected value") != "nil") {
        fail(name, line_no, "cas expects a quoted value or nil");
      }
      op.input.arg2 = r.quoted("new value");
    } else {
      fail(name, line_no, "unknown operation '" + std::string(kind) + "'");
    }
    if (r.word("'->'") != "->") fail(name, line_no, "expected '->' before the result");
    // The result.
    if (r.next_is_quote()) {
      if (op.input.kind != Kind::kGet) fail(name, line_no, "only get returns a string");
      op.output.value = r.quoted("result");
    } else {
      std::string_view result = r.word("result");
      if (result == "unknown" || result == "error") {
        // A timeout, a lost connection or an error reply: the operation may
        // still have been committed, at any time after its call.
        if (result == "error" && r.next_is_quote()) r.quoted("error text");
        op.output.unknown = true;
      } else if (no_reply) {
        fail(name, line_no, "an operation without a completion time must have result unknown");
      } else if (result == "nil" && op.input.kind == Kind::kGet) {
        op.output.value = std::nullopt;
      } else if (result == "ok" && op.input.kind == Kind::kSet) {
        op.output.ok = true;
      } else if ((result == "ok" || result == "fail") && op.input.kind == Kind::kCas) {
        op.output.ok = result == "ok";
      } else if (op.input.kind == Kind::kDel || op.input.kind == Kind::kIncr ||
                 op.input.kind == Kind::kAppend) {
        op.output.number = parse_int(result);
        if (!op.output.number) {
          fail(name, line_no, "bad integer result '" + std::string(result) + "'");
        }
      } else {
        fail(name, line_no,
             "result '" + std::string(result) + "' does not fit " + std::string(kind));
      }
    }
    if (!r.at_end()) fail(name, line_no, "unexpected text after the result");
    if (op.output.unknown) {
      op.ret = kPendingForever;
      ++h.unknown_ops;
    } else {
      definite[op.client].emplace_back(op.call, op.ret, line_no);
    }
    processes.insert(op.client);
    h.kv_ops.push_back(std::move(op));
  }
  if (!header_seen) fail(name, 1, "empty history: expected the header 'kvraft-history 1'");
  // A client waits for each reply before its next request, so its completed
  // operations cannot overlap; if they do, the timestamps are wrong and any
  // verdict would be meaningless.
  for (auto& [client, spans] : definite) {
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i) {
      if (std::get<0>(spans[i]) < std::get<1>(spans[i - 1])) {
        fail(name, std::get<2>(spans[i]),
             "client " + client + " overlaps its own operation from line " +
                 std::to_string(std::get<2>(spans[i - 1])));
      }
    }
  }
  h.processes = processes.size();
  return h;
}

History parse_history(std::string_view text, const std::string& name) {
  for (std::string_view line : split_lines(text)) {
    if (skippable(line)) continue;
    std::vector<std::string_view> t = split_ws(line);
    if (t[0] == "kvraft-history") return parse_kvraft_history(text, name);
    if (t[0] == "INFO") return parse_jepsen_etcd(text, name);
    if (line.find('{') != std::string_view::npos) return parse_porcupine_kv(text, name);
    break;
  }
  throw HistoryError(name + ": unrecognised history format (expected a 'kvraft-history 1' " +
                     "header, Jepsen 'INFO jepsen.util' lines or EDN maps)");
}

CheckResult check(const History& history, const CheckOptions& options) {
  CheckResult result;
  if (history.format == Format::kJepsenEtcd) {
    std::vector<Operation<RegisterModel>> ops;
    for (const auto& op : history.register_ops) {
      if (!(op.output.unknown && op.input.kind == RegisterModel::Kind::kRead)) ops.push_back(op);
    }
    result = check_history(
        RegisterModel{}, ops, [](const RegisterModel::Input&) { return std::string("register"); },
        options);
  } else {
    std::vector<Operation<KvModel>> ops;
    for (const auto& op : history.kv_ops) {
      if (!(op.output.unknown && op.input.kind == KvModel::Kind::kGet)) ops.push_back(op);
    }
    KvModel model;
    model.missing_reads_as_empty = history.format == Format::kPorcupineKv;
    result = check_history(
        model, ops, [](const KvModel::Input& in) { return "key " + history_quote(in.key); },
        options);
  }
  result.operations = history.operations();
  return result;
}

std::string to_kvraft_line(const Operation<KvModel>& op) {
  using Kind = KvModel::Kind;
  if (op.client.empty() ||
      std::any_of(op.client.begin(), op.client.end(), [](char c) { return is_space(c); }) ||
      op.client[0] == '#') {
    throw std::invalid_argument("client id '" + op.client + "' is empty or has whitespace");
  }
  const bool unknown = op.output.unknown || op.ret == kPendingForever;
  std::string line = op.client + " " + std::to_string(op.call) + " " +
                     (unknown ? std::string("unknown") : std::to_string(op.ret)) + " " +
                     std::string(kind_name(op.input.kind)) + " " + history_quote(op.input.key);
  switch (op.input.kind) {
    case Kind::kGet:
    case Kind::kDel:
      break;
    case Kind::kSet:
    case Kind::kAppend:
      line += " " + history_quote(op.input.arg.value_or(""));
      break;
    case Kind::kIncr:
      line += " " + std::to_string(op.input.delta);
      break;
    case Kind::kCas:
      line += " " + (op.input.arg ? history_quote(*op.input.arg) : std::string("nil")) + " " +
              history_quote(op.input.arg2);
      break;
  }
  line += " -> ";
  if (unknown) return line + "unknown";
  switch (op.input.kind) {
    case Kind::kGet:
      return line + (op.output.value ? history_quote(*op.output.value) : std::string("nil"));
    case Kind::kSet:
      return line + "ok";
    case Kind::kCas:
      return line + (op.output.ok ? "ok" : "fail");
    case Kind::kDel:
    case Kind::kIncr:
    case Kind::kAppend:
      if (!op.output.number) throw std::invalid_argument("integer result missing");
      return line + std::to_string(*op.output.number);
  }
  return line;
}

std::string history_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out += static_cast<char>(c);
        } else {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        }
    }
  }
  return out + "\"";
}

}  // namespace kvraft::lincheck
