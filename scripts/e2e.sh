#!/usr/bin/env bash
# The VS Code extension (editors/vscode), end to end: installs what it needs, builds it, packages the
# .vsix, runs its unit tests, then drives a real VS Code (code-server in headless Chromium) with the
# extension installed against the real nanocomplete server and model. Idempotent; with warm caches it
# takes a few minutes, most of it the e2e test itself.
#
# Assumes what `make setup` provides: .venv with nanocomplete and the default model pulled.
# Installs if missing: Debian chromium, ripgrep, libkrb5-dev, pkg-config (apt-get); the extension's
# npm devDependencies (npm ci); code-server $CODE_SERVER_VERSION, built once and cached by version in
# $E2E_CACHE. Output (screenshots, logs, metrics): editors/vscode/test-output/.
#
#   scripts/e2e.sh            everything
#   scripts/e2e.sh --unit     build, package and unit tests only (no browser, no server)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
EXT=$ROOT/editors/vscode
CODE_SERVER_VERSION=4.99.4 # VS Code 1.99.3, runs on Node 20; @types/vscode is pinned to match
E2E_CACHE=${E2E_CACHE:-$HOME/.cache/nanocomplete/e2e}
CODE_SERVER_DIR=$E2E_CACHE/code-server-$CODE_SERVER_VERSION
APT_PACKAGES=(chromium ripgrep libkrb5-dev pkg-config)

step() { printf '\n== %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_apt_packages() {
    local missing=()
    for package in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return
    step "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# npm ci only when package-lock.json changed since the last install (npm ci always starts afresh).
install_npm_packages() {
    local stamp=$EXT/node_modules/.lock-sha256 want
    want=$(sha256sum "$EXT/package-lock.json" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
    step "npm ci (editors/vscode)"
    (cd "$EXT" && npm ci --ignore-scripts --no-audit --no-fund)
    echo "$want" >"$stamp"
}

# code-server from the npm registry, without its install scripts (they download ripgrep and build
# modules the test does not need); the native modules it needs are built here, once per version.
install_code_server() {
    [ -f "$CODE_SERVER_DIR/.complete" ] && return
    step "code-server $CODE_SERVER_VERSION into $CODE_SERVER_DIR (once)"
    local build=$CODE_SERVER_DIR.partial
    rm -rf "$build" && mkdir -p "$build"
    echo '{"private": true}' >"$build/package.json"
    (cd "$build" && npm install --ignore-scripts --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" >/dev/null)
    (cd "$build" && npm_config_yes=true npm rebuild argon2 --build-from-source >/dev/null)
    local vscode=$build/node_modules/code-server/lib/vscode
    (cd "$vscode" && npm install --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
    mkdir -p "$vscode/node_modules/@vscode/ripgrep/bin"
    cp "$(command -v rg)" "$vscode/node_modules/@vscode/ripgrep/bin/rg"
    (cd "$vscode" && npm_config_yes=true npm_config_unsafe_perm=true \
        npm rebuild @vscode/spdlog native-watchdog node-pty kerberos @vscode/deviceid >/dev/null)
    ln -sfn node_modules "$vscode/node_modules.asar"
    ln -sfn code-linux.sh "$vscode/bin/remote-cli/code-server"
    ln -sfn browser-linux.sh "$vscode/bin/helpers/browser.sh"
    (cd "$vscode/extensions" && npm install --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null &&
        node postinstall.mjs >/dev/null)
    touch "$build/.complete"
    rm -rf "$CODE_SERVER_DIR" && mv "$build" "$CODE_SERVER_DIR"
}

build_extension() {
    step "build, lint, unit tests, package"
    cd "$EXT"
    rm -rf out ./*.vsix
    npm run --silent compile
    npm run --silent lint
    npm test
    npm run --silent package
    cd "$ROOT"
}

run_e2e() {
    local nanocomplete=$ROOT/.venv/bin/nanocomplete
    if [ ! -x "$nanocomplete" ]; then
        echo "error: $nanocomplete is missing: run \`make setup\` first" >&2
        exit 1
    fi
    step "end to end: code-server $CODE_SERVER_VERSION + chromium + nanocomplete server"
    cd "$EXT"
    rm -rf test-output && mkdir -p test-output
    CODE_SERVER=$CODE_SERVER_DIR/node_modules/.bin/code-server NANOCOMPLETE_BIN=$nanocomplete \
        DASH_VSIX=$(ls "$EXT"/dash-*.vsix) npm run --silent e2e
    cd "$ROOT"
}

main() {
    local started=$SECONDS
    command -v node >/dev/null || { echo "error: Node.js 20 is needed" >&2; exit 1; }
    if [ "${1:-}" = "--unit" ]; then
        install_npm_packages
        build_extension
    else
        install_apt_packages
        install_npm_packages
        install_code_server
        build_extension
        run_e2e
    fi
    step "scripts/e2e.sh ${1:-} passed in $((SECONDS - started)) s"
}

main "$@"
