#!/bin/sh
# Usage: check_avx2_symbols.sh OBJECT... (all objects of qg_kernels; ctest passes them).
# Fails if an object under avx2/ (compiled with -mavx2 -mfma -mf16c) defines a weak or
# unique symbol: the linker keeps one copy of such a symbol for the whole program, and
# if it keeps the AVX2 one, baseline code would execute AVX2 instructions on CPUs that
# lack them. The C++ personality reference is data, not code, and is allowed.
status=0
for obj in "$@"; do
  case "$obj" in
    */avx2/*)
      bad=$(nm -C --defined-only "$obj" | grep -E ' [WVu] ' | grep -v 'DW.ref.__gxx_personality_v0')
      if [ -n "$bad" ]; then
        echo "$obj defines weak symbols compiled for AVX2:"
        echo "$bad"
        status=1
      fi
      ;;
  esac
done
exit $status
