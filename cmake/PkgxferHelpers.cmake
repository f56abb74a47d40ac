# pkgxfer_module(<name> SOURCES <src...> DEPS <targets...>)
# Declares the static library pkgxfer_<name> with the alias pkgxfer::<name>.
function(pkgxfer_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(pkgxfer_${name} STATIC ${ARG_SOURCES})
  add_library(pkgxfer::${name} ALIAS pkgxfer_${name})
  target_include_directories(pkgxfer_${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(pkgxfer_${name} PUBLIC pkgxfer_options ${ARG_DEPS})
endfunction()

# pkgxfer_test(<module> SOURCES <src...> DEPS <targets...>)
# One gtest executable per module, tests/<module> -> pkgxfer_<module>_test, discovered by ctest.
function(pkgxfer_test module)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  set(target pkgxfer_${module}_test)
  add_executable(${target} ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${target} PRIVATE ${ARG_DEPS} pkgxfer_testsupport GTest::gtest GTest::gmock
                        GTest::gtest_main)
  # The binaries' and sources' locations are compiled into pkgxfer_testsupport (test_util.cpp), as
  # gtest_discover_tests cannot pass a list of environment variables.
  gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endfunction()
