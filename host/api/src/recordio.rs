//! RecordIO framing of the event streams (`docs/recordio.md`, rule 10): each record is
//! `<decimal byte length>\n<json>`.
//!
//! [`encode`] writes what strict clients need: compact one-line JSON, ASCII only (every other
//! character escaped as `\uXXXX`, with surrogate pairs above U+FFFF), so the length prefix is
//! both the byte and the character count. Each encoded record is meant to be sent as exactly one
//! HTTP chunk. [`Decoder`] reads a stream back, whatever the chunk boundaries.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::ser::Formatter;

/// serde_json's compact formatting (the trait's defaults), escaping every non-ASCII character.
pub struct AsciiFormatter;

impl Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Compact, one-line, ASCII-only JSON.
pub fn ascii_json_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, AsciiFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

/// Compact, one-line, ASCII-only JSON, as a `String`.
pub fn ascii_json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    // Every byte is ASCII, so each maps to the char of the same value.
    Ok(ascii_json_bytes(value)?
        .into_iter()
        .map(char::from)
        .collect())
}

/// One RecordIO record: `<length>\n<ascii json>`.
///
/// Fails only if `value`'s `Serialize` implementation does (never for this crate's types).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    Ok(frame(&ascii_json_bytes(value)?))
}

/// Frames bytes that are already a record's data.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// What can go wrong reading a RecordIO stream. After an error the stream cannot be resynced:
/// drop the decoder (and the connection).
#[derive(Debug, thiserror::Error)]
pub enum RecordIoError {
    #[error("bad RecordIO length line {0:?}")]
    BadLength(String),
    #[error("RecordIO record of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: u64, max: usize },
    #[error("RecordIO record is not valid JSON for the expected message: {0}")]
    Json(#[from] serde_json::Error),
}

/// The default limit on one record (64 MiB).
pub const DEFAULT_MAX_RECORD: usize = 64 << 20;

/// Longest length line accepted (`u64::MAX` has 20 digits).
const MAX_LENGTH_DIGITS: usize = 20;

/// Incremental RecordIO reader: push bytes as they arrive, pop complete records.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the bytes not yet returned start in `buf` (records are consumed by moving this,
    /// and `buf` is compacted once per `push`, not once per record).
    pos: usize,
    max_record: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::with_max_record(DEFAULT_MAX_RECORD)
    }

    /// A decoder that refuses records longer than `max_record` bytes.
    pub fn with_max_record(max_record: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            pos: 0,
            max_record,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as records.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next complete record's data, `Ok(None)` if more bytes are needed.
    pub fn pop(&mut self) -> Result<Option<Vec<u8>>, RecordIoError> {
        let pending = &self.buf[self.pos..];
        let Some(newline) = pending.iter().position(|&b| b == b'\n') else {
            if pending.len() > MAX_LENGTH_DIGITS || !pending.iter().all(u8::is_ascii_digit) {
                return Err(self.bad_length(pending.len()));
            }
            return Ok(None);
        };
        let digits = &pending[..newline];
        if digits.is_empty()
            || digits.len() > MAX_LENGTH_DIGITS
            || !digits.iter().all(u8::is_ascii_digit)
        {
            return Err(self.bad_length(newline));
        }
        let len = digits
            .iter()
            .try_fold(0u64, |acc, &d| {
                acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .ok_or_else(|| self.bad_length(newline))?;
        if len == 0 {
            return Err(self.bad_length(newline));
        }
        let len_usize = usize::try_from(len)
            .ok()
            .filter(|l| *l <= self.max_record)
            .ok_or(RecordIoError::TooLarge {
                len,
                max: self.max_record,
            })?;
        let start = newline + 1;
        let pending = &self.buf[self.pos..];
        if pending.len() - start < len_usize {
            return Ok(None);
        }
        let record = pending[start..start + len_usize].to_vec();
        self.pos += start + len_usize;
        Ok(Some(record))
    }

    /// The next complete record, parsed as JSON into `T`.
    pub fn pop_json<T: DeserializeOwned>(&mut self) -> Result<Option<T>, RecordIoError> {
        match self.pop()? {
            Some(data) => Ok(Some(serde_json::from_slice(&data)?)),
            None => Ok(None),
        }
    }

    fn bad_length(&self, upto: usize) -> RecordIoError {
        let shown = &self.buf[self.pos..][..upto.min(32)];
        RecordIoError::BadLength(String::from_utf8_lossy(shown).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_json_escapes_everything_outside_ascii() {
        let s = ascii_json(&serde_json::json!({"k\u{e9}y": "caf\u{e9} \u{1f600} \"q\"\n\u{7f}"}))
            .unwrap();
        assert_eq!(
            s,
            r#"{"k\u00e9y":"caf\u00e9 \ud83d\ude00 \"q\"\n"#.to_string() + "\u{7f}\"}"
        );
        assert!(s.is_ascii());
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["k\u{e9}y"], "caf\u{e9} \u{1f600} \"q\"\n\u{7f}");
    }

    #[test]
    fn rejects_garbage_length_lines() {
        for bad in [
            &b"12a\n{}"[..],
            b"\n{}",
            b"0\n",
            b"123456789012345678901\n",
            b"x",
        ] {
            let mut d = Decoder::new();
            d.push(bad);
            assert!(
                matches!(d.pop(), Err(RecordIoError::BadLength(_))),
                "{bad:?}"
            );
        }
        let mut d = Decoder::with_max_record(4);
        d.push(b"5\nabcde");
        assert!(matches!(
            d.pop(),
            Err(RecordIoError::TooLarge { len: 5, max: 4 })
        ));
        let mut d = Decoder::new();
        d.push(b"99999999999999999999\n");
        assert!(d.pop().is_err());
    }
}
