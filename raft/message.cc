// raft/message.cc — names and one-line descriptions of messages for logs
// and simulator traces.
#include "raft/message.h"

#include <sstream>

namespace kvraft::raft {

const char* to_string(MessageType type) {
  switch (type) {
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResp:
      return "PreVoteResp";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResp:
      return "VoteResp";
    case MessageType::kApp:
      return "App";
    case MessageType::kAppResp:
      return "AppResp";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResp:
      return "HeartbeatResp";
    case MessageType::kSnap:
      return "Snap";
    case MessageType::kSnapResp:
      return "SnapResp";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kReadIndex:
      return "ReadIndex";
    case MessageType::kReadIndexResp:
      return "ReadIndexResp";
  }
  return "Unknown";
}

bool is_response(MessageType type) {
  switch (type) {
    case MessageType::kPreVoteResp:
    case MessageType::kVoteResp:
    case MessageType::kAppResp:
    case MessageType::kHeartbeatResp:
    case MessageType::kSnapResp:
    case MessageType::kReadIndexResp:
      return true;
    default:
      return false;
  }
}

std::string describe(const Message& m) {
  std::ostringstream out;
  out << to_string(m.type) << ' ' << m.from << "->" << m.to << " t" << m.term;
  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      out << " last=" << m.index << "/lt" << m.log_term << (m.transfer ? " transfer" : "");
      break;
    case MessageType::kApp:
      out << " prev=" << m.index << "/lt" << m.log_term << " n=" << m.entries.size() << " c"
          << m.commit;
      if (!m.entries.empty()) {
        out << " [" << m.entries.front().index << "/t" << m.entries.front().term << ".."
            << m.entries.back().index << "/t" << m.entries.back().term << "]";
      }
      break;
    case MessageType::kAppResp:
      out << " i" << m.index;
      if (m.reject) out << " reject hint=" << m.reject_hint << "/lt" << m.log_term;
      break;
    case MessageType::kHeartbeat:
      out << " c" << m.commit << " lease=" << m.lease_tick;
      if (!m.context.empty()) out << " ctx=" << m.context;
      break;
    case MessageType::kHeartbeatResp:
      out << " lease=" << m.lease_tick;
      if (!m.context.empty()) out << " ctx=" << m.context;
      break;
    case MessageType::kSnap:
      out << " snap=" << m.snapshot.index << "/t" << m.snapshot.term << " off=" << m.offset
          << " len=" << m.data.size() << "/" << m.snapshot_size << (m.done ? " done" : "");
      break;
    case MessageType::kSnapResp:
      out << " snap=" << m.snapshot.index << "/t" << m.snapshot.term << " next=" << m.offset
          << (m.reject ? " reject" : "");
      break;
    case MessageType::kReadIndex:
    case MessageType::kReadIndexResp:
      out << " i" << m.index << " ctx=" << m.context << (m.reject ? " reject" : "");
      break;
    default:
      if (m.reject) out << " reject";
      break;
  }
  return out.str();
}

uint64_t message_heap_bytes(const Message& m) {
  uint64_t n = sizeof(Message) + string_heap_bytes(m.data) + string_heap_bytes(m.context);
  for (const Entry& e : m.entries)
    n += entry_heap_bytes(e);
  return n;
}

}  // namespace kvraft::raft
