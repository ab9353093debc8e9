//! The systemd units in etc/: `systemd-analyze verify` finds nothing to say, and `systemd-analyze
//! security` rates each service's sandbox under 3 ("OK"). Offline, without a running systemd.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tools::available;

const UNITS: [&str; 3] = [
    "faccia.service",
    "faccia-report.service",
    "faccia-report.timer",
];

fn systemd_analyze() -> bool {
    available(
        "systemd-analyze",
        Command::new("systemd-analyze").arg("--version"),
        "Debian package systemd",
    )
}

fn etc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("etc")
}

/// The units as shipped, with `/usr/local/bin/faccia` pointing at the binary under test (verify
/// checks that the commands exist and are executable).
fn units_with_this_binary(dir: &Path) -> Vec<PathBuf> {
    UNITS
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(etc().join(name)).expect("read unit");
            assert!(
                !name.ends_with(".service") || text.contains("ExecStart=/usr/local/bin/faccia "),
                "{name}: the installed path is /usr/local/bin/faccia"
            );
            let text = text.replace("/usr/local/bin/faccia", env!("CARGO_BIN_EXE_faccia"));
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write unit");
            path
        })
        .collect()
}

#[test]
fn units_verify_clean() {
    if !systemd_analyze() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let units = units_with_this_binary(dir.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("run systemd-analyze verify");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // verify exits 0 on unknown keys and bad values (it only warns): nothing may be said.
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
}

/// `Overall exposure level for faccia.service: 1.5 OK`.
fn exposure(unit: &Path) -> (f64, String) {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit)
        .output()
        .expect("run systemd-analyze security");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let level = text
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for ").map(|(_, r)| r))
        .and_then(|r| r.split_once(": ").map(|(_, v)| v))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (level, text)
}

#[test]
fn services_are_sandboxed() {
    if !systemd_analyze() {
        return;
    }
    for name in ["faccia.service", "faccia-report.service"] {
        let (level, text) = exposure(&etc().join(name));
        assert!(
            level < 3.0,
            "{name}: exposure {level}, want under 3:\n{text}"
        );
    }
    // What the server needs stays allowed: its state directory, the serial ports, the network.
    let text = std::fs::read_to_string(etc().join("faccia.service")).expect("unit");
    for line in [
        "StateDirectory=faccia",
        "SupplementaryGroups=dialout",
        "DeviceAllow=char-ttyUSB rw",
        "DeviceAllow=char-ttyACM rw",
        "DeviceAllow=char-ttyS rw",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ] {
        assert!(text.lines().any(|l| l == line), "faccia.service: no {line}");
    }
    assert!(
        !text.lines().any(|l| l == "PrivateDevices=yes"),
        "PrivateDevices would hide the serial ports"
    );
}
