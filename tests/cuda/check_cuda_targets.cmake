# CTest check (cmake -P): fails when the build was configured with the CUDA backend but one of its
# artifacts is missing, i.e. nvcc was found and the CUDA targets did not build. FILES is a
# "|"-separated list of the expected artifacts.
string(REPLACE "|" ";" files "${FILES}")
set(missing "")
foreach(f IN LISTS files)
  if(NOT EXISTS "${f}")
    list(APPEND missing "${f}")
  endif()
endforeach()
if(missing)
  message(FATAL_ERROR "CUDA backend enabled (nvcc found) but these CUDA targets were not built: ${missing}")
endif()
message(STATUS "all CUDA targets built: ${files}")
