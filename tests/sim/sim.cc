// tests/sim/sim.cc — the simulator: event loop, fault injection, the host
// side of the Ready protocol, and the invariant checks.
//
// Time: one step is one tick interval of 10 time units; each node ticks at
// its own phase within the interval, messages take 1..max_delay units.
// Events run in (time, sequence) order from a priority queue, so runs are
// deterministic for a seed.
#include "tests/sim/sim.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "raft/conf_change.h"

namespace kvraft::sim {
namespace {

using raft::ConfChange;
using raft::ConfChangeType;
using raft::ConfState;
using raft::Entry;
using raft::EntryType;
using raft::Index;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
using raft::Ready;
using raft::Role;
using raft::SnapshotMeta;
using raft::Term;

constexpr int kTickUnits = 10;

// Builds the trace line only when tracing: formatting every message costs
// more than simulating it.
#define SIM_TRACE(expr)               \
  do {                                \
    if (opt_.trace) trace_line(expr); \
  } while (0)
constexpr int kSpares = 3;
// The last kHealSteps steps run without faults; by their end a leader must
// have committed a fresh entry on every voter (the liveness check).
constexpr int kHealSteps = 300;

// Thrown by a check; caught by run_simulation and reported.
struct Violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ULL + 0x1234567) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53;
  }

 private:
  uint64_t s_;
};

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdULL;
}

uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s)
    h = (h ^ c) * 1099511628211ULL;
  return h;
}

// The replicated state machine: a register holding the index of the last
// write applied, plus a running hash of every applied entry (so two replicas
// with equal hashes at an index applied identical histories).
struct StateMachine {
  Index applied = 0;
  Index last_write = 0;
  uint64_t hash = 0;

  void apply(const Entry& e) {
    applied = e.index;
    if (e.type == EntryType::kNormal && !e.data.empty()) last_write = e.index;
    hash = mix(mix(mix(hash, e.index), e.term), hash_bytes(e.data));
  }
  // Padded so that snapshots need several InstallSnapshot chunks.
  std::string serialize() const {
    std::ostringstream out;
    out << applied << ' ' << last_write << ' ' << hash << ' ';
    std::string s = out.str();
    s.append(100 + (hash % 200), static_cast<char>('a' + hash % 26));
    return s;
  }
  static StateMachine parse(const std::string& s) {
    StateMachine sm;
    std::istringstream in(s);
    if (!(in >> sm.applied >> sm.last_write >> sm.hash)) throw Violation("corrupt snapshot data");
    return sm;
  }
};

struct PendingRead {
  std::string context;
  Index floor = 0;       // the register must show at least this write
  Index read_index = 0;  // set once the ReadState arrived
  bool have_index = false;
};

struct SimNode {
  NodeId id = 0;
  bool running = false;
  bool started_once = false;
  int restart_at = -1;  // step at which a crashed node comes back
  raft::MemoryStorage disk;
  std::unique_ptr<raft::Node> node;
  StateMachine sm;
  std::vector<PendingRead> reads;
  // Monotonic tracking: in memory per incarnation, on disk across them.
  Term mem_term = 0;
  Index mem_commit = 0;
  Index seen_commit = 0;
  Term disk_term = 0;
  Index disk_commit = 0;
  Index disk_snap = 0;
  // A Ready whose disk write is still in progress (the server's disk
  // thread): its entries are not on `disk` yet; it completes on a later
  // tick, or is lost with everything else in memory if the node crashes.
  std::optional<Ready> in_flight;
};

struct Event {
  int64_t time;
  uint64_t seq;
  bool is_tick;
  NodeId node;  // tick target
  Message msg;  // delivery
};
struct EventLater {
  bool operator()(const Event* a, const Event* b) const {
    return a->time != b->time ? a->time > b->time : a->seq > b->seq;
  }
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& o)
      : opt_(o), rng_(o.seed), disk_rng_(o.seed * 0x9E3779B97F4A7C15ULL + 1) {
    // Per-seed fault profile, so that some seeds are calm and some brutal.
    drop_p_ = rng_.chance(0.3) ? 0.0 : rng_.uniform(0.0, 0.15);
    dup_p_ = rng_.uniform(0.0, 0.05);
    max_delay_ = 1 + static_cast<int>(rng_.below(rng_.chance(0.2) ? 40 : 15));
    crash_p_ = rng_.uniform(0.0, 0.006);
    crash_in_ready_p_ = rng_.uniform(0.0, 0.002);
    partition_p_ = rng_.uniform(0.0, 0.008);
    lease_reads_ = rng_.chance(0.5);
    // Leases need CheckQuorum; without leases both options vary, so the
    // protocol is also exercised without them (a deposed leader then keeps
    // believing it leads until it hears a higher term).
    check_quorum_ = lease_reads_ || rng_.chance(0.5);
    pre_vote_ = rng_.chance(0.8);
    write_p_ = rng_.chance(0.5) ? 0.3 : 0.7;
    // Leader churn (a crash aimed at the current leader) and one-entry
    // messages make histories like Figure 8 of the Raft paper likely.
    leader_crash_p_ = rng_.chance(0.5) ? rng_.uniform(0.0, 0.03) : 0.0;
    max_msg_bytes_ = rng_.chance(0.4) ? 1 : 120;
    fresh_leader_crash_p_ = rng_.chance(0.6) ? rng_.uniform(0.1, 0.7) : 0.0;
    // Slow disks: a Ready's write may stay in progress across events, as on
    // the server's disk thread, while the node keeps stepping, sends its
    // early messages and applies what commits meanwhile
    // (Node::take_committed_entries, durable here or not). Drawn from a
    // stream of its own, so seeds whose profile has no slow disk replay the
    // histories they had before this was simulated.
    async_disk_p_ = disk_rng_.chance(0.5) ? disk_rng_.uniform(0.2, 0.9) : 0.0;
    total_ids_ = opt_.nodes + kSpares;
    nodes_.resize(total_ids_ + 1);
    for (int i = 1; i <= total_ids_; ++i)
      nodes_[i].id = static_cast<NodeId>(i);
    std::vector<NodeId> voters;
    for (int i = 1; i <= opt_.nodes; ++i)
      voters.push_back(static_cast<NodeId>(i));
    for (int i = 1; i <= opt_.nodes; ++i) {
      SimNode& n = nodes_[i];
      n.disk.append(raft::bootstrap_entries(voters));
      n.disk.set_hard_state(raft::HardState{1, raft::kNoNode, voters.size()});
      start(n);
    }
    committed_term_.assign(voters.size() + 1, 1);  // the bootstrap entries
    committed_term_[0] = 0;
    global_commit_ = voters.size();
    heal_step_ = std::max(0, opt_.steps - kHealSteps);
    SIM_TRACE("profile leader_crash=" + std::to_string(leader_crash_p_) + " max_msg_bytes=" +
              std::to_string(max_msg_bytes_) + " drop=" + std::to_string(drop_p_) +
              " dup=" + std::to_string(dup_p_) + " max_delay=" + std::to_string(max_delay_) +
              " crash=" + std::to_string(crash_p_) + " partition=" + std::to_string(partition_p_) +
              " lease=" + std::to_string(lease_reads_) + " check_quorum=" +
              std::to_string(check_quorum_) + " pre_vote=" + std::to_string(pre_vote_) +
              " async_disk=" + std::to_string(async_disk_p_));
  }

  ~Simulation() {
    while (!queue_.empty()) {
      delete queue_.top();
      queue_.pop();
    }
  }

  SimResult run() {
    SimResult res;
    try {
      for (step_ = 0; step_ < opt_.steps; ++step_) {
        if (step_ < heal_step_) {
          inject_faults();
        } else if (step_ == heal_step_) {
          heal();
        }
        client_actions();
        int64_t end = static_cast<int64_t>(step_ + 1) * kTickUnits;
        while (!queue_.empty() && queue_.top()->time < end) {
          std::unique_ptr<Event> ev(queue_.top());
          queue_.pop();
          now_ = ev->time;
          ++events_;
          if (ev->is_tick) {
            handle_tick(ev->node);
          } else {
            deliver(ev->msg);
          }
        }
        check_step();
        if (step_ >= heal_step_) check_liveness();
      }
      if (heal_step_ < opt_.steps && !live_ok_) {
        fail("liveness: no leader committed a new entry on every voter within " +
             std::to_string(opt_.steps - heal_step_) + " steps after faults healed");
      }
    } catch (const Violation& v) {
      res.ok = false;
      res.violation = v.what();
      res.step = step_;
    }
    res.events = events_;
    return res;
  }

 private:
  // ---------------------------------------------------------- tracing

  void trace_line(const std::string& s) {
    if (opt_.trace)
      std::printf("[step %d t=%lld] %s\n", step_, static_cast<long long>(now_), s.c_str());
  }
  [[noreturn]] void fail(const std::string& s) {
    if (opt_.trace) trace_line("VIOLATION: " + s);
    throw Violation("step " + std::to_string(step_) + ": " + s);
  }

  // ---------------------------------------------------------- lifecycle

  raft::Config node_config(NodeId id) {
    raft::Config c;
    c.id = id;
    c.election_tick = 10;
    c.heartbeat_tick = 2;
    c.seed = opt_.seed * 131 + id * 7 + restarts_++;
    c.check_quorum = check_quorum_;
    c.pre_vote = pre_vote_;
    c.read_only = lease_reads_ ? raft::ReadOnlyOption::kLeaseBased : raft::ReadOnlyOption::kSafe;
    c.max_inflight = 4;
    c.max_msg_bytes = max_msg_bytes_;
    c.snapshot_chunk_bytes = 64;
    c.max_inflight_snapshot_chunks = 2;
    c.mutations = opt_.mutations;
    return c;
  }

  void start(SimNode& n) {
    n.node = std::make_unique<raft::Node>(node_config(n.id), n.disk);
    n.running = true;
    n.started_once = true;
    n.restart_at = -1;
    n.reads.clear();
    n.sm = StateMachine{};
    if (n.disk.snapshot_meta().index > 0) {
      n.sm = StateMachine::parse(n.disk.snapshot_data());
      check_snapshot_state(n, n.disk.snapshot_meta());
    }
    n.mem_term = n.node->term();
    n.mem_commit = n.node->log().committed();
    n.seen_commit = n.mem_commit;
    // Ticks at a fixed phase per incarnation within each interval.
    schedule_tick(n.id, static_cast<int64_t>(step_) * kTickUnits + kTickUnits +
                            static_cast<int64_t>(rng_.below(kTickUnits)));
    SIM_TRACE("start node " + std::to_string(n.id) + " term " + std::to_string(n.node->term()) +
              " commit " + std::to_string(n.mem_commit) + " snap " +
              std::to_string(n.disk.snapshot_meta().index));
  }

  void crash(SimNode& n, const char* where) {
    SIM_TRACE("crash node " + std::to_string(n.id) + " (" + where + ")");
    n.running = false;
    n.node.reset();
    n.in_flight.reset();
    n.reads.clear();
    n.restart_at = step_ + 2 + static_cast<int>(rng_.below(rng_.chance(0.5) ? 10 : 80));
  }

  void schedule_tick(NodeId id, int64_t at) { queue_.push(new Event{at, seq_++, true, id, {}}); }

  // ---------------------------------------------------------- faults

  bool is_member_of_leader_conf(NodeId id) {
    SimNode* l = leader();
    if (!l) return id <= static_cast<NodeId>(opt_.nodes);
    return raft::is_member(l->node->conf_state(), id);
  }

  void inject_faults() {
    for (int i = 1; i <= total_ids_; ++i) {
      SimNode& n = nodes_[i];
      if (n.running && rng_.chance(crash_p_)) crash(n, "random");
      if (!n.running && n.started_once && n.restart_at >= 0 && step_ >= n.restart_at) start(n);
    }
    if (SimNode* l = leader(); l && rng_.chance(leader_crash_p_)) crash(*l, "leader");
    for (auto it = crash_at_.begin(); it != crash_at_.end();) {
      SimNode& n = nodes_[it->first];
      if (step_ >= it->second) {
        if (n.running && n.node->role() == Role::kLeader) crash(n, "fresh leader");
        it = crash_at_.erase(it);
      } else {
        ++it;
      }
    }
    if (rng_.chance(partition_p_)) {
      blocked_.clear();
      int kind = static_cast<int>(rng_.below(3));
      std::ostringstream desc;
      if (kind == 0) {  // symmetric split into two groups
        std::vector<int> side(total_ids_ + 1);
        for (int i = 1; i <= total_ids_; ++i)
          side[i] = static_cast<int>(rng_.below(2));
        for (int a = 1; a <= total_ids_; ++a)
          for (int b = 1; b <= total_ids_; ++b)
            if (side[a] != side[b]) blocked_.insert({a, b});
        desc << "split";
        for (int i = 1; i <= total_ids_; ++i)
          desc << ' ' << i << ":" << side[i];
      } else if (kind == 1) {  // isolate one node, maybe one way only
        NodeId x = 1 + rng_.below(total_ids_);
        int dir = static_cast<int>(rng_.below(3));  // 0 both, 1 outgoing, 2 incoming
        for (int b = 1; b <= total_ids_; ++b) {
          if (static_cast<NodeId>(b) == x) continue;
          if (dir != 2) blocked_.insert({x, static_cast<NodeId>(b)});
          if (dir != 1) blocked_.insert({static_cast<NodeId>(b), x});
        }
        desc << "isolate " << x << " dir " << dir;
      } else {  // random one-way links
        desc << "links";
        for (int a = 1; a <= total_ids_; ++a)
          for (int b = 1; b <= total_ids_; ++b)
            if (a != b && rng_.chance(0.3)) {
              blocked_.insert({a, b});
              desc << ' ' << a << ">" << b;
            }
      }
      partition_heal_at_ = step_ + 10 + static_cast<int>(rng_.below(150));
      SIM_TRACE("partition " + desc.str());
    }
    if (!blocked_.empty() && step_ >= partition_heal_at_) {
      blocked_.clear();
      SIM_TRACE("partition healed");
    }
    // Membership changes and leadership transfers through the leader.
    SimNode* l = leader();
    if (l && rng_.chance(0.004)) propose_conf_change(*l);
    if (l && rng_.chance(0.003)) {
      const ConfState& conf = l->node->conf_state();
      NodeId target = conf.voters[rng_.below(conf.voters.size())];
      auto st = l->node->transfer_leader(target);
      SIM_TRACE("transfer_leader " + std::to_string(l->id) + " -> " + std::to_string(target) +
                ": " + raft::to_string(st));
      process_ready(*l);
    }
    // Snapshots at random points.
    for (int i = 1; i <= total_ids_; ++i) {
      SimNode& n = nodes_[i];
      if (n.running && rng_.chance(0.01)) take_snapshot(n);
    }
  }

  void propose_conf_change(SimNode& l) {
    const ConfState& conf = l.node->conf_state();
    int choice = static_cast<int>(rng_.below(4));
    ConfChange cc;
    if (choice == 0) {  // add a fresh spare as learner
      NodeId spare = 0;
      for (int i = opt_.nodes + 1; i <= total_ids_; ++i) {
        if (!nodes_[i].started_once && !used_ids_.count(i)) {
          spare = static_cast<NodeId>(i);
          break;
        }
      }
      if (!spare) return;
      cc = {ConfChangeType::kAddLearner, spare};
    } else if (choice == 1) {  // promote a learner
      if (conf.learners.empty()) return;
      cc = {ConfChangeType::kAddNode, conf.learners[rng_.below(conf.learners.size())]};
    } else if (choice == 3) {  // demote a voter to learner (keep at least 2 voters)
      if (conf.voters.size() <= 2) return;
      cc = {ConfChangeType::kAddLearner, conf.voters[rng_.below(conf.voters.size())]};
    } else {  // remove a voter (keep at least 2) or a learner
      std::vector<NodeId> members = conf.learners;
      if (conf.voters.size() > 2)
        members.insert(members.end(), conf.voters.begin(), conf.voters.end());
      if (members.empty()) return;
      cc = {ConfChangeType::kRemoveNode, members[rng_.below(members.size())]};
    }
    auto res = l.node->propose_conf_change(cc);
    SIM_TRACE("conf change " + std::to_string(static_cast<int>(cc.type)) + " node " +
              std::to_string(cc.node) + " at leader " + std::to_string(l.id) + ": " +
              raft::to_string(res.status));
    if (res.status == raft::Status::kOk) {
      used_ids_.insert(cc.node);
      if (cc.type == ConfChangeType::kAddLearner && !nodes_[cc.node].started_once) {
        // The new node starts with an empty disk and learns everything from
        // the leader (entries or a snapshot).
        start(nodes_[cc.node]);
      }
    }
    process_ready(l);
  }

  void take_snapshot(SimNode& n) {
    Index applied = n.sm.applied;
    if (applied <= n.disk.snapshot_meta().index) return;
    // Only a prefix the disk holds as the log has it: a slow disk write may
    // still be replacing a conflicting suffix there (RaftLog::persisted_last).
    if (applied > n.node->log().persisted_last()) return;
    SnapshotMeta meta;
    meta.index = applied;
    meta.term = *n.disk.term(applied);
    meta.conf = n.node->conf_state_at(applied);
    n.disk.create_snapshot(meta, n.sm.serialize());
    SIM_TRACE("snapshot node " + std::to_string(n.id) + " at " + std::to_string(applied));
  }

  void heal() {
    blocked_.clear();
    drop_p_ = 0;
    dup_p_ = 0;
    crash_in_ready_p_ = 0;
    max_delay_ = std::min(max_delay_, 5);  // delays beyond a tick reorder a lot
    for (int i = 1; i <= total_ids_; ++i) {
      SimNode& n = nodes_[i];
      if (!n.running && n.started_once) start(n);
    }
    SIM_TRACE("heal: network repaired, every node restarted");
  }

  // ---------------------------------------------------------- clients

  SimNode* leader() {
    SimNode* best = nullptr;
    for (int i = 1; i <= total_ids_; ++i) {
      SimNode& n = nodes_[i];
      if (n.running && n.node->role() == Role::kLeader &&
          (!best || n.node->term() > best->node->term())) {
        best = &n;
      }
    }
    return best;
  }

  void client_actions() {
    // After the heal only the liveness marker is written, so the bound
    // measures recovery, not the backlog of a write-heavy profile.
    if (step_ < heal_step_ && rng_.chance(write_p_)) {
      if (SimNode* l = leader()) {
        std::string data = "w" + std::to_string(++writes_);
        auto res = l->node->propose(data);
        SIM_TRACE("propose " + data + " at " + std::to_string(l->id) + ": " +
                  raft::to_string(res.status) + " index " + std::to_string(res.index));
        process_ready(*l);
      }
    }
    if (rng_.chance(0.2)) {
      SimNode& n = nodes_[1 + rng_.below(total_ids_)];
      if (n.running) {
        PendingRead r;
        r.context = "r" + std::to_string(++reads_);
        // Linearizability floor: every write completed (applied anywhere)
        // and every value some completed read observed.
        r.floor = std::max(max_completed_write_, max_observed_read_);
        auto st = n.node->read_index(r.context);
        SIM_TRACE("read_index " + r.context + " at " + std::to_string(n.id) + " floor " +
                  std::to_string(r.floor) + ": " + raft::to_string(st));
        if (st == raft::Status::kOk) n.reads.push_back(r);
        process_ready(n);
      }
    }
  }

  // ---------------------------------------------------------- events

  void handle_tick(NodeId id) {
    SimNode& n = nodes_[id];
    if (!n.running) return;  // a restarted node schedules its own ticks
    schedule_tick(id, now_ + kTickUnits);
    n.node->tick();
    if (n.in_flight && disk_rng_.chance(0.5)) {
      Ready rd = std::move(*n.in_flight);
      n.in_flight.reset();
      finish_ready(n, rd);
    }
    process_ready(n);
  }

  void deliver(const Message& m) {
    if (blocked_.count({m.from, m.to})) {
      SIM_TRACE("partitioned " + raft::describe(m));
      return;
    }
    SimNode& n = nodes_[m.to];
    if (!n.running) {
      SIM_TRACE("recipient down " + raft::describe(m));
      return;
    }
    SIM_TRACE("deliver " + raft::describe(m));
    n.node->step(m);
    process_ready(n);
  }

  void send(const Message& m) {
    if (m.to == 0 || m.to > static_cast<NodeId>(total_ids_))
      fail("message to unknown node: " + raft::describe(m));
    if (rng_.chance(drop_p_)) {
      SIM_TRACE("drop " + raft::describe(m));
      return;
    }
    int copies = rng_.chance(dup_p_) ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      int64_t at = now_ + 1 + static_cast<int64_t>(rng_.below(max_delay_));
      queue_.push(new Event{at, seq_++, false, 0, m});
    }
  }

  // The host side of the Ready protocol (raft/node.h, steps a-e), with
  // crashes at the two interesting points. With a slow disk a Ready that
  // has entries to write stays in progress (SimNode::in_flight): its
  // committed entries, durable already, are applied at once, as the server
  // does, and until a later tick completes the write the node only sends
  // its early messages and applies the entries that commit meanwhile.
  void process_ready(SimNode& n) {
    while (n.running && !n.in_flight && n.node->has_ready()) {
      Ready rd = n.node->ready();
      if (rd.soft_state) on_soft_state(n, *rd.soft_state);
      for (const Message& m : rd.early_messages)
        send(m);
      if (rng_.chance(crash_in_ready_p_)) {
        crash(n, "before persisting a Ready");
        return;
      }
      if (!rd.entries.empty() && !rd.snapshot && rd.snapshot_chunks.empty() &&
          disk_rng_.chance(async_disk_p_)) {
        for (const Entry& e : rd.committed_entries)
          apply(n, e);
        rd.committed_entries.clear();
        n.in_flight = std::move(rd);
        SIM_TRACE("node " + std::to_string(n.id) + " disk write in progress");
        break;
      }
      finish_ready(n, rd);
    }
    if (n.running && n.in_flight) {
      for (const Message& m : n.node->take_early_messages())
        send(m);
      for (const Entry& e : n.node->take_committed_entries())
        apply(n, e);
      serve_reads(n);
      check_node(n);
    }
  }

  // Steps b-e of a Ready: persist, send, apply, advance.
  void finish_ready(SimNode& n, Ready& rd) {
    raft::Node& node = *n.node;
    for (const raft::SnapshotChunk& c : rd.snapshot_chunks) {
      n.disk.write_snapshot_chunk(c.meta, c.offset, c.data);
    }
    if (rd.snapshot) {
      n.disk.install_received_snapshot(*rd.snapshot);
      n.sm = StateMachine::parse(n.disk.snapshot_data());
      check_snapshot_state(n, *rd.snapshot);
      SIM_TRACE("node " + std::to_string(n.id) + " installed snapshot " +
                std::to_string(rd.snapshot->index));
    }
    if (!rd.entries.empty()) {
      check_log_matching(n, rd.entries);
      n.disk.append(rd.entries);
    }
    if (rd.hard_state) n.disk.set_hard_state(*rd.hard_state);
    check_disk(n);
    if (rng_.chance(crash_in_ready_p_)) {
      crash(n, "after persisting, before sending");
      return;
    }
    for (const Message& m : rd.messages)
      send(m);
    for (const Entry& e : rd.committed_entries)
      apply(n, e);
    for (const raft::ReadState& rs : rd.read_states) {
      for (PendingRead& r : n.reads) {
        if (r.context == rs.context) {
          r.read_index = rs.index;
          r.have_index = true;
        }
      }
    }
    node.advance(rd);
    serve_reads(n);
    check_node(n);
  }

  void apply(SimNode& n, const Entry& e) {
    if (e.index != n.sm.applied + 1) {
      fail("node " + std::to_string(n.id) + " applies index " + std::to_string(e.index) +
           " after " + std::to_string(n.sm.applied));
    }
    n.sm.apply(e);
    // State machine safety: the same entry at an index on every node.
    if (applied_hash_.size() <= e.index) applied_hash_.resize(e.index + 1, 0);
    if (applied_hash_[e.index] == 0) {
      applied_hash_[e.index] = n.sm.hash;
      if (e.type == EntryType::kNormal && !e.data.empty()) {
        max_completed_write_ = std::max(max_completed_write_, e.index);
      }
      if (e.data == marker_) marker_index_ = e.index;
    } else if (applied_hash_[e.index] != n.sm.hash) {
      fail("state machine safety: node " + std::to_string(n.id) +
           " applied a different history at index " + std::to_string(e.index) + " (entry term " +
           std::to_string(e.term) + " data '" + e.data.str() + "')");
    }
  }

  void serve_reads(SimNode& n) {
    for (auto it = n.reads.begin(); it != n.reads.end();) {
      if (it->have_index && n.sm.applied >= it->read_index) {
        Index seen = n.sm.last_write;
        SIM_TRACE("read " + it->context + " at " + std::to_string(n.id) + " index " +
                  std::to_string(it->read_index) + " sees write " + std::to_string(seen));
        if (seen < it->floor) {
          fail("linearizability: read " + it->context + " on node " + std::to_string(n.id) +
               " saw write " + std::to_string(seen) + " but write/read " +
               std::to_string(it->floor) + " completed before it was issued (read index " +
               std::to_string(it->read_index) + ")");
        }
        max_observed_read_ = std::max(max_observed_read_, seen);
        it = n.reads.erase(it);
      } else {
        ++it;
      }
    }
  }

  // ---------------------------------------------------------- checks

  void on_soft_state(SimNode& n, const raft::SoftState& ss) {
    SIM_TRACE("node " + std::to_string(n.id) + " is " + raft::to_string(ss.role) + " term " +
              std::to_string(n.node->term()) + " leader " + std::to_string(ss.leader));
    if (ss.role != Role::kLeader) return;
    if (step_ < heal_step_ && rng_.chance(fresh_leader_crash_p_)) {
      crash_at_[n.id] = step_ + 1 + static_cast<int>(rng_.below(4));
    }
    Term t = n.node->term();
    auto [it, inserted] = leaders_.emplace(t, n.id);
    if (!inserted && it->second != n.id) {
      fail("election safety: nodes " + std::to_string(it->second) + " and " + std::to_string(n.id) +
           " both leader in term " + std::to_string(t));
    }
    // Leader completeness: every committed entry is in the new leader's log.
    const raft::RaftLog& log = n.node->log();
    Index first = log.first_index();
    for (Index i = first > 0 ? first - 1 : 0; i <= global_commit_ && i < committed_term_.size();
         ++i) {
      if (i == 0 || committed_term_[i] == 0) continue;
      auto term = log.term(i);
      if (term != committed_term_[i]) {
        fail("leader completeness: leader " + std::to_string(n.id) + " term " + std::to_string(t) +
             " has term " + (term ? std::to_string(*term) : std::string("none")) + " at index " +
             std::to_string(i) + " where term " + std::to_string(committed_term_[i]) +
             " was committed");
      }
    }
  }

  void check_log_matching(SimNode& n, const std::vector<Entry>& ents) {
    const raft::RaftLog& log = n.node->log();
    for (const Entry& e : ents) {
      auto prev = e.index > 1 ? log.term(e.index - 1) : std::optional<Term>(0);
      uint64_t h = hash_bytes(e.data) ^ static_cast<uint64_t>(e.type);
      auto key = std::make_pair(e.index, e.term);
      auto it = entries_seen_.find(key);
      if (it == entries_seen_.end()) {
        entries_seen_.emplace(key, std::make_pair(prev.value_or(~0ULL), h));
        continue;
      }
      if (it->second.second != h ||
          (prev && it->second.first != ~0ULL && it->second.first != *prev)) {
        fail("log matching: node " + std::to_string(n.id) + " entry " + std::to_string(e.index) +
             "/t" + std::to_string(e.term) + " differs from another log's (prev term " +
             std::to_string(prev.value_or(0)) + " vs " + std::to_string(it->second.first) + ")");
      }
    }
  }

  void check_snapshot_state(SimNode& n, const SnapshotMeta& meta) {
    if (n.sm.applied != meta.index) {
      fail("snapshot of node " + std::to_string(n.id) + " at " + std::to_string(meta.index) +
           " holds state applied to " + std::to_string(n.sm.applied));
    }
    if (applied_hash_.size() > meta.index && applied_hash_[meta.index] != 0 &&
        applied_hash_[meta.index] != n.sm.hash) {
      fail("state machine safety: snapshot at " + std::to_string(meta.index) + " on node " +
           std::to_string(n.id) + " differs from the applied history");
    }
  }

  void check_disk(SimNode& n) {
    const raft::MemoryStorage& d = n.disk;
    raft::HardState hs = d.hard_state();
    SnapshotMeta snap = d.snapshot_meta();
    std::string who = "node " + std::to_string(n.id) + " disk: ";
    if (hs.term < n.disk_term)
      fail(who + "persisted term went back " + std::to_string(n.disk_term) + " -> " +
           std::to_string(hs.term));
    if (hs.commit < n.disk_commit)
      fail(who + "persisted commit went back " + std::to_string(n.disk_commit) + " -> " +
           std::to_string(hs.commit));
    if (snap.index < n.disk_snap)
      fail(who + "snapshot index went back " + std::to_string(n.disk_snap) + " -> " +
           std::to_string(snap.index));
    if (hs.commit > d.last_index())
      fail(who + "commit " + std::to_string(hs.commit) + " beyond persisted log end " +
           std::to_string(d.last_index()));
    if (d.term(snap.index) != snap.term || d.first_index() != snap.index + 1)
      fail(who + "gap between snapshot and log");
    n.disk_term = hs.term;
    n.disk_commit = hs.commit;
    n.disk_snap = snap.index;
  }

  void check_node(SimNode& n) {
    const raft::Node& node = *n.node;
    const raft::RaftLog& log = node.log();
    std::string who = "node " + std::to_string(n.id) + ": ";
    if (node.term() < n.mem_term) fail(who + "term went back");
    if (log.committed() < n.mem_commit) fail(who + "commit went back");
    if (!(log.applied() <= log.committed() && log.committed() <= log.last_index())) {
      fail(who + "applied " + std::to_string(log.applied()) + " commit " +
           std::to_string(log.committed()) + " last " + std::to_string(log.last_index()));
    }
    if (log.first_index() - 1 > log.committed()) fail(who + "log starts after commit");
    // While a Ready's write is in progress its committed entries are
    // applied already, but the core counts them only from advance().
    if (n.in_flight ? n.sm.applied < log.applied() : n.sm.applied != log.applied())
      fail(who + "state machine applied " + std::to_string(n.sm.applied) + " != core applied " +
           std::to_string(log.applied()));
    n.mem_term = node.term();
    n.mem_commit = log.committed();
    // Newly committed indices: identical everywhere, and (when this node is
    // the first to know) durable on a quorum of the voters it counts.
    Index c = log.committed();
    if (c > n.seen_commit) {
      Index from = std::max(n.seen_commit + 1, log.first_index() > 0 ? log.first_index() - 1 : 0);
      for (Index i = std::max<Index>(from, 1); i <= c; ++i) {
        auto t = log.term(i);
        if (!t) continue;
        if (committed_term_.size() <= i) committed_term_.resize(i + 1, 0);
        if (committed_term_[i] == 0) {
          committed_term_[i] = *t;
          global_commit_ = std::max(global_commit_, i);
          if (node.role() == Role::kLeader) check_durable_quorum(n, i, *t);
        } else if (committed_term_[i] != *t) {
          fail(who + "committed term " + std::to_string(*t) + " at index " + std::to_string(i) +
               " but term " + std::to_string(committed_term_[i]) + " was committed there before");
        }
      }
      n.seen_commit = c;
    }
  }

  void check_durable_quorum(SimNode& l, Index i, Term t) {
    const ConfState& conf = l.node->conf_state();
    size_t durable = 0;
    for (NodeId v : conf.voters) {
      const raft::MemoryStorage& d = nodes_[v].disk;
      if (d.snapshot_meta().index >= i || d.term(i) == t) ++durable;
    }
    if (durable < raft::quorum_size(conf.voters.size())) {
      fail("committed entry " + std::to_string(i) + "/t" + std::to_string(t) + " durable on only " +
           std::to_string(durable) + " of " + std::to_string(conf.voters.size()) + " voters");
    }
  }

  void check_step() {
    for (int i = 1; i <= total_ids_; ++i) {
      SimNode& n = nodes_[i];
      if (!n.running || n.node->role() != Role::kLeader) continue;
      const raft::Node& node = *n.node;
      // At most one membership change pending (uncommitted) at the leader.
      const raft::RaftLog& log = node.log();
      if (log.last_index() - log.committed() < 2000) {
        auto tail = log.slice(log.committed() + 1, log.last_index() + 1, ~0ULL);
        int pending = 0;
        if (tail) {
          for (const Entry& e : *tail)
            pending += e.type == EntryType::kConfChange;
        }
        if (pending > 1)
          fail("leader " + std::to_string(n.id) + " has " + std::to_string(pending) +
               " uncommitted membership changes");
      }
      // In-flight limits.
      for (const auto& [id, pr] : node.progress()) {
        if (pr.inflights.count() > node.config().max_inflight) {
          fail("leader " + std::to_string(n.id) + " has " + std::to_string(pr.inflights.count()) +
               " appends in flight to " + std::to_string(id));
        }
        uint64_t window =
            node.config().snapshot_chunk_bytes * node.config().max_inflight_snapshot_chunks;
        if (pr.state == raft::ProgressState::kSnapshot && pr.snap_sent - pr.snap_acked > window) {
          fail("leader " + std::to_string(n.id) + " has too many snapshot bytes in flight to " +
               std::to_string(id));
        }
      }
    }
  }

  void check_liveness() {
    if (live_ok_) return;
    SimNode* l = leader();
    if (!l) return;
    if (marker_.empty() || marker_term_ != l->node->term()) {
      // A fresh entry proposed after the heal must reach every voter.
      std::string m = "marker" + std::to_string(step_);
      auto res = l->node->propose(m);
      if (res.status == raft::Status::kOk) {
        marker_ = m;
        marker_term_ = l->node->term();
        marker_index_ = 0;
        SIM_TRACE("liveness marker proposed at " + std::to_string(l->id));
      }
      process_ready(*l);
      return;
    }
    if (marker_index_ == 0) return;
    for (NodeId v : l->node->conf_state().voters) {
      SimNode& n = nodes_[v];
      if (!n.running || n.sm.applied < marker_index_) return;
    }
    live_ok_ = true;
    SIM_TRACE("liveness: marker applied on every voter");
  }

  SimOptions opt_;
  Rng rng_;
  Rng disk_rng_;  // slow-disk decisions only (see the constructor)
  double async_disk_p_ = 0;
  double drop_p_, dup_p_, crash_p_, crash_in_ready_p_, partition_p_, leader_crash_p_;
  uint64_t max_msg_bytes_;
  // A new leader crashes within a few steps of its election with this
  // probability: leaves the partially replicated histories of Figure 8.
  double fresh_leader_crash_p_;
  std::map<NodeId, int> crash_at_;
  int max_delay_;
  bool lease_reads_, check_quorum_, pre_vote_;
  double write_p_;
  int total_ids_;
  std::vector<SimNode> nodes_;
  std::priority_queue<Event*, std::vector<Event*>, EventLater> queue_;
  uint64_t seq_ = 0;
  int64_t now_ = 0;
  int step_ = 0;
  uint64_t events_ = 0;
  uint64_t restarts_ = 0;
  int heal_step_ = 0;
  std::set<std::pair<NodeId, NodeId>> blocked_;
  int partition_heal_at_ = 0;
  std::set<NodeId> used_ids_;
  uint64_t writes_ = 0, reads_ = 0;
  // Global knowledge for the invariants.
  std::map<Term, NodeId> leaders_;
  std::vector<Term> committed_term_;  // by index, 0 = not known committed
  Index global_commit_ = 0;
  std::vector<uint64_t> applied_hash_;  // state hash after applying index i
  std::map<std::pair<Index, Term>, std::pair<Term, uint64_t>> entries_seen_;
  Index max_completed_write_ = 0;
  Index max_observed_read_ = 0;
  std::string marker_;
  Term marker_term_ = 0;
  Index marker_index_ = 0;
  bool live_ok_ = false;
};

}  // namespace

SimResult run_simulation(const SimOptions& options) {
  Simulation sim(options);
  return sim.run();
}

}  // namespace kvraft::sim
