//! Just enough of the AMQP 1.0 type encoding to find where a value ends.
//!
//! A message is a run of encoded sections. The broker rewrites the header and the
//! message annotations on every delivery but must pass the application's sections
//! through byte for byte, so it splits a message at section boundaries instead of
//! decoding and re-encoding the whole thing.

/// Why a buffer is not a well-formed run of AMQP values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed AMQP encoding: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

fn width_prefixed(buf: &[u8], at: usize, width: usize) -> Result<usize, Malformed> {
    let end = at + width;
    let bytes = buf.get(at..end).ok_or(Malformed("truncated size"))?;
    let size = if width == 1 {
        bytes[0] as usize
    } else {
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
    };
    Ok(end + size)
}

/// The offset just past the value that starts at `at`.
pub fn value_end(buf: &[u8], at: usize) -> Result<usize, Malformed> {
    let code = *buf.get(at).ok_or(Malformed("truncated constructor"))?;
    let body = at + 1;
    let end = match code {
        // A described value: the descriptor, then the value it describes.
        0x00 => {
            let descriptor_end = value_end(buf, body)?;
            return value_end(buf, descriptor_end);
        }
        0x40..=0x45 => body,
        0x50..=0x56 => body + 1,
        0x60 | 0x61 => body + 2,
        0x70..=0x74 => body + 4,
        0x80..=0x84 => body + 8,
        0x94 | 0x98 => body + 16,
        0xa0 | 0xa1 | 0xa3 | 0xc0 | 0xc1 | 0xe0 => width_prefixed(buf, body, 1)?,
        0xb0 | 0xb1 | 0xb3 | 0xd0 | 0xd1 | 0xf0 => width_prefixed(buf, body, 4)?,
        _ => return Err(Malformed("unknown format code")),
    };
    if end > buf.len() {
        return Err(Malformed("value runs past the end"));
    }
    Ok(end)
}

/// The numeric descriptor of a described value starting at `at`, if it has one.
pub fn descriptor_code(buf: &[u8], at: usize) -> Option<u64> {
    if buf.get(at) != Some(&0x00) {
        return None;
    }
    match *buf.get(at + 1)? {
        0x44 => Some(0),
        0x53 => buf.get(at + 2).map(|b| u64::from(*b)),
        0x80 => {
            let b = buf.get(at + 2..at + 10)?;
            Some(u64::from_be_bytes(b.try_into().ok()?))
        }
        _ => None,
    }
}

/// The descriptor codes of the message sections (AMQP 1.0 part 3.2).
pub mod section {
    /// header
    pub const HEADER: u64 = 0x70;
    /// delivery-annotations
    pub const DELIVERY_ANNOTATIONS: u64 = 0x71;
    /// message-annotations
    pub const MESSAGE_ANNOTATIONS: u64 = 0x72;
    /// properties
    pub const PROPERTIES: u64 = 0x73;
    /// application-properties
    pub const APPLICATION_PROPERTIES: u64 = 0x74;
    /// data (a body section)
    pub const DATA: u64 = 0x75;
}

/// One section of an encoded message: its descriptor code and byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// The section's descriptor code (see [`section`]).
    pub code: u64,
    /// Where the section starts in the message.
    pub start: usize,
    /// Where it ends (exclusive).
    pub end: usize,
}

/// Splits an encoded message into its sections.
pub fn sections(buf: &[u8]) -> Result<Vec<Section>, Malformed> {
    let mut out = Vec::with_capacity(6);
    let mut at = 0;
    while at < buf.len() {
        let code =
            descriptor_code(buf, at).ok_or(Malformed("a section is not a described value"))?;
        let end = value_end(buf, at)?;
        out.push(Section {
            code,
            start: at,
            end,
        });
        at = end;
    }
    Ok(out)
}

/// The payload of a `data` section starting at `at`.
pub fn data_payload(buf: &[u8], section: Section) -> Result<&[u8], Malformed> {
    // descriptor: 0x00 0x53 0x75, then vbin8 (0xa0 len) or vbin32 (0xb0 len).
    let value = value_end(buf, section.start + 1)?;
    match buf.get(value) {
        Some(0xa0) => Ok(&buf[value + 2..section.end]),
        Some(0xb0) => Ok(&buf[value + 5..section.end]),
        _ => Err(Malformed("a data section does not hold binary")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_of_each_width() {
        assert_eq!(value_end(&[0x40], 0), Ok(1));
        assert_eq!(value_end(&[0x53, 7], 0), Ok(2));
        assert_eq!(value_end(&[0x71, 0, 0, 0, 1], 0), Ok(5));
        assert_eq!(value_end(&[0xa1, 2, b'h', b'i'], 0), Ok(4));
        assert_eq!(value_end(&[0xb0, 0, 0, 0, 1, 9], 0), Ok(6));
        assert_eq!(value_end(&[0x00, 0x53, 0x75, 0xa0, 1, 9], 0), Ok(6));
    }

    #[test]
    fn truncated_values_are_refused() {
        assert!(value_end(&[0xa1, 5, b'h'], 0).is_err());
        assert!(value_end(&[0xb0, 0, 0], 0).is_err());
        assert!(value_end(&[0xff], 0).is_err());
        assert!(value_end(&[], 0).is_err());
        assert!(sections(&[0x53, 1]).is_err());
    }

    #[test]
    fn splits_sections_and_reads_data() {
        let msg = [0x00, 0x53, 0x70, 0x45, 0x00, 0x53, 0x75, 0xa0, 2, 1, 2];
        let s = sections(&msg).expect("sections");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].code, section::HEADER);
        assert_eq!(s[1].code, section::DATA);
        assert_eq!(data_payload(&msg, s[1]).expect("data"), &[1, 2]);
    }
}
