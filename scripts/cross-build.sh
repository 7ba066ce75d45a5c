#!/usr/bin/env bash
# Builds the addon for the four Linux targets on this x86-64 Debian machine and checks each
# .node file's architecture and libc; then runs the Rust unit tests for aarch64 under qemu-user.
# Installs what it needs (Debian packages, rustup targets). Output: target/cross/npm/<platform>/
# dgram-rs.<platform>.node (CARGO_TARGET_DIR target/cross, apart from the main build).
#
#   x86_64-unknown-linux-gnu    the host's cc
#   aarch64-unknown-linux-gnu   aarch64-linux-gnu-gcc (gcc-aarch64-linux-gnu)
#   *-unknown-linux-musl        -crt-static (a cdylib needs a dynamic libc: the one of the node
#                               process that loads it), linked by the gnu gcc of the same arch
#                               against an empty libc.so stub, so that no glibc library or
#                               versioned symbol is recorded; libc symbols resolve at load time
#                               from the musl node process.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
tools=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user file binutils)
sudo=''
[ "$(id -u)" = 0 ] || sudo=sudo
if ! dpkg -s "${tools[@]}" >/dev/null 2>&1; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
fi
targets=(x86_64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-gnu aarch64-unknown-linux-musl)
rustup target add "${targets[@]}" >/dev/null

export CARGO_TARGET_DIR="$PWD/target/cross"
stubs="$CARGO_TARGET_DIR/musl-stubs"
mkdir -p "$stubs/x86_64" "$stubs/aarch64"
: > "$stubs/empty.c"
for lib in c dl; do
  gcc -shared -nostdlib -o "$stubs/x86_64/lib$lib.so" "$stubs/empty.c" -Wl,-soname,libc.musl-x86_64.so.1
  aarch64-linux-gnu-gcc -shared -nostdlib -o "$stubs/aarch64/lib$lib.so" "$stubs/empty.c" -Wl,-soname,libc.musl-aarch64.so.1
done
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=gcc
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=-crt-static -L $stubs/x86_64"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=-crt-static -L $stubs/aarch64"

target_args=()
for t in "${targets[@]}"; do target_args+=(--target "$t"); done
cargo build --release --lib "${target_args[@]}"

status=0
for t in "${targets[@]}"; do
  case "$t" in
    x86_64-*) arch=x64; machine='Advanced Micro Devices X86-64' ;;
    aarch64-*) arch=arm64; machine='AArch64' ;;
  esac
  abi="${t##*-}"
  platform="linux-$arch-$abi"
  out="$CARGO_TARGET_DIR/npm/$platform/dgram-rs.$platform.node"
  mkdir -p "$(dirname "$out")"
  cp "$CARGO_TARGET_DIR/$t/release/libdgram_rs.so" "$out"
  got="$(readelf -h "$out" | sed -n 's/^ *Machine: *//p')"
  needed="$(readelf -d "$out" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
  glibc="$(readelf -V "$out" | grep -c 'GLIBC_' || true)"
  echo "$platform: $(file -b "$out" | cut -d, -f1-2); NEEDED: ${needed:-none}; GLIBC-versioned references: $glibc"
  if [ "$got" != "$machine" ]; then echo "FAIL: $platform is $got, expected $machine" >&2; status=1; fi
  if [ "$abi" = musl ] && { [ "$glibc" != 0 ] || grep -q 'libc.so.6' <<<"$needed"; }; then
    echo "FAIL: $platform depends on glibc" >&2; status=1
  fi
  if [ "$abi" = gnu ] && [ "$glibc" = 0 ]; then echo "FAIL: $platform has no glibc symbols" >&2; status=1; fi
done
[ "$status" = 0 ]

# The Rust unit tests for aarch64, run by qemu-user (nothing here runs an arm64 node). qemu-user
# translates neither SO_ATTACH_REUSEPORT_CBPF nor SO_TIMESTAMPNS (both ENOPROTOOPT, seen with
# qemu-aarch64 -strace), so the reuseport balancer's tests and the receive-information test run
# natively only.
cargo test --release --lib --target aarch64-unknown-linux-gnu -- \
  --skip sys::reuseport --skip sys::control::tests::the_kernel_reports_destination_tos_ttl_time_and_truncation
