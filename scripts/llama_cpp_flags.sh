# llama.cpp CMake flags for this CPU, shared by scripts/install_llama_cpp.sh (the llama-cpp-python wheel)
# and scripts/build_llama_server.sh (llama.cpp's own llama-server), so that both are built the same way.
# Sourced, not run: it sets llama_cpp_python_version and cmake_args, and defines cpu_has, on_off and
# llama_cpp_key. An unknown GGML_BACKEND exits the sourcing script with status 2.
#
# Why explicit flags: on x86-64 the default (native) build turns on ggml's AMX kernels on CPUs that
# advertise AMX, and the first matrix multiply dies with SIGILL on our machines. We build with
# GGML_NATIVE=OFF and name, one by one, the instruction sets the CPU really has (never AMX): AVX, AVX2,
# FMA, F16C (and BMI2, SSE4.2) when present, the AVX-512 family when present. A CPU without AVX2 gets a
# build without it (slower, see README), never one that dies with SIGILL. macOS keeps the default build.
#
# Env:   GGML_BACKEND              cpu (default), cuda or vulkan: a GPU build (Linux; macOS always has Metal)
#        CMAKE_ARGS                your own llama.cpp CMake flags, appended last
#        NANOCOMPLETE_CPU_FLAGS    build for these /proc/cpuinfo flags instead of this CPU's, e.g.
#                                  "sse4_2 avx f16c" for a CPU without AVX2 (a subset of this CPU's
#                                  flags runs here too, which is how both builds are tested)

# The llama-cpp-python release whose vendored llama.cpp both builds use.
llama_cpp_python_version=0.3.36

if [ -n "${NANOCOMPLETE_CPU_FLAGS:-}" ]; then
  cpu_has() { [[ " $NANOCOMPLETE_CPU_FLAGS " == *" $1 "* ]]; }
else
  cpu_has() { grep -qw "$1" /proc/cpuinfo 2>/dev/null; }
fi
on_off() { if cpu_has "$1"; then echo ON; else echo OFF; fi; }

cmake_args=""
if [ "$(uname -s)" = "Linux" ] && [ "$(uname -m)" = "x86_64" ]; then
  # ggml turns every one of these on by default once GGML_NATIVE is off, so each is named either way
  cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX=$(on_off avx) -DGGML_AVX2=$(on_off avx2)"
  cmake_args+=" -DGGML_FMA=$(on_off fma) -DGGML_F16C=$(on_off f16c)"
  cpu_has bmi2 || cmake_args+=" -DGGML_BMI2=OFF"
  cpu_has sse4_2 || cmake_args+=" -DGGML_SSE42=OFF"
  cpu_has avx512f && cmake_args+=" -DGGML_AVX512=ON"
  cpu_has avx512vbmi && cmake_args+=" -DGGML_AVX512_VBMI=ON"
  cpu_has avx512_vnni && cmake_args+=" -DGGML_AVX512_VNNI=ON"
  cpu_has avx512_bf16 && cmake_args+=" -DGGML_AVX512_BF16=ON"
  cpu_has avx_vnni && cmake_args+=" -DGGML_AVX_VNNI=ON"
fi

# GPU backends (Linux): GGML_BACKEND=cuda or vulkan adds the backend; CMAKE_ARGS, when set, goes last (the
# user's own flags win). Both are part of the cache keys, so each build is cached apart.
case "${GGML_BACKEND:-cpu}" in
  cpu) ;;
  cuda) cmake_args+=" -DGGML_CUDA=ON" ;;
  vulkan) cmake_args+=" -DGGML_VULKAN=ON" ;;
  *) echo "GGML_BACKEND must be cpu, cuda or vulkan, not '$GGML_BACKEND'" >&2; exit 2 ;;
esac
if [ -n "${CMAKE_ARGS:-}" ]; then cmake_args+=" $CMAKE_ARGS"; fi
cmake_args=${cmake_args# }

# llama_cpp_key PYTHON PART...: a cache key, the first 12 hex digits of sha256("|".join(PARTs)).
llama_cpp_key() {
  local python=$1; shift
  "$python" -c 'import hashlib, sys; print(hashlib.sha256("|".join(sys.argv[1:]).encode()).hexdigest()[:12])' "$@"
}
