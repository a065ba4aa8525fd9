// src/replication_acl.cc — the aclfile at the bootstrap of a brand-new
// cluster.
//
// Redis loads its aclfile at every start. Here the replicated state (Raft
// log + snapshot) is the source of truth for the users: loading a node's
// own file at every restart would make that node's users differ from its
// peers' until the next ACL change. So the file is read only when this node
// bootstraps a brand-new cluster (no Raft state, no `join`), like
// import-rdb: its users become the cluster's first snapshot, right after
// the bootstrap entries, so every initial member starts with them (each
// initial member must have the same file, as with import-rdb) and later
// members get them by InstallSnapshot. Afterwards ACL LOAD is how a file
// reaches the cluster: one replicated write.
#include "src/acl.h"
#include "src/acl_file.h"
#include "src/config.h"
#include "src/log.h"
#include "src/replication.h"
#include "src/server.h"

namespace kvraft {

bool Replication::read_bootstrap_aclfile(std::string* users, std::string* error) const {
  if (!config_.import_rdb.empty()) {
    // Both would be the initial snapshot at the same index.
    *error =
        "aclfile and import-rdb cannot both seed a new cluster: start with import-rdb, then run "
        "ACL LOAD";
    return false;
  }
  if (std::string err = load_acl_file(config_.aclfile, users); !err.empty()) {
    *error = "Aborting startup because of ACL errors: " + err;
    return false;
  }
  return true;
}

bool Replication::bootstrap_aclfile(const std::vector<raft::NodeId>& voters,
                                    const std::string& users, std::string* error) {
  try {
    server_.acl().restore(users);
    std::string err = write_initial_snapshot(voters, server_.keyspace(), server_.acl().serialize());
    if (!err.empty()) {
      *error = "aclfile: " + err;
      return false;
    }
  } catch (const std::exception& e) {
    *error = "aclfile " + config_.aclfile + ": " + e.what();
    return false;
  }
  KV_LOG_NOTICE("Loaded %zu ACL user(s) from %s as the new cluster's initial users",
                server_.acl().users().size(), config_.aclfile.c_str());
  return true;
}

}  // namespace kvraft
