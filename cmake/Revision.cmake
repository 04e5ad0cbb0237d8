# The git revision written next to every experiment's results (docs/development.md §3).
execute_process(COMMAND git describe --always --dirty --tags
                WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                OUTPUT_VARIABLE MUELAB_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET RESULT_VARIABLE _muelab_git_result)
if(NOT _muelab_git_result EQUAL 0 OR MUELAB_GIT_REVISION STREQUAL "")
  set(MUELAB_GIT_REVISION "unknown")
endif()
