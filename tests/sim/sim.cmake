# tests/sim/sim.cmake — the Raft simulator (kvraft-sim) and its ctest runs.
#
# Tests (label "sim"):
#   sim/nodes3, sim/nodes5   KVRAFT_SIM_SEEDS seeds x 2000 steps each; must
#                            report no violation.
#   sim/mutation-*           the simulator with one protocol rule broken on
#                            purpose (raft::TestMutations); it must report a
#                            violation within KVRAFT_SIM_MUTATION_SEEDS seeds
#                            (it stops at the first one).
# Under ASan/UBSan (KVRAFT_SANITIZE=ON) the instrumented Debug build is ~25x
# slower, so the default seed count drops to 100 and the commit-prior-term
# mutation, which the simulator first catches at seed 2821 (3 nodes; 850
# before ReadIndex heartbeat rounds were coalesced, which reshuffled the
# histories), runs only in the optimised build, with three times the
# mutation seed budget. Override with -DKVRAFT_SIM_SEEDS=N.
add_executable(kvraft-sim ${CMAKE_SOURCE_DIR}/tests/sim/main.cc ${CMAKE_SOURCE_DIR}/tests/sim/sim.cc)
target_link_libraries(kvraft-sim PRIVATE kvraft_raft)

if(KVRAFT_SANITIZE)
  set(_kvraft_sim_default_seeds 100)
else()
  set(_kvraft_sim_default_seeds 2000)
endif()
set(KVRAFT_SIM_SEEDS ${_kvraft_sim_default_seeds} CACHE STRING "seeds per simulator ctest run")
set(KVRAFT_SIM_MUTATION_SEEDS 2000 CACHE STRING "seed budget within which a mutation must be caught")

foreach(n 3 5)
  add_test(NAME sim/nodes${n}
           COMMAND kvraft-sim --nodes ${n} --seeds ${KVRAFT_SIM_SEEDS} --steps 2000)
  set_tests_properties(sim/nodes${n} PROPERTIES LABELS "sim" TIMEOUT 1800)
endforeach()

# mutation:node count, the cluster size in which the simulator finds the bug
# soonest (Figure 8 histories, for one, are likelier with 3 voters).
set(_kvraft_sim_mutations forget-vote:5 skip-up-to-date:3 stale-read:3)
if(NOT KVRAFT_SANITIZE)
  list(APPEND _kvraft_sim_mutations commit-prior-term:3)
endif()
foreach(spec ${_kvraft_sim_mutations})
  string(REPLACE ":" ";" parts ${spec})
  list(GET parts 0 mutation)
  list(GET parts 1 n)
  set(budget ${KVRAFT_SIM_MUTATION_SEEDS})
  if(mutation STREQUAL "commit-prior-term")
    math(EXPR budget "${budget} * 3")
  endif()
  add_test(NAME sim/mutation-${mutation}
           COMMAND kvraft-sim --nodes ${n} --seeds ${budget} --steps 2000
                   --mutation ${mutation} --expect-violation)
  set_tests_properties(sim/mutation-${mutation} PROPERTIES LABELS "sim" TIMEOUT 1800)
endforeach()
