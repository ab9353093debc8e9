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
}

/// Lists serial ports. Errors of the OS enumeration give an empty list.
pub fn list() -> Vec<PortInfo> {
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
            };
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
