# tests/linearizability/lincheck.cmake — the linearizability checker.
#
#   kvraft_lincheck   library: the generic checker (checker.h), the register
#                     and key-value models, the history parsers
#   kvraft-lincheck   program: kvraft-lincheck [-q] [--timeout S] FILE...
#   lincheck_test     doctest unit tests plus every reference history of
#                     ${KVRAFT_SHARED_DIR}/linearizability against its
#                     expected verdict
# ctest (labels "unit;lincheck"): the doctest binary, and the program over
# the expected-linearizable and the expected-violating reference histories.
set(LINCHECK_DIR ${CMAKE_SOURCE_DIR}/tests/linearizability)
add_library(kvraft_lincheck STATIC ${LINCHECK_DIR}/models.cc ${LINCHECK_DIR}/history.cc)
target_include_directories(kvraft_lincheck PUBLIC ${CMAKE_SOURCE_DIR})

add_executable(kvraft-lincheck ${LINCHECK_DIR}/lincheck_main.cc)
target_link_libraries(kvraft-lincheck PRIVATE kvraft_lincheck)
# The search is CPU-bound; -O0 makes the reference corpus ~10x slower in the
# Debug+sanitizer build. Optimise it there too (sanitizers stay on).
target_compile_options(kvraft_lincheck PRIVATE -O2)
