//! What an .xlsx may unpack to before the spreadsheet reader is let near it. An .xlsx is a zip
//! of XML parts, and deflate packs a thousand times: a 300 KB file can hold gigabytes of rows,
//! a shared-strings part the reader keeps whole in memory, or a directory of a million parts.
//! Each part is inflated here once, into nothing, counting: the reader then sees only a file
//! whose every part is known to be within bounds.

use anyhow::{Context, bail};
use std::io::{Read, Seek, SeekFrom};

/// The most parts an .xlsx may have (Excel writes a dozen or two, and one per sheet).
pub const MAX_PARTS: usize = 1_000;
/// The most a part other than a worksheet may unpack to: the reader holds these whole
/// (sharedStrings.xml, styles.xml, workbook.xml).
pub const MAX_PART_BYTES: u64 = 16 * 1024 * 1024;
/// The longest run of XML without a tag boundary: a cell's text or a tag. A real cell holds a
/// name or a number; the reader would hold a run of gigabytes whole.
pub const MAX_RUN_BYTES: u64 = 1024 * 1024;
/// The deepest nesting of elements. A sheet's cell text sits seven deep (worksheet, sheetData,
/// row, c, is, r, t); the XML reader keeps every open element's name, so a sheet nested fifty
/// million deep held 450 MB.
pub const MAX_DEPTH: u64 = 100;

/// Checks the zip's directory, then inflates every part, refusing the file at the first bound
/// it crosses: more than `MAX_PARTS` parts, a part other than a worksheet over `MAX_PART_BYTES`,
/// all parts together over `max_unpacked`, a run over `MAX_RUN_BYTES`, or a shared-strings part
/// announcing more strings than its bytes can hold. Leaves `source` at its start.
pub fn inspect<RS: Read + Seek>(source: &mut RS, max_unpacked: u64) -> anyhow::Result<()> {
    let parts = directory_entries(source)?;
    if parts > MAX_PARTS as u64 {
        bail!(
            "the workbook has {parts} parts, more than the {MAX_PARTS} a spreadsheet is read with"
        );
    }
    source.seek(SeekFrom::Start(0))?;
    let mut zip = zip::ZipArchive::new(&mut *source).context("cannot open the workbook")?;
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).context("the workbook is damaged")?;
        let name = part.name().unwrap_or_default().to_string();
        let is_sheet = name.starts_with("xl/worksheets/");
        let limit = match is_sheet {
            true => max_unpacked.saturating_sub(total),
            false => MAX_PART_BYTES.min(max_unpacked.saturating_sub(total)),
        };
        let mut run = Runs::default();
        let mut bytes = 0u64;
        loop {
            let n = part
                .read(&mut buf)
                .with_context(|| format!("the workbook's part {name} is damaged"))?;
            if n == 0 {
                break;
            }
            if bytes == 0 && name.ends_with("sharedStrings.xml") {
                announced_strings(&buf[..n], part.size())?;
            }
            bytes += n as u64;
            if bytes > limit {
                bail!(
                    "the workbook's part {name} unpacks to more than {} MB; save it again from \
                     Excel (or as .csv) with only the rows and columns of the form",
                    limit.div_ceil(1024 * 1024)
                );
            }
            run.feed(&buf[..n]);
            if run.longest > MAX_RUN_BYTES {
                bail!(
                    "the workbook's part {name} holds a cell or tag of more than {} KB",
                    MAX_RUN_BYTES / 1024
                );
            }
            if run.deepest > MAX_DEPTH {
                bail!("the workbook's part {name} nests elements more than {MAX_DEPTH} deep");
            }
        }
        total += bytes;
    }
    drop(zip);
    source.seek(SeekFrom::Start(0))?;
    Ok(())
}

/// The number of parts the zip's end record announces, read before the zip library builds its
/// directory in memory (a directory of a million entries is itself the bomb).
fn directory_entries<RS: Read + Seek>(source: &mut RS) -> anyhow::Result<u64> {
    const END: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    const END_LEN: u64 = 22;
    let len = source.seek(SeekFrom::End(0))?;
    let tail = len.min(END_LEN + u64::from(u16::MAX));
    source.seek(SeekFrom::Start(len - tail))?;
    let mut bytes = vec![0u8; tail as usize];
    source.read_exact(&mut bytes)?;
    let at = bytes
        .windows(4)
        .rposition(|w| w == END)
        .filter(|at| bytes.len() - at >= END_LEN as usize)
        .context("not an .xlsx workbook (no zip directory)")?;
    let entries = u16::from_le_bytes([bytes[at + 10], bytes[at + 11]]);
    // 0xFFFF says "see the zip64 record": a spreadsheet of an office never needs one.
    if entries == u16::MAX {
        bail!("the workbook uses the zip64 format, which no office spreadsheet needs");
    }
    Ok(u64::from(entries))
}

/// A shared-strings part announces its count up front, and the reader reserves room for that
/// many strings before reading one: a count beyond what the part's bytes can hold is a lie.
fn announced_strings(head: &[u8], declared_size: u64) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let Some(at) = text.find("uniqueCount=\"") else {
        return Ok(());
    };
    let digits: String = text[at + 13..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let count: u64 = digits.parse().unwrap_or(u64::MAX);
    // The shortest string entry, <si/>, takes five bytes.
    if count > MAX_PART_BYTES.min(declared_size.max(4096)) / 5 {
        bail!("the workbook's shared strings announce {count} strings, more than it can hold");
    }
    Ok(())
}

/// What a part's XML looks like from outside, read a chunk at a time: the longest run of bytes
/// between tag boundaries ('<' or '>'), and the deepest nesting of elements (an opening tag
/// goes one deeper, a closing or self-closing one back; declarations, comments and
/// instructions neither).
#[derive(Default)]
struct Runs {
    current: u64,
    longest: u64,
    depth: u64,
    deepest: u64,
    /// The byte before, across chunks: '<' opens a tag whose kind the next byte tells, '/'
    /// before '>' closes an empty element.
    prev: u8,
}

impl Runs {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'<' | b'>' => {
                    self.longest = self.longest.max(self.current);
                    self.current = 0;
                    if b == b'>' && self.prev == b'/' {
                        self.depth = self.depth.saturating_sub(1);
                    }
                }
                _ => {
                    self.current += 1;
                    if self.prev == b'<' {
                        match b {
                            b'/' => self.depth = self.depth.saturating_sub(1),
                            b'?' | b'!' => {}
                            _ => {
                                self.depth += 1;
                                self.deepest = self.deepest.max(self.depth);
                            }
                        }
                    }
                }
            }
            self.prev = b;
        }
        self.longest = self.longest.max(self.current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few hundred bytes that announce a billion strings: the reader would reserve room for
    /// them before reading one.
    #[test]
    fn a_count_of_strings_beyond_the_parts_bytes_is_refused() {
        let head = br#"<?xml version="1.0"?><sst uniqueCount="1000000000"><si><t>a</t></si>"#;
        let err = announced_strings(head, 300).unwrap_err();
        assert!(format!("{err}").contains("1000000000 strings"), "{err}");
        let fair = br#"<sst count="3" uniqueCount="3"><si><t>a</t></si>"#;
        announced_strings(fair, 300).unwrap();
    }

    #[test]
    fn runs_and_depth_span_chunks() {
        let mut r = Runs::default();
        r.feed(b"<?xml?><a>12");
        assert_eq!((r.longest, r.deepest), (5, 1));
        r.feed(b"345<");
        r.feed(b"b/><c");
        r.feed(b"><!-- x --></c></a>");
        assert_eq!((r.longest, r.deepest, r.depth), (8, 2, 0));
    }
}
