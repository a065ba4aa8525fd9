# tests/sim/sim.cmake — the Raft simulator (kvraft-sim) and its ctest runs.
#
# Tests (label "sim"):
#   sim/nodes3, sim/nodes5     KVRAFT_SIM_SEEDS seeds x 2000 steps each; must
#                              report no violation.
#   sim/mutation-*             the same simulator with one protocol rule broken
#                              on purpose (TestMutations); must report one.
# Under ASan/UBSan (KVRAFT_SANITIZE=ON) the default seed count is smaller,
# because the instrumented build is ~10x slower; override with
# -DKVRAFT_SIM_SEEDS=N.
add_executable(kvraft-sim ${CMAKE_SOURCE_DIR}/tests/sim/main.cc ${CMAKE_SOURCE_DIR}/tests/sim/sim.cc)
target_link_libraries(kvraft-sim PRIVATE kvraft_raft)

if(KVRAFT_SANITIZE)
  set(_kvraft_sim_default_seeds 200)
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

foreach(mutation commit-prior-term forget-vote skip-up-to-date stale-read)
  # Three nodes: with fewer voters the partial histories these bugs need
  # (Figure 8, double votes) arise in far fewer seeds.
  add_test(NAME sim/mutation-${mutation}
           COMMAND kvraft-sim --nodes 3 --seeds ${KVRAFT_SIM_MUTATION_SEEDS} --steps 2000
                   --mutation ${mutation} --expect-violation)
  set_tests_properties(sim/mutation-${mutation} PROPERTIES LABELS "sim" TIMEOUT 1800)
endforeach()
