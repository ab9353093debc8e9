//! External tools some tests drive (promtool, python3 with grpcio, systemd-analyze). `.ci/run`
//! installs them; under CI (`CI=true`) a missing tool fails the test, elsewhere it is skipped
//! with a message saying what to install.

use std::process::Command;

pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// True when `probe` runs and exits 0. When it does not: panics under CI, else prints why the
/// test is skipped and returns false.
pub fn available(what: &str, probe: &mut Command, install: &str) -> bool {
    let ok = probe
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !under_ci(),
            "{what} is missing: .ci/run installs it ({install})"
        );
        eprintln!("SKIPPED: {what} is missing (install: {install}; under CI=true this fails)");
    }
    ok
}
