# tests/fuzz/fuzz.cmake — fuzz targets.
#
# Each tests/fuzz/<module>_<name>_fuzz.cc defines LLVMFuzzerTestOneInput and
# is built two ways:
#   - always: <module>_<name>_corpus, which replays every file under
#     tests/fuzz/corpus/<module>_<name>/ through the target (a ctest test,
#     label "fuzz"), so the corpus guards against regressions in make test;
#   - with -DKVRAFT_FUZZ=ON and clang: <module>_<name>_fuzzer, a libFuzzer
#     binary (see scripts/fuzz).
# The module prefix (resp_, raft_, storage_, server_) picks the library to link.
file(GLOB FUZZ_TARGET_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/*_fuzz.cc)
foreach(src ${FUZZ_TARGET_SOURCES})
  get_filename_component(target_name ${src} NAME_WE)
  string(REGEX REPLACE "_fuzz$" "" name ${target_name})
  string(REGEX MATCH "^[a-z]+" module ${name})
  # server_* targets drive src/ code (the peer transport) and need its library.
  if(module STREQUAL "server" AND NOT KVRAFT_BUILD_SERVER)
    continue()
  endif()
  add_executable(${name}_corpus ${src} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.cc)
  target_link_libraries(${name}_corpus PRIVATE kvraft_${module})
  add_test(NAME fuzz-corpus/${name}
           COMMAND ${name}_corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
  set_tests_properties(fuzz-corpus/${name} PROPERTIES LABELS "unit;fuzz" TIMEOUT 600)
  if(KVRAFT_FUZZ)
    add_executable(${name}_fuzzer ${src})
    target_compile_options(${name}_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name}_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name}_fuzzer PRIVATE kvraft_${module})
  endif()
endforeach()
