#!/usr/bin/env bash
# Build llama.cpp's own llama-server once per CPU/flags and cache it, for comparison with our server and for
# clients that speak its API (llama.vscode, llama.vim). The source is exactly the llama.cpp that our
# llama-cpp-python release vendors (vendor/llama.cpp in its source distribution, fetched with pip), and the
# CPU flags are the wheel's (scripts/llama_cpp_flags.sh: never AMX). The build is static (one file, no shared
# libraries to find), Release, with no network use after the download: no curl/OpenSSL, no web UI download,
# no tests or examples. Only the llama-server target is built: 26 minutes with one job on a 2-core x86-64
# (AVX2) machine. A second run returns at once.
#
# Usage: scripts/build_llama_server.sh PYTHON [JOBS]
#        PYTHON runs pip (to fetch the source distribution) and computes the cache key; JOBS defaults to nproc.
# Out:   the binary's path, as the last line of stdout (everything else goes to stderr):
#        ${XDG_CACHE_HOME:-~/.cache}/nanocomplete/llama-server/llama-server-<version>-<key>/llama-server
# Env:   NANOCOMPLETE_SERVER_CACHE  where built servers are kept (default: the XDG cache dir above)
#        GGML_BACKEND, CMAKE_ARGS, NANOCOMPLETE_CPU_FLAGS  as for scripts/install_llama_cpp.sh
set -euo pipefail
exec 3>&1 1>&2  # stdout carries only the final path

python=${1:?usage: build_llama_server.sh PYTHON [JOBS]}
jobs=${2:-$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)}
cache_root=${NANOCOMPLETE_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nanocomplete/llama-server}

source "$(dirname "${BASH_SOURCE[0]}")/llama_cpp_flags.sh"
version=$llama_cpp_python_version

# The server's own flags first, then the wheel's CPU/backend flags, then the user's CMAKE_ARGS (last wins).
# LLAMA_CURL is gone from this llama.cpp (a deprecated no-op), kept for older trees; LLAMA_OPENSSL=OFF and
# LLAMA_USE_PREBUILT_UI=OFF keep the build and the binary off the network (the UI would be downloaded from a
# Hugging Face bucket at build time; without it the server has no web page, which completion does not need).
server_args="-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF"
server_args+=" -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
server_args+=" -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON"
all_args="$server_args${cmake_args:+ $cmake_args}"

key=$(llama_cpp_key "$python" "$version" "$all_args" "$(uname -sm)")
server_dir="$cache_root/llama-server-$version-$key"
binary="$server_dir/llama-server"

if [ -x "$binary" ]; then
  echo "$binary" >&3
  exit 0
fi

echo "Building llama-server from llama-cpp-python $version's llama.cpp ($key, $jobs jobs; one time)"
echo "cmake flags: $all_args"
mkdir -p "$cache_root"
tmp_dir=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$tmp_dir"' EXIT

"$python" -m pip download --no-deps --no-binary :all: --no-cache-dir -d "$tmp_dir" "llama-cpp-python==$version"
tar -xzf "$tmp_dir"/llama_cpp_python-"$version".tar.gz -C "$tmp_dir"
src="$tmp_dir/llama_cpp_python-$version/vendor/llama.cpp"
if [ ! -f "$src/tools/server/CMakeLists.txt" ] && [ ! -f "$src/examples/server/CMakeLists.txt" ]; then
  echo "no llama-server sources (tools/server or examples/server) in llama-cpp-python $version's vendor/llama.cpp" >&2
  exit 1
fi

# The flag string is split the way scikit-build-core splits CMAKE_ARGS for the wheel (shlex).
argv=()
while IFS= read -r arg; do argv+=("$arg"); done < <(
  "$python" -c 'import shlex, sys; print("\n".join(shlex.split(sys.argv[1])))' "$all_args")
cmake -S "$src" -B "$tmp_dir/build" "${argv[@]}"
cmake --build "$tmp_dir/build" --config Release --target llama-server -j "$jobs"

built=$(find "$tmp_dir/build" -type f -name llama-server -perm -u+x | head -n 1)
if [ -z "$built" ]; then echo "the build produced no llama-server binary" >&2; exit 1; fi
mkdir "$tmp_dir/out"
cp "$built" "$tmp_dir/out/llama-server"
"$tmp_dir/out/llama-server" --version  # fails here, not later, on a binary this CPU cannot run
{
  echo "llama-cpp-python $version, vendor/llama.cpp $(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "cmake flags: $all_args"
  echo "machine: $(uname -sm)"
} > "$tmp_dir/out/build-info.txt"

if [ ! -x "$binary" ]; then  # another run may have finished first; its binary is the same build
  rm -rf "$server_dir"
  mv "$tmp_dir/out" "$server_dir"
fi
echo "$binary" >&3
