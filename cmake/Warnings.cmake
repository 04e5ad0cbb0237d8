# Project-wide warning and sanitizer flags, applied through an interface target so that
# third-party headers (included as SYSTEM) are not affected.
add_library(muelab_warnings INTERFACE)
target_compile_options(muelab_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough>)
# GCC 12 at -O3 reports -Wrestrict false positives inside libstdc++'s `"literal" + std::string&&`
# (GCC bug 105329); they are not our code's, so that one diagnostic is not made an error.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(muelab_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-error=restrict>)
endif()
if(MUELAB_WARNINGS_AS_ERRORS)
  target_compile_options(muelab_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()

if(MUELAB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# libFuzzer harnesses (tests/fuzz, docs/development.md "Fuzzing"): Clang only. Every library is built
# with coverage instrumentation for the fuzzer and with ASan + UBSan, so a memory error or undefined
# behaviour anywhere in a parser is a finding.
if(MUELAB_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "MUELAB_FUZZ needs Clang (libFuzzer): configure with the fuzz preset (CMAKE_CXX_COMPILER=clang++)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
