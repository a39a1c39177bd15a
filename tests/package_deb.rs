//! The Debian package, as a user gets it: `scripts/build_deb.sh --no-build` packages this build's
//! release binary with cargo-deb, and `scripts/test_deb.sh` installs it with apt into a clean
//! `debootstrap --variant=minbase` root (chroot), checks files, the `layerwatch` user, the data
//! folder, `--version` and `validate-config` inside the root, upgrades it with an edited conffile,
//! then removes and purges it. Needs root (CI runs as root), debootstrap and dpkg-dev
//! (`scripts/setup.sh test`) and Debian's mirror; about 2 minutes on a clean machine.
//!
//! It fails, never skips, when something is missing; `LAYERWATCH_SKIP_DEB_TEST=1` is the one way
//! to leave it out (say so where you do).

use std::path::Path;
use std::process::Command;

#[test]
fn deb_installs_upgrades_and_removes_in_a_clean_root() {
    if std::env::var_os("LAYERWATCH_SKIP_DEB_TEST").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED: LAYERWATCH_SKIP_DEB_TEST=1 (the Debian package was not tested)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // cargo-deb packages <target>/release/layerwatch: the binary this test run built.
    let bin = Path::new(env!("CARGO_BIN_EXE_layerwatch"));
    assert!(bin.ends_with("release/layerwatch"), "run in release (cargo test --release): {}", bin.display());
    let out =
        Command::new(root.join("scripts/test_deb.sh")).current_dir(root).output().expect("run scripts/test_deb.sh");
    let log = String::from_utf8_lossy(&out.stderr);
    eprintln!("{log}");
    assert!(out.status.success(), "scripts/test_deb.sh failed ({}):\n{log}", out.status);
    assert!(log.contains("[test_deb] PASS"), "scripts/test_deb.sh ended without PASS:\n{log}");
}
