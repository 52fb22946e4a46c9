#!/usr/bin/env bash
# Install llama-cpp-python into the current Python environment from a cached wheel,
# building it once (about 11 minutes on 2 cores) when no wheel for this CPU exists yet.
#
# Why a custom build: on x86-64 the default (native) build turns on ggml's AMX kernels on CPUs
# that advertise AMX, and the first matrix multiply dies with SIGILL on our machines. We build
# with GGML_NATIVE=OFF and name, one by one, the instruction sets the CPU really has (never AMX):
# AVX, AVX2, FMA, F16C (and BMI2, SSE4.2) when present, the AVX-512 family when present. A CPU
# without AVX2 gets a build without it (slower, see README), never one that dies with SIGILL.
# macOS keeps the default build (Metal).
#
# Usage: scripts/install_llama_cpp.sh PYTHON
# Env:   NANOCOMPLETE_WHEEL_CACHE  where built wheels are kept (default: XDG cache dir)
#        GGML_BACKEND              cpu (default), cuda or vulkan: a GPU build (Linux; macOS always has Metal)
#        CMAKE_ARGS                your own llama.cpp CMake flags, appended last
#        NANOCOMPLETE_CPU_FLAGS    build for these /proc/cpuinfo flags instead of this CPU's, e.g.
#                                  "sse4_2 avx f16c" for a CPU without AVX2 (a subset of this CPU's
#                                  flags runs here too, which is how both builds are tested)
set -euo pipefail

python=${1:?usage: install_llama_cpp.sh PYTHON}
version=0.3.36
cache_root=${NANOCOMPLETE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nanocomplete/wheels}

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
# user's own flags win). Both are part of the wheel's cache key, so each build is cached apart.
case "${GGML_BACKEND:-cpu}" in
  cpu) ;;
  cuda) cmake_args+=" -DGGML_CUDA=ON" ;;
  vulkan) cmake_args+=" -DGGML_VULKAN=ON" ;;
  *) echo "GGML_BACKEND must be cpu, cuda or vulkan, not '$GGML_BACKEND'" >&2; exit 2 ;;
esac
if [ -n "${CMAKE_ARGS:-}" ]; then cmake_args+=" $CMAKE_ARGS"; fi
cmake_args=${cmake_args# }

key=$("$python" -c 'import hashlib, sys; print(hashlib.sha256("|".join(sys.argv[1:]).encode()).hexdigest()[:12])' \
      "$version" "$cmake_args" "$(uname -sm)" "$("$python" -c 'import sys; print(sys.implementation.cache_tag)')")
wheel_dir="$cache_root/llama-cpp-python-$version-$key"
marker_file=$("$python" -c 'import sys; print(sys.prefix)')/.llama-cpp-python-build

if [ -f "$marker_file" ] && [ "$(cat "$marker_file")" = "$key" ] \
   && "$python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$version')" 2>/dev/null; then
  echo "llama-cpp-python $version ($key) already installed"
  exit 0
fi

if ! ls "$wheel_dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $version from source (one time, ~11 min on 2 cores)"
  echo "CMAKE_ARGS=$cmake_args"
  mkdir -p "$cache_root"
  tmp_dir=$(mktemp -d "$cache_root/.build.XXXXXX")
  trap 'rm -rf "$tmp_dir"' EXIT
  CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)" \
    "$python" -m pip wheel --no-deps --no-binary llama-cpp-python --no-cache-dir \
    "llama-cpp-python==$version" -w "$tmp_dir"
  rm -rf "$wheel_dir"
  mv "$tmp_dir" "$wheel_dir"
  trap - EXIT
fi

"$python" -m pip install --force-reinstall --no-deps "$wheel_dir"/llama_cpp_python-*.whl
"$python" -m pip install "llama-cpp-python==$version" --find-links "$wheel_dir" --no-index 2>/dev/null \
  || "$python" -m pip install "llama-cpp-python==$version" --find-links "$wheel_dir"
echo "$key" > "$marker_file"
