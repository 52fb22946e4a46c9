#!/usr/bin/env bash
# Install llama-cpp-python into the current Python environment from a cached wheel,
# building it once (about 11 minutes on 2 cores) when no wheel for this CPU exists yet.
#
# Why a custom build: on x86-64 the default (native) build turns on ggml's AMX kernels on CPUs
# that advertise AMX, and the first matrix multiply dies with SIGILL on our machines. We build
# with GGML_NATIVE=OFF and name, one by one, the instruction sets the CPU really has (never AMX):
# AVX, AVX2, FMA, F16C (and BMI2, SSE4.2) when present, the AVX-512 family when present. A CPU
# without AVX2 gets a build without it (slower, see README), never one that dies with SIGILL.
# macOS keeps the default build (Metal). The flags are computed in scripts/llama_cpp_flags.sh, shared with
# scripts/build_llama_server.sh (llama.cpp's own llama-server, built the same way).
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
cache_root=${NANOCOMPLETE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nanocomplete/wheels}

# The CPU flags (never AMX), GGML_BACKEND and CMAKE_ARGS: shared with scripts/build_llama_server.sh
source "$(dirname "${BASH_SOURCE[0]}")/llama_cpp_flags.sh"
version=$llama_cpp_python_version

key=$(llama_cpp_key "$python" "$version" "$cmake_args" "$(uname -sm)" \
      "$("$python" -c 'import sys; print(sys.implementation.cache_tag)')")
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
