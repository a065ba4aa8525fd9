# tests/faults/faults.cmake — the fault-injection harness (tests/faults/README.md).
#
#   kvraft-faults   program: one seeded run of clients + nemesis against a
#                   real cluster of kvraft-server processes, then the checks
# ctest (label "faults"): six seeds of 30 s each, one test per seed; one
# run against followers that serve stale reads, which must be caught; and a
# cleanup fixture that removes any fault rule a killed run left behind.
# Included at the end of the top-level CMakeLists.txt, after kvraft-server.
if(NOT TARGET kvraft-server OR NOT TARGET kvraft_lincheck)
  return()
endif()

set(FAULTS_DIR ${CMAKE_SOURCE_DIR}/tests/faults)
add_executable(kvraft-faults ${FAULTS_DIR}/faults_main.cc ${FAULTS_DIR}/cluster.cc
               ${FAULTS_DIR}/firewall.cc ${FAULTS_DIR}/nemesis.cc ${FAULTS_DIR}/workload.cc)
target_include_directories(kvraft-faults PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(kvraft-faults PRIVATE kvraft_lincheck PkgConfig::HIREDIS Threads::Threads)
target_compile_definitions(kvraft-faults PRIVATE
  KVRAFT_SERVER_BIN="$<TARGET_FILE:kvraft-server>")
add_dependencies(kvraft-faults kvraft-server)

set(KVRAFT_FAULTS_SEEDS 1 2 3 4 5 6 CACHE STRING "seeds `make test` runs the fault harness with")
set(KVRAFT_FAULTS_SECONDS 30 CACHE STRING "seconds of faults per seed in `make test`")
add_test(NAME faults/cleanup COMMAND ${FAULTS_DIR}/cleanup)
set_tests_properties(faults/cleanup PROPERTIES LABELS "faults" FIXTURES_CLEANUP faults TIMEOUT 60)
# One fault in KVRAFT_FAULTS_REPLACE_EVERY is a membership replacement
# (remove a voter, --join a fresh node): about one or two per 30 s seed,
# each about as long as another fault, so the runs keep their length.
set(KVRAFT_FAULTS_REPLACE_EVERY 6 CACHE STRING "one fault in N is a membership replacement in `make test` (0: none)")
foreach(seed ${KVRAFT_FAULTS_SEEDS})
  add_test(NAME faults/seed-${seed}
           COMMAND kvraft-faults --seed ${seed} --seconds ${KVRAFT_FAULTS_SECONDS}
                   --replace-every ${KVRAFT_FAULTS_REPLACE_EVERY})
  # The worker heals on SIGTERM; 300 s leaves room for a slow check on a
  # loaded machine. RUN_SERIAL: runs share nothing, but the machine's cores
  # are the clock every timing in a run depends on.
  set_tests_properties(faults/seed-${seed} PROPERTIES LABELS "faults" TIMEOUT 300
    RUN_SERIAL TRUE FIXTURES_REQUIRED faults)
endforeach()

# The harness must be able to fail: followers serving reads from their own
# state (read-consistency stale) are not linearizable, and the run must say so.
add_test(NAME faults/detects-stale-reads
         COMMAND kvraft-faults --seed 1 --seconds 15 --read-consistency stale --discard)
set_tests_properties(faults/detects-stale-reads PROPERTIES LABELS "faults" TIMEOUT 300
  RUN_SERIAL TRUE FIXTURES_REQUIRED faults
  PASS_REGULAR_EXPRESSION "verdict=NOT-linearizable.*result=FAIL")
