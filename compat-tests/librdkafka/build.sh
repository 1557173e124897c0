#!/usr/bin/env bash
# Builds librdkafka 2.12.1, its test runner (tests/test-runner) and its example tools
# (examples/rdkafka_performance among them) from the source vendored by the `rdkafka-sys`
# crate, into a cache directory outside the clone. Rebuilt only when the pinned version
# changes (or the stamp file is removed).
#
# Prints the build directory (the librdkafka source tree, built in place) on its last
# line of stdout; everything else goes to stderr.
#
# Environment:
#   WEIR_LIBRDKAFKA_CACHE  parent cache dir, default $HOME/.cache/weir
#   WEIR_BUILD_JOBS        make -j, default 2 (the CI machines have 2 cores)
#   WEIR_SKIP_APT=1        do not apt-get install the build dependencies
set -euo pipefail

RDKAFKA_SYS_VERSION="4.10.0+2.12.1"   # the pin: rdkafka-sys crate version
LIBRDKAFKA_VERSION="${RDKAFKA_SYS_VERSION#*+}"

CACHE="${WEIR_LIBRDKAFKA_CACHE:-$HOME/.cache/weir}"
PREFIX="$CACHE/librdkafka-$LIBRDKAFKA_VERSION"
SRC="$PREFIX/librdkafka"
STAMP="$PREFIX/.weir-build-stamp"
JOBS="${WEIR_BUILD_JOBS:-2}"
# Bump BUILD_RECIPE when the configure flags or the Debian packages below change.
BUILD_RECIPE=2
STAMP_CONTENT="rdkafka-sys=$RDKAFKA_SYS_VERSION recipe=$BUILD_RECIPE"

log() { printf '[librdkafka build] %s\n' "$*" >&2; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_CONTENT" ] \
    && [ -x "$SRC/tests/test-runner" ] && [ -x "$SRC/examples/rdkafka_performance" ]; then
    echo "$SRC"
    exit 0
fi

start=$(date +%s)

# ---- 1. build dependencies (Debian)
# rapidjson-dev: the runner verifies statistics JSON with it (0053_stats skips without it).
DEB_PKGS=(build-essential pkg-config python3 libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev rapidjson-dev)
missing=()
for p in "${DEB_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "${WEIR_SKIP_APT:-0}" = 1 ]; then
        log "missing Debian packages: ${missing[*]} (WEIR_SKIP_APT=1, not installing)"
    else
        log "installing Debian packages: ${missing[*]}"
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
    fi
fi

# ---- 2. the source: the rdkafka-sys crate file, fetched by cargo from crates.io
FETCH="$CACHE/librdkafka-fetch"
mkdir -p "$FETCH/src"
cat >"$FETCH/Cargo.toml" <<TOML
[package]
name = "weir-librdkafka-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
rdkafka-sys = { version = "=$RDKAFKA_SYS_VERSION", default-features = false }

[workspace]
TOML
echo 'fn main() {}' >"$FETCH/src/main.rs"
log "cargo fetch rdkafka-sys $RDKAFKA_SYS_VERSION"
(cd "$FETCH" && cargo fetch --quiet >&2)
CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
CRATE=$(ls "$CARGO_HOME_DIR"/registry/cache/*/"rdkafka-sys-$RDKAFKA_SYS_VERSION.crate" 2>/dev/null | head -1)
[ -n "$CRATE" ] || { log "rdkafka-sys-$RDKAFKA_SYS_VERSION.crate not found under $CARGO_HOME_DIR/registry/cache"; exit 1; }

rm -rf "$PREFIX"
mkdir -p "$PREFIX"
log "unpacking $CRATE"
tar -xzf "$CRATE" -C "$PREFIX" --strip-components=1 "rdkafka-sys-$RDKAFKA_SYS_VERSION/librdkafka"
[ -f "$SRC/configure" ] || { log "no librdkafka/configure in the crate"; exit 1; }
grep -q "RD_KAFKA_VERSION  *0x020c01" "$SRC/src/rdkafka.h" \
    || log "warning: src/rdkafka.h does not say 2.12.1"

# ---- 3. configure and build (in place). rpath makes the binaries load this build's
# librdkafka.so.1 rather than Debian's (kcat pulls in librdkafka1 2.0.2).
cd "$SRC"
chmod +x configure lds-gen.py tests/*.sh 2>/dev/null || true
log "configure"
# No libcurl: it only serves OAUTHBEARER/OIDC token fetching (SASL tests are excluded).
./configure --prefix="$PREFIX/install" --disable-curl \
    --LDFLAGS="-Wl,-rpath,$SRC/src:$SRC/src-cpp" >"$PREFIX/configure.log" 2>&1 \
    || { tail -40 "$PREFIX/configure.log" >&2; exit 1; }
log "make -j$JOBS libs"
make -j"$JOBS" libs >"$PREFIX/make-libs.log" 2>&1 || { tail -40 "$PREFIX/make-libs.log" >&2; exit 1; }
log "make -j$JOBS -C examples"
make -j"$JOBS" -C examples >"$PREFIX/make-examples.log" 2>&1 || { tail -40 "$PREFIX/make-examples.log" >&2; exit 1; }
log "make -j$JOBS -C tests test-runner"
make -j"$JOBS" -C tests test-runner >"$PREFIX/make-tests.log" 2>&1 || { tail -40 "$PREFIX/make-tests.log" >&2; exit 1; }

# ---- 4. check that the runner loads this build's library
lib=$(ldd "$SRC/tests/test-runner" | awk '/librdkafka\.so/ {print $3}')
case "$lib" in
    "$SRC"/src/*) ;;
    *) log "test-runner resolves librdkafka.so to '$lib', not $SRC/src"; exit 1 ;;
esac

echo "$STAMP_CONTENT" >"$STAMP"
log "built librdkafka $LIBRDKAFKA_VERSION in $(( $(date +%s) - start ))s: $SRC"
echo "$SRC"
