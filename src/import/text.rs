//! A .csv's bytes as the CSV parser takes them: decoded from GB18030 (what Excel on a Chinese
//! Windows saves) a buffer at a time, and cut off at a physical line longer than any form's
//! row, so that neither a file's encoding nor one endless line makes the reader hold it whole.

use std::io::{self, Read};

/// The longest physical line a table's file may have. A row of a form is a few hundred bytes;
/// the parser would hold a longer one whole.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// GB18030 in, UTF-8 out, through fixed buffers.
pub struct Gb18030<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    start: usize,
    end: usize,
    done: bool,
}

impl<R: Read> Gb18030<R> {
    pub fn new(inner: R) -> Self {
        let input = vec![0u8; 64 * 1024];
        let decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
        let room = decoder
            .max_utf8_buffer_length(input.len())
            .expect("a 64 KB buffer's decoded length fits a usize");
        Self {
            inner,
            decoder,
            input,
            output: vec![0u8; room],
            start: 0,
            end: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Gb18030<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.start == self.end {
            if self.done {
                return Ok(0);
            }
            let n = self.inner.read(&mut self.input)?;
            let last = n == 0;
            // The output holds what any 64 KB decodes to, so each call takes its input whole.
            let (_, read, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..n], &mut self.output, last);
            debug_assert_eq!(read, n);
            self.start = 0;
            self.end = written;
            self.done = last;
        }
        let n = buf.len().min(self.end - self.start);
        buf[..n].copy_from_slice(&self.output[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

/// Passes bytes through until a line runs past `max` bytes, then fails every read after.
pub struct Lines<R> {
    inner: R,
    since_newline: usize,
    max: usize,
    tripped: bool,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            since_newline: 0,
            max,
            tripped: false,
        }
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let too_long = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("一行超过 {} KB，不是表格的一行", MAX_LINE_BYTES / 1024),
            )
        };
        if self.tripped {
            return Err(too_long());
        }
        let n = self.inner.read(buf)?;
        let mut rest = &buf[..n];
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            if self.since_newline + i > self.max {
                self.tripped = true;
                return Err(too_long());
            }
            self.since_newline = 0;
            rest = &rest[i + 1..];
        }
        self.since_newline += rest.len();
        if self.since_newline > self.max {
            self.tripped = true;
            return Err(too_long());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb18030_decodes_across_buffer_edges() {
        let text = "代码,名称\n".repeat(20_000);
        let (gbk, _, _) = encoding_rs::GB18030.encode(&text);
        let mut out = String::new();
        Gb18030::new(&gbk[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn a_line_past_the_bound_fails_the_read() {
        let mut ok = String::new();
        Lines::new("ab\ncd\n".as_bytes(), 2)
            .read_to_string(&mut ok)
            .unwrap();
        assert_eq!(ok, "ab\ncd\n");
        let mut out = String::new();
        assert!(
            Lines::new("ab\ncde\n".as_bytes(), 2)
                .read_to_string(&mut out)
                .is_err()
        );
    }
}
