# NAME
#   fixture_tests.cmake - ctest registration of a fixture script's cases
# SUMMARY
#   include(${PROJECT_SOURCE_DIR}/tests/lib/fixture_tests.cmake)
#   mtep_add_fixture_tests(SCRIPT s.sh FIXTURE name STATE file LABEL label
#                          START_TEST name STOP_TEST name CASE_PREFIX prefix
#                          [START_TIMEOUT seconds])
# DESCRIPTION
#   For a script that follows tests/lib/mail-test.sh's mt_main (`SCRIPT
#   start|stop|CASE BUILD_DIR STATE_FILE`, `SCRIPT list`), registers:
#     START_TEST          `start`, FIXTURES_SETUP FIXTURE (TIMEOUT START_TIMEOUT,
#                         default 120)
#     STOP_TEST           `stop`, FIXTURES_CLEANUP FIXTURE (TIMEOUT 60)
#     CASE_PREFIX<case>   one test per name `SCRIPT list` prints, FIXTURES_REQUIRED
#                         FIXTURE (TIMEOUT 90)
#   all with LABELS LABEL, SKIP_RETURN_CODE 77 and RESOURCE_LOCK FIXTURE (one
#   at a time: they share the running daemons). STATE is the state file's
#   name in the current binary directory. The case list is read at configure
#   time; editing the script reconfigures.

function(mtep_add_fixture_tests)
  cmake_parse_arguments(PARSE_ARGV 0 arg ""
                        "SCRIPT;FIXTURE;STATE;LABEL;START_TEST;STOP_TEST;CASE_PREFIX;START_TIMEOUT" "")
  foreach(key SCRIPT FIXTURE STATE LABEL START_TEST STOP_TEST CASE_PREFIX)
    if(NOT arg_${key})
      message(FATAL_ERROR "mtep_add_fixture_tests: ${key} is required")
    endif()
  endforeach()
  if(NOT arg_START_TIMEOUT)
    set(arg_START_TIMEOUT 120)
  endif()
  find_program(MTEP_BASH bash REQUIRED)
  set(args ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/${arg_STATE})
  set(props LABELS ${arg_LABEL} SKIP_RETURN_CODE 77 RESOURCE_LOCK ${arg_FIXTURE})

  add_test(NAME ${arg_START_TEST} COMMAND ${MTEP_BASH} ${arg_SCRIPT} start ${args})
  set_tests_properties(${arg_START_TEST} PROPERTIES ${props}
                       FIXTURES_SETUP ${arg_FIXTURE} TIMEOUT ${arg_START_TIMEOUT})
  add_test(NAME ${arg_STOP_TEST} COMMAND ${MTEP_BASH} ${arg_SCRIPT} stop ${args})
  set_tests_properties(${arg_STOP_TEST} PROPERTIES ${props}
                       FIXTURES_CLEANUP ${arg_FIXTURE} TIMEOUT 60)

  execute_process(COMMAND ${MTEP_BASH} ${arg_SCRIPT} list
                  OUTPUT_VARIABLE cases OUTPUT_STRIP_TRAILING_WHITESPACE
                  COMMAND_ERROR_IS_FATAL ANY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${arg_SCRIPT})
  string(REPLACE "\n" ";" cases "${cases}")
  foreach(case ${cases})
    add_test(NAME ${arg_CASE_PREFIX}${case} COMMAND ${MTEP_BASH} ${arg_SCRIPT} ${case} ${args})
    set_tests_properties(${arg_CASE_PREFIX}${case} PROPERTIES ${props}
                         FIXTURES_REQUIRED ${arg_FIXTURE} TIMEOUT 90)
  endforeach()
endfunction()
