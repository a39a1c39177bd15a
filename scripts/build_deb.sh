#!/usr/bin/env bash
# Builds the Debian package target/debian/layerwatch_<version>-1_<arch>.deb with cargo-deb
# (configured in Cargo.toml's [package.metadata.deb]; see packaging/README.md).
#   scripts/build_deb.sh              build the release binary, then package it
#   scripts/build_deb.sh --no-build   package target/release/layerwatch as it is (the test uses this)
# Extra arguments go to `cargo deb` (e.g. --deb-version 0.1.0-2, --output DIR, --fast).
# Needs: ONNX Runtime in .tools/ort (`scripts/setup.sh base`), dpkg-dev (dpkg-shlibdeps works out the
# package's dependencies) and cargo-deb: taken from $CARGO_DEB, else PATH, else installed (pinned,
# ~1.5 min) into .tools/cargo-deb by `scripts/setup.sh test` or by this script.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
CARGO_DEB_VERSION="3.8.0"
ORT_VERSION="1.31.1"

build=1
args=()
for a in "$@"; do
  if [ "$a" = --no-build ]; then build=0; else args+=("$a"); fi
done

cargo_deb="${CARGO_DEB:-}"
if [ -z "$cargo_deb" ]; then
  if command -v cargo-deb >/dev/null 2>&1; then
    cargo_deb="$(command -v cargo-deb)"
  else
    cargo_deb="$root/.tools/cargo-deb/bin/cargo-deb"
    if [ ! -x "$cargo_deb" ]; then
      echo "[build_deb] cargo install cargo-deb $CARGO_DEB_VERSION into .tools/cargo-deb" >&2
      cargo install --locked --quiet --version "$CARGO_DEB_VERSION" --root "$root/.tools/cargo-deb" cargo-deb
    fi
  fi
fi

ort="$root/.tools/ort/libonnxruntime.so.$ORT_VERSION"
if [ ! -f "$ort" ]; then
  echo "[build_deb] $ort is missing: run scripts/setup.sh base first" >&2
  exit 1
fi

if [ "$build" = 1 ]; then
  cargo build --release --locked --bin layerwatch
fi
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
if [ ! -x "$target_dir/release/layerwatch" ]; then
  echo "[build_deb] $target_dir/release/layerwatch is missing: build it (cargo build --release) or drop --no-build" >&2
  exit 1
fi

# Generated assets (Cargo.toml names them): the library, and the example config with the packaged
# data folder. The conffile is config.example.toml with one line changed, so the two never drift.
assets="$root/target/deb-assets"
mkdir -p "$assets"
install -m 0644 "$ort" "$assets/libonnxruntime.so"
sed 's|^data_dir = "layerwatch-data"$|data_dir = "/var/lib/layerwatch"|' config.example.toml >"$assets/layerwatch.toml"
if ! grep -qx 'data_dir = "/var/lib/layerwatch"' "$assets/layerwatch.toml"; then
  echo "[build_deb] config.example.toml no longer has the line data_dir = \"layerwatch-data\"; update this script" >&2
  exit 1
fi

exec "$cargo_deb" --no-build --locked "${args[@]}"
