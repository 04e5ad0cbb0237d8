#!/bin/sh
# The AVX-512 GEMM file (models/cpu/src/gemm_avx512.cpp) must define no weak (inline or template)
# symbol outside its renamed Eigen namespace: such a symbol could replace the baseline build of the same
# function elsewhere in the program and run AVX-512 code on a CPU without it.
# Usage: check_isolated_symbols.sh OBJECT_FILE... (the object of gemm_avx512.cpp is picked by name)
set -eu
object=""
for f in "$@"; do case "$f" in *gemm_avx512.cpp.o) object="$f" ;; esac; done
if [ -z "$object" ]; then echo "gemm_avx512.cpp.o is not among the objects (not an x86-64 build?): skipped"; exit 77; fi
leaks=$(nm -C "$object" | awk '$2 ~ /^[WVuvi]$/' | grep -v 'muelab_eigen_avx512' | grep -v 'DW.ref.__gxx_personality_v0' || true)
if [ -n "$leaks" ]; then
  echo "weak symbols outside muelab_eigen_avx512 in $object:"; echo "$leaks"; exit 1
fi
echo "$object: every weak symbol is in namespace muelab_eigen_avx512 ($(nm "$object" | awk '$2 ~ /^[WV]$/' | wc -l) weak symbols)"
