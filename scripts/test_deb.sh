#!/usr/bin/env bash
# Installs, upgrades, removes and purges the Debian package in a clean Debian root, and fails on the
# first thing that is not as it should be. Run by tests/package_deb.rs (so by `make test`); alone:
#   scripts/test_deb.sh [DEB_V1 DEB_V2]
# Without arguments it builds both packages from target/release/layerwatch (scripts/build_deb.sh
# --no-build): v1 as released, v2 the same with a higher version, to exercise an upgrade.
# The clean root is `debootstrap --variant=minbase` of Debian 12 (the suite this machine runs),
# entered with chroot; apt installs the package's dependencies (OpenCV's runtime libraries, adduser)
# from Debian's archive, like `apt install ./layerwatch_….deb` on a fresh Pi or PC. Nothing on this
# machine outside target/deb-test is changed. Needs root (or password-less sudo), debootstrap and
# Debian's mirror; the minbase root is cached in target/deb-test/minbase.tar for later runs.
set -euo pipefail
root_dir="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root_dir"
log() { printf '[test_deb] %s\n' "$*" >&2; }
fail() { printf '[test_deb] FAIL: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then exec sudo -n --preserve-env=PATH,CARGO_DEB,CARGO_HOME,RUSTUP_HOME "$0" "$@"; fi
  fail "needs root or password-less sudo (debootstrap, chroot, dpkg)"
fi
command -v debootstrap >/dev/null || fail "debootstrap is missing: run scripts/setup.sh test"

work="$root_dir/target/deb-test"
mkdir -p "$work"
if [ $# -ge 2 ]; then
  deb1="$1"; deb2="$2"
else
  t0=$SECONDS
  rm -rf "$work/v1" "$work/v2"
  # --fast (lighter compression): the same files, a minute less of xz on a 2-core machine.
  scripts/build_deb.sh --no-build --fast --output "$work/v1/" >&2
  # Same contents, later version: what an upgrade from the archive or a newer release looks like.
  base_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
  scripts/build_deb.sh --no-build --fast --deb-version "${base_version}-2" --output "$work/v2/" >&2
  deb1="$(ls "$work"/v1/*.deb)"; deb2="$(ls "$work"/v2/*.deb)"
  log "built $(basename "$deb1") ($(du -h "$deb1" | cut -f1)) and $(basename "$deb2") in $((SECONDS - t0)) s"
fi

suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
chroot_dir="$work/root"
cleanup() {
  umount "$chroot_dir/proc" 2>/dev/null || true
  rm -rf "$chroot_dir"
}
cleanup
trap cleanup EXIT
t0=$SECONDS
if [ -f "$work/minbase-$suite.tar" ]; then
  mkdir -p "$chroot_dir"
  tar -C "$chroot_dir" -xf "$work/minbase-$suite.tar"
else
  log "debootstrap --variant=minbase $suite from $mirror"
  debootstrap --variant=minbase "$suite" "$chroot_dir" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed (no route to $mirror?)"; }
  tar -C "$chroot_dir" -cf "$work/minbase-$suite.tar.tmp" . && mv "$work/minbase-$suite.tar.tmp" "$work/minbase-$suite.tar"
fi
log "clean root ready in $((SECONDS - t0)) s"
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$chroot_dir/proc"
cp "$deb1" "$chroot_dir/tmp/layerwatch-v1.deb"
cp "$deb2" "$chroot_dir/tmp/layerwatch-v2.deb"
in_root() { chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
apt_install() { in_root apt-get install -y -q --no-install-recommends "$@" </dev/null >"$work/apt.log" 2>&1 \
  || { tail -30 "$work/apt.log" >&2; fail "apt-get install $* failed"; }; }
check() { # description, command...
  local what="$1"; shift
  if ! "$@" >/dev/null 2>&1; then fail "$what"; fi
  log "ok: $what"
}
ck_absent() { [ ! -e "$chroot_dir$1" ] && [ ! -L "$chroot_dir$1" ]; }
stat_in() { in_root stat -c "$1" "$2"; }
[ -d "$chroot_dir/run/systemd/system" ] && fail "the clean root claims a running systemd"

# --- install ---------------------------------------------------------------------------------
t0=$SECONDS
in_root apt-get update -q >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; fail "apt-get update in the root"; }
apt_install /tmp/layerwatch-v1.deb
log "installed v1 with its dependencies in $((SECONDS - t0)) s"
check "package installed" test "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' layerwatch)" = "ii "
for f in /usr/bin/layerwatch /usr/lib/layerwatch/libonnxruntime.so /usr/lib/systemd/system/layerwatch.service \
  /usr/lib/systemd/system/layerwatch@.service /etc/layerwatch/layerwatch.toml /usr/share/doc/layerwatch/copyright \
  /usr/share/doc/layerwatch/MODEL_CARD.md; do
  check "$f is installed" test -s "$chroot_dir$f"
done
check "the config is a conffile" sh -c "chroot '$chroot_dir' dpkg-query -W -f='\${Conffiles}' layerwatch | grep -q '^ /etc/layerwatch/layerwatch.toml '"
check "the packaged config keeps its data in /var/lib/layerwatch" grep -qx 'data_dir = "/var/lib/layerwatch"' "$chroot_dir/etc/layerwatch/layerwatch.toml"
check "system user layerwatch exists" in_root getent passwd layerwatch
uid="$(in_root id -u layerwatch)"
check "layerwatch is a system account (uid $uid < 1000)" test "$uid" -lt 1000
check "layerwatch has no login shell" test "$(in_root getent passwd layerwatch | cut -d: -f7)" = /usr/sbin/nologin
check "layerwatch is in dialout and video (serial ports, cameras)" \
  sh -c "chroot '$chroot_dir' id -nG layerwatch | tr ' ' '\n' | grep -qx dialout && chroot '$chroot_dir' id -nG layerwatch | tr ' ' '\n' | grep -qx video"
check "/var/lib/layerwatch is layerwatch:layerwatch 750" test "$(stat_in '%U:%G %a' /var/lib/layerwatch)" = "layerwatch:layerwatch 750"
check "the config is root:layerwatch 640" test "$(stat_in '%U:%G %a' /etc/layerwatch/layerwatch.toml)" = "root:layerwatch 640"
check "the unit runs as layerwatch with the packaged config" \
  grep -qx 'ExecStart=/usr/bin/layerwatch --config /etc/layerwatch/layerwatch.toml run' "$chroot_dir/usr/lib/systemd/system/layerwatch.service"
check "the unit's User= is layerwatch" grep -qx 'User=layerwatch' "$chroot_dir/usr/lib/systemd/system/layerwatch.service"
check "not enabled at install (needs a camera and printer first)" ck_absent /etc/systemd/system/multi-user.target.wants/layerwatch.service

version="$(in_root layerwatch --version)" || fail "layerwatch --version failed in the root"
printf '%s\n' "$version" | sed 's/^/[test_deb]   /' >&2
check "--version names the build" grep -q '^layerwatch 0\..* (commit .*, release build)' <<<"$version"
check "--version names the built-in model" grep -q '^model: .*(built in, sha256 ' <<<"$version"
check "--version finds the packaged ONNX Runtime with no setting" \
  grep -q 'library: /usr/lib/layerwatch/libonnxruntime.so' <<<"$version"
out="$(in_root setpriv --reuid=layerwatch --regid=layerwatch --init-groups \
  layerwatch --config /etc/layerwatch/layerwatch.toml validate-config 2>&1)" \
  || { printf '%s\n' "$out" >&2; fail "validate-config as the service user (as ExecStartPre= runs it)"; }
log "ok: validate-config as user layerwatch: $(printf '%s' "$out" | tail -1)"

# --- upgrade keeps an edited config ------------------------------------------------------------
sed -i 's/^name = "printer"$/name = "edited-by-the-admin"/' "$chroot_dir/etc/layerwatch/layerwatch.toml"
grep -qx 'name = "edited-by-the-admin"' "$chroot_dir/etc/layerwatch/layerwatch.toml" || fail "could not edit the config"
echo "keep me" >"$chroot_dir/var/lib/layerwatch/marker"
# stdin is /dev/null: a conffile question from dpkg would fail the upgrade instead of hanging.
apt_install /tmp/layerwatch-v2.deb
check "upgraded to v2" sh -c "chroot '$chroot_dir' dpkg-query -W -f='\${Version}' layerwatch | grep -q -- '-2\$'"
check "the edited config survives the upgrade" grep -qx 'name = "edited-by-the-admin"' "$chroot_dir/etc/layerwatch/layerwatch.toml"
check "no .dpkg-dist/.dpkg-new left beside it" sh -c "! ls '$chroot_dir'/etc/layerwatch/*.dpkg-* 2>/dev/null"
check "the config is still root:layerwatch 640" test "$(stat_in '%U:%G %a' /etc/layerwatch/layerwatch.toml)" = "root:layerwatch 640"
check "data survives the upgrade" test -f "$chroot_dir/var/lib/layerwatch/marker"
check "validate-config after the upgrade" in_root setpriv --reuid=layerwatch --regid=layerwatch --init-groups \
  layerwatch --config /etc/layerwatch/layerwatch.toml validate-config

# --- remove keeps config and data; purge deletes them -------------------------------------------
in_root dpkg -r layerwatch >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r"; }
check "dpkg -r: state rc" test "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' layerwatch)" = "rc "
for f in /usr/bin/layerwatch /usr/lib/layerwatch /usr/lib/systemd/system/layerwatch.service /usr/lib/systemd/system/layerwatch@.service; do
  check "dpkg -r removes $f" ck_absent "$f"
done
check "dpkg -r keeps the edited config" grep -qx 'name = "edited-by-the-admin"' "$chroot_dir/etc/layerwatch/layerwatch.toml"
check "dpkg -r keeps the data" test -f "$chroot_dir/var/lib/layerwatch/marker"
in_root dpkg -P layerwatch >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -P"; }
check "dpkg -P: the package is gone" sh -c "! chroot '$chroot_dir' dpkg-query -W -f='\${db:Status-Abbrev}' layerwatch 2>/dev/null | grep -q ."
check "dpkg -P removes the config" ck_absent /etc/layerwatch/layerwatch.toml
check "dpkg -P removes /etc/layerwatch" ck_absent /etc/layerwatch
check "dpkg -P removes the data" ck_absent /var/lib/layerwatch
check "the system user stays (Debian's advice for system accounts)" in_root getent passwd layerwatch
log "PASS"
