//! Reads an office's table — .xlsx, or .csv saved by Excel in UTF-8 or GB18030/GBK — into rows
//! of cell texts under a header, so that the checks never care where a row came from.

use super::Problem;
use anyhow::{Context, bail};
use calamine::{Data, Reader};
use std::path::Path;

/// The cells of a table: a header and data rows numbered as a spreadsheet shows them (the header
/// is row 1). Rows are read one at a time into a buffer the caller reuses, so that a file of a
/// million rows costs no allocation per cell.
pub struct Table {
    pub header: Vec<String>,
    source: Source,
    /// Rows read so far, blank ones and unreadable ones too, and the most this table may have.
    read: usize,
    bound: RowBound,
}

/// The most rows a table is read to, and why that many (said when a file has more).
#[derive(Debug, Clone)]
struct RowBound {
    rows: usize,
    why: String,
    crossed: bool,
}

enum Source {
    Csv {
        reader: csv::Reader<Box<dyn std::io::Read + Send>>,
        record: csv::StringRecord,
        row: usize,
    },
    /// An .xlsx sheet read cell by cell on a thread of its own, a few rows ahead of the checks.
    Stream {
        rows: SheetReader,
        last: usize,
        ended: bool,
    },
}

/// The reading thread of an .xlsx and the receiving end of its queue. Dropped (the import is
/// done, or gave up), it closes the queue, which stops the thread at its next row, and waits
/// for it: no reader outlives its table (the xlsx fuzz target's leak check found detached
/// readers still running after their table was gone).
struct SheetReader {
    rows: Option<std::sync::mpsc::Receiver<Streamed>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SheetReader {
    fn recv(&self) -> Result<Streamed, std::sync::mpsc::RecvError> {
        match &self.rows {
            Some(rows) => rows.recv(),
            None => Err(std::sync::mpsc::RecvError),
        }
    }
}

impl Drop for SheetReader {
    fn drop(&mut self) {
        drop(self.rows.take());
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

/// What the .xlsx reading thread sends: rows with their spreadsheet row number (the header is
/// row 1), then `End`, or `Failed` with the reason. A thread that stops without either died.
enum Streamed {
    Row(usize, Vec<String>),
    Failed(String),
    End,
}

/// Columns beyond this are not read: no form has more than a few dozen.
const MAX_COLUMNS: u32 = 256;

impl Table {
    /// Opens an office's file, refusing one above `limits.max_file_mb` before reading it.
    pub fn open(path: &Path, limits: &crate::config::Limits) -> anyhow::Result<Table> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let size = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        if size > limits.max_file_mb * 1024 * 1024 {
            bail!(
                "{}: the file has {} MB, more than the {} MB an import reads (limits.max_file_mb)",
                path.display(),
                size.div_ceil(1024 * 1024),
                limits.max_file_mb
            );
        }
        let table = match ext.as_str() {
            "csv" | "txt" => Table::from_csv_file(path),
            "xlsx" | "xlsm" => Table::from_xlsx_streamed(
                path,
                size.saturating_mul(limits.max_declared_cells_per_byte),
                limits.max_unpacked_mb.saturating_mul(1024 * 1024),
            ),
            // Read whole, their sheets' sizes unbounded (an .xls grid of 65,536 × 256 cells,
            // an .ods a zip like any other): Excel and WPS save either as .xlsx.
            "xls" | "ods" => bail!(
                "{}: .{ext} is not read; save it as .xlsx (Excel: 另存为 → Excel 工作簿) or .csv",
                path.display()
            ),
            _ => bail!(
                "{}: unsupported file type; use .xlsx or .csv (UTF-8 or GB18030)",
                path.display()
            ),
        }?;
        Ok(table.at_most(
            usize::try_from(limits.max_rows).unwrap_or(usize::MAX),
            "（limits.max_rows）",
        ))
    }

    fn new(header: Vec<String>, source: Source) -> Table {
        Table {
            header,
            source,
            read: 0,
            bound: RowBound {
                rows: usize::MAX,
                why: String::new(),
                crossed: false,
            },
        }
    }

    /// Reads at most `rows` rows after the header (blank ones count), `why` saying where that
    /// number comes from: a row past it ends the table with one problem. A file cannot make a
    /// check hold more than its kind can have (an entry sheet, its batch's candidates).
    pub fn at_most(mut self, rows: usize, why: &str) -> Table {
        if rows <= self.bound.rows {
            self.bound.rows = rows;
            self.bound.why = why.to_string();
        }
        self
    }

    /// The bound for a file of one row per candidate of a roster of `roster` candidates: the
    /// roster and a margin for rows an office adds by mistake, which are then refused by name.
    pub fn rows_for_roster(roster: usize) -> usize {
        roster + roster / 10 + 100
    }

    /// A CSV file, read as it is parsed (a province's file is hundreds of MB).
    fn from_csv_file(path: &Path) -> anyhow::Result<Table> {
        let cannot = || format!("cannot read {}", path.display());
        let file = std::fs::File::open(path).with_context(cannot)?;
        Table::from_csv_input(Box::new(file)).with_context(cannot)
    }

    /// CSV in UTF-8 (with or without BOM) or, when the bytes are not UTF-8, GB18030 (a superset
    /// of GBK, which is what Excel on a Chinese Windows saves).
    pub fn from_csv_bytes(bytes: Vec<u8>) -> anyhow::Result<Table> {
        Table::from_csv_input(Box::new(std::io::Cursor::new(bytes)))
    }

    /// The header row decides the encoding: it always holds Chinese column names, whose GB18030
    /// bytes are not valid UTF-8. Either way the text is parsed as it is read.
    fn from_csv_input(input: Box<dyn std::io::Read + Send>) -> anyhow::Result<Table> {
        use std::io::BufRead;
        let mut input = std::io::BufReader::with_capacity(1 << 16, input);
        let header_is_utf8 = {
            let head = input.fill_buf()?;
            let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
            std::str::from_utf8(line).is_ok()
        };
        let text: Box<dyn std::io::Read + Send> = match header_is_utf8 {
            true => Box::new(input),
            false => Box::new(super::text::Gb18030::new(input)),
        };
        Table::from_csv_reader(Box::new(super::text::Lines::new(
            text,
            super::text::MAX_LINE_BYTES,
        )))
    }

    /// CSV text in UTF-8; a record that is not is reported as a problem of its row.
    fn from_csv_reader(input: Box<dyn std::io::Read + Send>) -> anyhow::Result<Table> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut record = csv::StringRecord::new();
        if !reader
            .read_record(&mut record)
            .context("cannot read the header row")?
        {
            bail!("the file is empty");
        }
        let header = record.iter().map(normalize_header).collect();
        Ok(Table::new(
            header,
            Source::Csv {
                reader,
                record,
                row: 1,
            },
        ))
    }

    /// .xlsx, streamed: the sheet's cells are read in file order on a thread of its own and
    /// handed over a row at a time through a short queue, so memory holds a few rows, never the
    /// grid the sheet declares. A sheet declaring more than `max_declared_cells` cells is refused
    /// before any cell is read.
    fn from_xlsx_streamed(
        path: &Path,
        max_declared_cells: u64,
        max_unpacked: u64,
    ) -> anyhow::Result<Table> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open workbook {}", path.display()))?;
        let source = std::io::BufReader::new(file);
        Table::from_xlsx_source(source, max_declared_cells, max_unpacked)
            .with_context(|| path.display().to_string())
    }

    /// An .xlsx held in memory (a fuzzer's input), read as a file is.
    pub fn from_xlsx_bytes(bytes: Vec<u8>, max_declared_cells: u64) -> anyhow::Result<Table> {
        let max_unpacked = crate::config::Limits::default().max_unpacked_mb * 1024 * 1024;
        Table::from_xlsx_source(
            std::io::Cursor::new(bytes),
            max_declared_cells,
            max_unpacked,
        )
    }

    /// Every part is inflated and counted first (`unpack::inspect`): the reader below holds
    /// some parts whole.
    fn from_xlsx_source<RS>(
        mut source: RS,
        max_declared_cells: u64,
        max_unpacked: u64,
    ) -> anyhow::Result<Table>
    where
        RS: std::io::Read + std::io::Seek + Send + 'static,
    {
        super::unpack::inspect(&mut source, max_unpacked)?;
        let (sender, rows) = std::sync::mpsc::sync_channel::<Streamed>(64);
        let thread = std::thread::spawn(move || {
            let outcome = stream_xlsx(source, max_declared_cells, &sender);
            let last = match outcome {
                Ok(()) => Streamed::End,
                Err(e) => Streamed::Failed(format!("{e:#}")),
            };
            sender.send(last).ok();
        });
        let rows = SheetReader {
            rows: Some(rows),
            thread: Some(thread),
        };
        let header = match rows.recv() {
            Ok(Streamed::Row(_, cells)) => cells.iter().map(|c| normalize_header(c)).collect(),
            Ok(Streamed::End) => bail!("the first sheet is empty"),
            Ok(Streamed::Failed(e)) => bail!("{e}"),
            Err(_) => bail!("reading the sheet failed"),
        };
        Ok(Table::new(
            header,
            Source::Stream {
                rows,
                last: 1,
                ended: false,
            },
        ))
    }

    /// Reads the next data row into `cells` and returns its row number. Blank rows (all cells
    /// empty, as Excel leaves at the end) are skipped.
    pub fn next_row(&mut self, cells: &mut Vec<String>) -> Option<Result<usize, Problem>> {
        loop {
            if self.bound.crossed {
                return None;
            }
            self.read += 1;
            if self.read > self.bound.rows {
                self.bound.crossed = true;
                let reason = format!(
                    "文件超过 {} 行{}，其余未读；请只保留本表应有的行",
                    self.bound.rows, self.bound.why
                );
                return Some(Err(Problem::new(self.read + 1, "(文件)", "", reason)));
            }
            let n = match &mut self.source {
                Source::Csv {
                    reader,
                    record,
                    row,
                } => {
                    *row += 1;
                    match reader.read_record(record) {
                        Ok(false) => return None,
                        Ok(true) => {}
                        Err(e) => {
                            // A failed read (an endless line) ends the file; a bad record
                            // (not UTF-8) is its row's problem.
                            if let csv::ErrorKind::Io(e) = e.kind() {
                                self.bound.crossed = true;
                                let reason = format!("读取文件失败：{e}");
                                return Some(Err(Problem::new(*row, "(文件)", "", reason)));
                            }
                            let reason = format!("CSV 格式错误：{e}");
                            return Some(Err(Problem::new(*row, "(整行)", "", reason)));
                        }
                    }
                    fill(cells, record.iter());
                    *row
                }
                Source::Stream { rows, last, ended } => {
                    if *ended {
                        return None;
                    }
                    let failed = |ended: &mut bool, at: usize, reason: String| {
                        *ended = true;
                        Some(Err(Problem::new(at, "(文件)", "", reason)))
                    };
                    match rows.recv() {
                        Ok(Streamed::Row(n, next)) => {
                            fill(cells, next.iter().map(String::as_str));
                            *last = n;
                            n
                        }
                        Ok(Streamed::End) => {
                            *ended = true;
                            return None;
                        }
                        Ok(Streamed::Failed(e)) => {
                            return failed(ended, *last + 1, format!("读取表格失败：{e}"));
                        }
                        Err(_) => {
                            return failed(ended, *last + 1, "读取表格中断".to_string());
                        }
                    }
                }
            };
            if cells.iter().any(|c| !c.is_empty()) {
                return Some(Ok(n));
            }
        }
    }
}

/// The reading thread of a streamed .xlsx: the first sheet's cells in file order, gathered into
/// rows. Cells come row by row in every file Excel or WPS writes; a row seen again later simply
/// starts a new row.
fn stream_xlsx<RS: std::io::Read + std::io::Seek>(
    source: RS,
    max_declared_cells: u64,
    out: &std::sync::mpsc::SyncSender<Streamed>,
) -> anyhow::Result<()> {
    let mut book = calamine::Xlsx::new(source).context("cannot open the workbook")?;
    let name = book
        .sheet_names()
        .first()
        .cloned()
        .context("the workbook has no sheet")?;
    let mut reader = book
        .worksheet_cells_reader(&name)
        .context("cannot read the first sheet")?;
    let dim = reader.dimensions();
    let declared = (u64::from(dim.end.0.saturating_sub(dim.start.0)) + 1)
        * (u64::from(dim.end.1.saturating_sub(dim.start.1)) + 1);
    if declared > max_declared_cells.max(1_000_000) {
        bail!(
            "the sheet declares {} rows × {} columns, out of proportion to a file of this size; \
             save it again from Excel (or as .csv) after deleting the empty rows and columns",
            dim.end.0.saturating_sub(dim.start.0) + 1,
            dim.end.1.saturating_sub(dim.start.1) + 1
        );
    }
    let (first_row, first_col) = (dim.start.0, dim.start.1);
    let mut current: Option<(u32, Vec<String>)> = None;
    while let Some(cell) = reader.next_cell().context("the sheet is damaged")? {
        let (r, c) = cell.get_position();
        if c < first_col || c - first_col >= MAX_COLUMNS || r < first_row {
            continue;
        }
        let col = (c - first_col) as usize;
        if current.as_ref().is_some_and(|(at, _)| *at != r)
            && let Some((at, cells)) = current.take()
        {
            let row = (at - first_row) as usize + 1;
            if out.send(Streamed::Row(row, cells)).is_err() {
                return Ok(());
            }
        }
        let (_, cells) = current.get_or_insert_with(|| (r, Vec::new()));
        if cells.len() <= col {
            cells.resize(col + 1, String::new());
        }
        cells[col] = cell_text(&Data::from(cell.get_value().clone()));
    }
    if let Some((at, cells)) = current {
        out.send(Streamed::Row((at - first_row) as usize + 1, cells))
            .ok();
    }
    Ok(())
}

/// Overwrites `cells` with trimmed copies of `values`, keeping the buffers' capacity.
fn fill<'a>(cells: &mut Vec<String>, values: impl Iterator<Item = &'a str>) {
    let mut i = 0;
    for v in values {
        if i < cells.len() {
            cells[i].clear();
            cells[i].push_str(v.trim());
        } else {
            cells.push(v.trim().to_string());
        }
        i += 1;
    }
    cells.truncate(i);
}

/// "姓  名", "姓　名" and "姓名" are the same column.
fn normalize_header(h: &str) -> String {
    h.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{feff}')
        .collect()
}

/// A cell as the text an office typed: whole numbers without ".0", dates as YYYY-MM-DD.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                // Scores like 28.5 come as floats; Excel's binary noise (28.499999) is rounded.
                let s = format!("{f:.4}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
        }
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(dt) if dt.time() == chrono::NaiveTime::MIN => dt.date().to_string(),
            Some(dt) => dt.to_string(),
            None => d.as_f64().to_string(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Finds the columns a checker needs by header name.
pub struct Columns {
    positions: Vec<Option<usize>>,
}

impl Columns {
    /// `required` must all be present; `optional` may be missing. Returns the missing ones as an
    /// error naming them.
    pub fn locate(header: &[String], required: &[&str], optional: &[&str]) -> anyhow::Result<Self> {
        let find = |name: &str| header.iter().position(|h| h == name);
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|n| find(n).is_none())
            .collect();
        if !missing.is_empty() {
            bail!(
                "the header row lacks column(s): {} (found: {})",
                missing.join(", "),
                header.join(", ")
            );
        }
        Ok(Columns {
            positions: required.iter().chain(optional).map(|n| find(n)).collect(),
        })
    }

    /// The cell of column number `i` (in the order given to `locate`), "" when absent.
    pub fn get<'a>(&self, row: &'a [String], i: usize) -> &'a str {
        self.positions[i]
            .and_then(|p| row.get(p))
            .map_or("", String::as_str)
    }

    pub fn has(&self, i: usize) -> bool {
        self.positions[i].is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GB18030 and UTF-8 with a BOM, from a file (streamed or read whole) and from bytes.
    #[test]
    fn both_encodings_read_the_same_from_files_and_bytes() {
        let text = "代码,名称\nA1,焦作市第一中学\nA2,\"修武县, 实验中学\"\n";
        let (gbk, _, _) = encoding_rs::GB18030.encode(text);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(text.as_bytes());
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [("gbk.csv", gbk.into_owned()), ("bom.csv", bom)] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            for mut t in [
                Table::open(&path, &Default::default()).unwrap(),
                Table::from_csv_bytes(bytes.clone()).unwrap(),
            ] {
                assert_eq!(t.header, vec!["代码", "名称"], "{name}");
                let mut cells = Vec::new();
                assert_eq!(t.next_row(&mut cells).unwrap().unwrap(), 2);
                assert_eq!(cells, vec!["A1".to_string(), "焦作市第一中学".to_string()]);
                assert_eq!(t.next_row(&mut cells).unwrap().unwrap(), 3);
                assert_eq!(cells[1], "修武县, 实验中学", "{name}");
                assert!(t.next_row(&mut cells).is_none());
            }
        }
    }

    /// A few-KB workbook whose one far cell declares 1,048,576 × 16,384 cells is refused before
    /// a cell is read; the same cells inside a sane range read as rows.
    #[test]
    fn a_sheet_out_of_proportion_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.xlsx");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "准考证号").unwrap();
        sheet.write_string(1_048_575, 16_383, "x").unwrap();
        book.save(&path).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() < 8_000);
        let err = Table::open(&path, &Default::default()).err().unwrap();
        let text = format!("{err:#}");
        assert!(text.contains("1048576 rows × 16384 columns"), "{text}");

        let path = dir.path().join("sparse.xlsx");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "代码").unwrap();
        sheet.write_string(0, 1, "名称").unwrap();
        sheet.write_string(1, 0, "A1").unwrap();
        sheet.write_number(3, 1, 28.5).unwrap();
        book.save(&path).unwrap();
        let mut t = Table::open(&path, &Default::default()).unwrap();
        assert_eq!(t.header, vec!["代码", "名称"]);
        let mut cells = Vec::new();
        assert_eq!(t.next_row(&mut cells).unwrap().unwrap(), 2);
        assert_eq!(cells, vec!["A1".to_string()]);
        // Row 3 is blank; row 4 has only its second cell.
        assert_eq!(t.next_row(&mut cells).unwrap().unwrap(), 4);
        assert_eq!(cells, vec![String::new(), "28.5".to_string()]);
        assert!(t.next_row(&mut cells).is_none());
    }

    /// Both are read whole by their reader, with no bound on a sheet's size.
    #[test]
    fn xls_and_ods_are_refused_with_what_to_save_instead() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["old.xls", "wps.ods"] {
            let path = dir.path().join(name);
            std::fs::write(&path, b"not read").unwrap();
            let err = format!(
                "{:#}",
                Table::open(&path, &Default::default()).err().unwrap()
            );
            assert!(err.contains("save it as .xlsx"), "{err}");
        }
    }

    #[test]
    fn a_file_above_the_size_limit_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, vec![b'a'; 2 * 1024 * 1024]).unwrap();
        let limits = crate::config::Limits {
            max_file_mb: 1,
            ..Default::default()
        };
        let err = format!("{:#}", Table::open(&path, &limits).err().unwrap());
        assert!(err.contains("more than the 1 MB"), "{err}");
    }
}
