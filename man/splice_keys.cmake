# Writes mtep.conf(5): the template with its @MTEP_KEYS@ line replaced by the
# output of "mtepctl config reference".
# cmake -DMTEPCTL=... -DTEMPLATE=... -DOUTPUT=... -P splice_keys.cmake
foreach(var MTEPCTL TEMPLATE OUTPUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "splice_keys.cmake: ${var} is not set")
  endif()
endforeach()

execute_process(COMMAND ${MTEPCTL} config reference
                OUTPUT_VARIABLE keys RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${MTEPCTL} config reference failed (${rc}): ${err}")
endif()
if(keys STREQUAL "")
  message(FATAL_ERROR "${MTEPCTL} config reference printed nothing")
endif()
if(NOT keys MATCHES "^\\.SH ")
  string(PREPEND keys ".SH KEYS\n")
endif()
if(NOT keys MATCHES "\n$")
  string(APPEND keys "\n")
endif()

file(READ ${TEMPLATE} page)
set(marker "\n@MTEP_KEYS@\n")
string(FIND "${page}" "${marker}" first)
string(FIND "${page}" "${marker}" last REVERSE)
if(first EQUAL -1 OR NOT first EQUAL last)
  message(FATAL_ERROR "${TEMPLATE}: needs exactly one line @MTEP_KEYS@")
endif()
# Drop the template's own comment lines about the marker.
string(REGEX REPLACE "^(\\.\\\\\"[^\n]*\n)+" "" page "${page}")
string(REPLACE "${marker}" "\n${keys}" page "${page}")
file(WRITE ${OUTPUT}.tmp "${page}")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
