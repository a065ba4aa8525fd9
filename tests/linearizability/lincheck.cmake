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

add_executable(lincheck_test ${LINCHECK_DIR}/lincheck_test.cc $<TARGET_OBJECTS:kvraft_doctest_main>)
target_link_libraries(lincheck_test PRIVATE kvraft_lincheck doctest::doctest)
# The differential test instantiates the search here and runs it thousands of times.
target_compile_options(lincheck_test PRIVATE -O2)
target_compile_definitions(lincheck_test PRIVATE
  KVRAFT_SOURCE_DIR="${CMAKE_SOURCE_DIR}" KVRAFT_SHARED_DIR="${KVRAFT_SHARED_DIR}")
add_test(NAME lincheck/unit COMMAND lincheck_test --no-intro=true)
set_tests_properties(lincheck/unit PROPERTIES LABELS "unit;lincheck" TIMEOUT 600)

# The program over the reference histories, split by expected verdict as
# listed in expected_verdicts.tsv: every expected-linearizable file must be
# reported linearizable (exit 0), every other one NOT linearizable (no line
# may say linearizable, unknown or error).
set(LINCHECK_REFERENCE ${KVRAFT_SHARED_DIR}/linearizability)
if(EXISTS ${LINCHECK_REFERENCE}/expected_verdicts.tsv)
  file(STRINGS ${LINCHECK_REFERENCE}/expected_verdicts.tsv LINCHECK_ROWS)
  set(LINCHECK_OK_FILES)
  set(LINCHECK_BAD_FILES)
  foreach(row ${LINCHECK_ROWS})
    string(REPLACE "\t" ";" cols "${row}")
    list(GET cols 0 file)
    list(GET cols 1 verdict)
    if(verdict STREQUAL "linearizable")
      list(APPEND LINCHECK_OK_FILES ${LINCHECK_REFERENCE}/${file})
    elseif(verdict STREQUAL "NOT linearizable")
      list(APPEND LINCHECK_BAD_FILES ${LINCHECK_REFERENCE}/${file})
    endif()
  endforeach()
  add_test(NAME lincheck/reference-linearizable COMMAND kvraft-lincheck ${LINCHECK_OK_FILES})
  add_test(NAME lincheck/reference-violations COMMAND kvraft-lincheck -q ${LINCHECK_BAD_FILES})
  set_tests_properties(lincheck/reference-violations PROPERTIES
    PASS_REGULAR_EXPRESSION ": NOT linearizable \\("
    FAIL_REGULAR_EXPRESSION ": linearizable \\(|: unknown \\(|: error:")
  set_tests_properties(lincheck/reference-linearizable lincheck/reference-violations
    PROPERTIES LABELS "unit;lincheck" TIMEOUT 600)
endif()

# The documented examples: the README's history is linearizable, the stale
# read is not (exit status 1, explanation naming the key), the malformed one
# is an error naming the line.
add_test(NAME lincheck/example-readme
         COMMAND kvraft-lincheck ${LINCHECK_DIR}/examples/readme.history)
add_test(NAME lincheck/example-stale-read
         COMMAND kvraft-lincheck ${LINCHECK_DIR}/examples/stale_read.history)
set_tests_properties(lincheck/example-stale-read PROPERTIES
  PASS_REGULAR_EXPRESSION "NOT linearizable.*key \"x\".*impossible in this state")
add_test(NAME lincheck/example-malformed
         COMMAND kvraft-lincheck ${LINCHECK_DIR}/examples/malformed.history)
set_tests_properties(lincheck/example-malformed PROPERTIES
  PASS_REGULAR_EXPRESSION "malformed.history: error: line 3: unknown operation 'frob'")
set_tests_properties(lincheck/example-readme lincheck/example-stale-read lincheck/example-malformed
  PROPERTIES LABELS "unit;lincheck" TIMEOUT 60)
