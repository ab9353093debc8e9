//! Serial port listing with USB identification (from sysfs, no libudev needed).

use serde::Serialize;

/// A serial port found on the machine.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PortInfo {
    pub path: String,
    /// "usb", "pci", "bluetooth" or "unknown".
    pub kind: String,
    pub vid: Option<u16>,
    pub pid: Option<u16>,
    pub serial_number: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    /// Stable name under /dev/serial/by-id, when udev made one (use it in the configuration).
    pub by_id: Option<String>,
}

/// Lists serial ports. Errors of the OS enumeration give an empty list.
pub fn list() -> Vec<PortInfo> {
    // the enumeration of the serial crate panics when /sys/class/tty is missing (containers)
    if !std::path::Path::new("/sys/class/tty").is_dir() {
        tracing::warn!("/sys/class/tty is missing: cannot enumerate serial ports");
        return Vec::new();
    }
    let by_id = by_id_links();
    let ports = match tokio_serial::available_ports() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot enumerate serial ports");
            return Vec::new();
        }
    };
    let mut out: Vec<PortInfo> = ports
        .into_iter()
        .map(|p| {
            let mut info = PortInfo {
                path: p.port_name,
                kind: "unknown".into(),
                vid: None,
                pid: None,
                serial_number: None,
                manufacturer: None,
                product: None,
                by_id: None,
            };
            let real = std::fs::canonicalize(&info.path).ok();
            info.by_id = by_id
                .iter()
                .find(|(_, target)| Some(target) == real.as_ref())
                .map(|(link, _)| link.clone());
            match p.port_type {
                tokio_serial::SerialPortType::UsbPort(u) => {
                    info.kind = "usb".into();
                    info.vid = Some(u.vid);
                    info.pid = Some(u.pid);
                    info.serial_number = u.serial_number;
                    info.manufacturer = u.manufacturer;
                    info.product = u.product;
                }
                tokio_serial::SerialPortType::PciPort => info.kind = "pci".into(),
                tokio_serial::SerialPortType::BluetoothPort => info.kind = "bluetooth".into(),
                tokio_serial::SerialPortType::Unknown => {}
            }
            info
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// (link, canonical target) of every entry of /dev/serial/by-id.
fn by_id_links() -> Vec<(String, std::path::PathBuf)> {
    let Ok(dir) = std::fs::read_dir("/dev/serial/by-id") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let link = e.path();
            let target = std::fs::canonicalize(&link).ok()?;
            Some((link.to_string_lossy().into_owned(), target))
        })
        .collect()
}
