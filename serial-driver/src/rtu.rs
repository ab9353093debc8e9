//! Modbus RTU framing: CRC-16/Modbus, request building, response/request length detection,
//! and a human-readable description of frames for the technician's frame log.

use std::time::Duration;

/// CRC-16/Modbus (poly 0xA001 reflected, init 0xFFFF). Appended low byte first.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for b in data {
        crc ^= u16::from(*b);
        for _ in 0..8 {
            if crc & 1 != 0 {
                crc = (crc >> 1) ^ 0xA001;
            } else {
                crc >>= 1;
            }
        }
    }
    crc
}

/// Appends the CRC to `frame` (address + PDU).
pub fn push_crc(frame: &mut Vec<u8>) {
    let c = crc16(frame);
    frame.push((c & 0xFF) as u8);
    frame.push((c >> 8) as u8);
}

/// True when the last two bytes of `frame` are the CRC of the rest.
pub fn crc_ok(frame: &[u8]) -> bool {
    if frame.len() < 4 {
        return false;
    }
    let n = frame.len() - 2;
    let c = crc16(&frame[..n]);
    frame[n] == (c & 0xFF) as u8 && frame[n + 1] == (c >> 8) as u8
}

/// Builds a full RTU frame: unit, PDU, CRC.
pub fn frame(unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(pdu.len() + 3);
    f.push(unit);
    f.extend_from_slice(pdu);
    push_crc(&mut f);
    f
}

/// PDU of a read request (function 0x03 or 0x04).
pub fn read_pdu(function: u8, addr: u16, count: u16) -> Vec<u8> {
    let mut p = vec![function];
    p.extend_from_slice(&addr.to_be_bytes());
    p.extend_from_slice(&count.to_be_bytes());
    p
}

/// PDU of a Write Single Register (0x06).
pub fn write_single_pdu(addr: u16, value: u16) -> Vec<u8> {
    let mut p = vec![0x06];
    p.extend_from_slice(&addr.to_be_bytes());
    p.extend_from_slice(&value.to_be_bytes());
    p
}

/// PDU of a Write Multiple Registers (0x10).
pub fn write_multiple_pdu(addr: u16, values: &[u16]) -> Vec<u8> {
    let mut p = vec![0x10];
    p.extend_from_slice(&addr.to_be_bytes());
    p.extend_from_slice(&(values.len() as u16).to_be_bytes());
    p.push((values.len() * 2) as u8);
    for v in values {
        p.extend_from_slice(&v.to_be_bytes());
    }
    p
}

/// Length of a complete *response* frame starting at `buf[0]` for a request with `function`,
/// or `None` when more bytes are needed to know it.
pub fn response_len(buf: &[u8], function: u8) -> Option<usize> {
    if buf.len() < 2 {
        return None;
    }
    if buf[1] == function | 0x80 {
        return Some(5);
    }
    match function {
        0x03 | 0x04 => buf.get(2).map(|n| 5 + *n as usize),
        0x06 | 0x10 => Some(8),
        _ => Some(5),
    }
}

/// Length of a complete *request* frame starting at `buf[0]`: `Some(Ok(n))` when known,
/// `Some(Err(()))` when the function is not one with a known length, `None` when more bytes
/// are needed.
#[allow(clippy::result_unit_err)]
pub fn request_len(buf: &[u8]) -> Option<Result<usize, ()>> {
    if buf.len() < 2 {
        return None;
    }
    match buf[1] {
        0x03 | 0x04 | 0x06 => Some(Ok(8)),
        0x10 => buf.get(6).map(|n| Ok(9 + *n as usize)),
        _ => Some(Err(())),
    }
}

/// Time one character (start + 8 data + stop = 10 bits) takes on the wire.
pub fn char_time(baud: u32) -> Duration {
    Duration::from_nanos(10_000_000_000 / u64::from(baud.max(1)))
}

/// Wire time of `bytes` bytes at `baud` (8N1).
pub fn wire_time(bytes: usize, baud: u32) -> Duration {
    Duration::from_nanos(bytes as u64 * 10_000_000_000 / u64::from(baud.max(1)))
}

/// Inter-frame silence t3.5 as Modbus over Serial Line v1.02 §2.5.1.1 gives it:
/// 3.5 characters, and a fixed 1.75 ms above 19200 baud.
pub fn t35(baud: u32) -> Duration {
    if baud > 19200 {
        Duration::from_micros(1750)
    } else {
        char_time(baud) * 7 / 2
    }
}

/// Hex dump "01 04 00 02".
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

fn be(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// Decodes a frame for the log. `request` tells which direction it is.
pub fn describe(frame: &[u8], request: bool) -> String {
    if frame.len() < 4 {
        return format!("short frame ({} bytes)", frame.len());
    }
    let crc = if crc_ok(frame) { "CRC ok" } else { "CRC BAD" };
    let unit = frame[0];
    let f = frame[1];
    let body = &frame[..frame.len() - 2];
    let what = if f & 0x80 != 0 {
        let code = body.get(2).copied().unwrap_or(0);
        let name = match code {
            1 => "illegal function",
            2 => "illegal address",
            3 => "illegal value",
            4 => "device failure",
            6 => "busy",
            _ => "exception",
        };
        format!("exception fn 0x{:02X} code 0x{code:02X} ({name})", f & 0x7F)
    } else {
        match (f, request) {
            (0x03 | 0x04, true) if body.len() >= 6 => format!(
                "read {} 0x{:04X} x{}",
                if f == 3 { "holding" } else { "input" },
                be(body, 2),
                be(body, 4)
            ),
            (0x03 | 0x04, false) if body.len() >= 3 => {
                let vals: Vec<String> = body[3..]
                    .chunks(2)
                    .filter(|c| c.len() == 2)
                    .map(|c| format!("{:04X}", u16::from_be_bytes([c[0], c[1]])))
                    .collect();
                format!("values [{}]", vals.join(" "))
            }
            (0x06, _) if body.len() >= 6 => {
                format!("write 0x{:04X} = {}", be(body, 2), be(body, 4))
            }
            (0x10, true) if body.len() >= 7 => {
                let vals: Vec<String> = body[7..]
                    .chunks(2)
                    .filter(|c| c.len() == 2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]).to_string())
                    .collect();
                format!(
                    "write 0x{:04X} x{} = [{}]",
                    be(body, 2),
                    be(body, 4),
                    vals.join(", ")
                )
            }
            (0x10, false) if body.len() >= 6 => {
                format!("wrote 0x{:04X} x{}", be(body, 2), be(body, 4))
            }
            _ => format!("function 0x{f:02X}"),
        }
    };
    format!("unit {unit} {what}; {crc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_known_vector() {
        // Read input registers, unit 1, addr 0, count 1: well-known frame 01 04 00 00 00 01 31 CA
        let f = frame(1, &read_pdu(4, 0, 1));
        assert_eq!(f, vec![0x01, 0x04, 0x00, 0x00, 0x00, 0x01, 0x31, 0xCA]);
        assert!(crc_ok(&f));
        let mut bad = f.clone();
        bad[3] ^= 1;
        assert!(!crc_ok(&bad));
    }

    #[test]
    fn lengths() {
        assert_eq!(response_len(&[1, 0x84], 4), Some(5));
        assert_eq!(response_len(&[1, 4, 14], 4), Some(19));
        assert_eq!(response_len(&[1, 4], 4), None);
        assert_eq!(request_len(&[1, 0x10, 1, 0, 0, 6, 12]), Some(Ok(21)));
        assert_eq!(request_len(&[1, 0x2B]), Some(Err(())));
    }

    #[test]
    fn t35_values() {
        assert_eq!(t35(115200), Duration::from_micros(1750));
        assert!(t35(9600) > Duration::from_micros(3600));
    }
}
