//! Files made to take a reader down: small on the wire, enormous or endless once read. The
//! regression tests send each at a small scale, the bombs bench at the size an office may send;
//! each must be refused quickly with the process's memory bounded.

use std::io::Write;

/// One way a file attacks its reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bomb {
    /// An .xlsx of hundreds of thousands of short rows, with no `<dimension>` to declare them.
    TinyRows,
    /// An .xlsx whose shared strings (read whole by the reader) unpack to gigabytes.
    SharedStrings,
    /// An .xlsx whose shared strings fill the bound just short of it: the most the reader is
    /// let hold, before the file is refused for what its rows lack.
    SharedStringsAtTheBound,
    /// An .xlsx whose one cell holds a text of hundreds of megabytes.
    HugeCell,
    /// An .xlsx of tens of thousands of parts (one sheet each).
    ManySheets,
    /// An .xlsx whose sheet nests elements a million deep.
    DeepXml,
    /// A .csv of one line without end.
    EndlessLine,
    /// A .csv of millions of empty rows.
    EmptyLines,
}

impl Bomb {
    pub const ALL: [Bomb; 8] = [
        Bomb::TinyRows,
        Bomb::SharedStrings,
        Bomb::SharedStringsAtTheBound,
        Bomb::HugeCell,
        Bomb::ManySheets,
        Bomb::DeepXml,
        Bomb::EndlessLine,
        Bomb::EmptyLines,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Bomb::TinyRows => "tiny-rows.xlsx",
            Bomb::SharedStrings => "shared-strings.xlsx",
            Bomb::SharedStringsAtTheBound => "shared-strings-at-the-bound.xlsx",
            Bomb::HugeCell => "huge-cell.xlsx",
            Bomb::ManySheets => "many-sheets.xlsx",
            Bomb::DeepXml => "deep-xml.xlsx",
            Bomb::EndlessLine => "endless-line.csv",
            Bomb::EmptyLines => "empty-lines.csv",
        }
    }

    /// The file at `scale`: 1 is a test's small instance (over every bound, built in a moment);
    /// the bench raises it until the file nears the size an office may send.
    pub fn build(self, scale: usize) -> Vec<u8> {
        let header = header_row();
        match self {
            Bomb::TinyRows => {
                let rows = 20_000 * scale;
                let mut sheet = sheet_start(&header);
                for r in 2..rows + 2 {
                    sheet.push_str(&format!(
                        "<row r=\"{r}\"><c r=\"A{r}\"><v>{r}</v></c></row>"
                    ));
                }
                xlsx(&[("xl/worksheets/sheet1.xml", sheet_end(sheet))], None)
            }
            Bomb::SharedStrings => shared_strings(&header, 800_000 * scale),
            // 22 bytes a string: 15.4 MB, under the 16 MB a part may unpack to, at any scale.
            Bomb::SharedStringsAtTheBound => shared_strings(&header, 700_000),
            Bomb::HugeCell => {
                let mut sheet = sheet_start(&header);
                sheet.push_str("<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>");
                sheet.push_str(&"1".repeat(2_000_000 * scale));
                sheet.push_str("</t></is></c></row>");
                xlsx(&[("xl/worksheets/sheet1.xml", sheet_end(sheet))], None)
            }
            Bomb::ManySheets => {
                let sheets = 2_000 * scale;
                let sheet = sheet_end(sheet_start(&header));
                let mut parts = vec![("xl/worksheets/sheet1.xml".to_string(), sheet)];
                for i in 2..=sheets {
                    parts.push((format!("xl/worksheets/sheet{i}.xml"), Vec::new()));
                }
                let parts: Vec<(&str, Vec<u8>)> =
                    parts.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
                xlsx(&parts, None)
            }
            Bomb::DeepXml => {
                let depth = 1_000_000 * scale;
                let mut sheet = sheet_start(&header);
                sheet.push_str("<row r=\"2\">");
                sheet.push_str(&"<x>".repeat(depth));
                sheet.push_str(&"</x>".repeat(depth));
                sheet.push_str("</row>");
                xlsx(&[("xl/worksheets/sheet1.xml", sheet_end(sheet))], None)
            }
            Bomb::EndlessLine => {
                let mut csv = header.join(",").into_bytes();
                csv.push(b'\n');
                csv.extend(std::iter::repeat_n(b'1', 2_000_000 * scale));
                csv
            }
            Bomb::EmptyLines => {
                let mut csv = header.join(",").into_bytes();
                csv.push(b'\n');
                let blank = ",".repeat(header.len() - 1) + "\n";
                csv.extend(blank.repeat(200_000 * scale).into_bytes());
                csv
            }
        }
    }
}

const NS: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";

/// A workbook of `strings` shared strings (22 bytes each) and a sheet of the header alone.
fn shared_strings(header: &[String], strings: usize) -> Vec<u8> {
    let mut sst = format!("<sst xmlns=\"{NS}\" count=\"1\" uniqueCount=\"1\">");
    for _ in 0..strings {
        sst.push_str("<si><t>焦作</t></si>");
    }
    sst.push_str("</sst>");
    let sheet = sheet_start(header);
    xlsx(
        &[("xl/worksheets/sheet1.xml", sheet_end(sheet))],
        Some(sst.into_bytes()),
    )
}

/// The scores file's columns: every bomb looks like the file its reader expects.
fn header_row() -> Vec<String> {
    super::scores::REQUIRED
        .iter()
        .chain(super::scores::ITEMS.iter())
        .map(|c| c.to_string())
        .collect()
}

fn sheet_start(header: &[String]) -> String {
    let mut sheet =
        format!("<?xml version=\"1.0\"?><worksheet xmlns=\"{NS}\"><sheetData><row r=\"1\">");
    for (i, h) in header.iter().enumerate() {
        let col = (b'A' + i as u8) as char;
        sheet.push_str(&format!(
            "<c r=\"{col}1\" t=\"inlineStr\"><is><t>{h}</t></is></c>"
        ));
    }
    sheet.push_str("</row>");
    sheet
}

fn sheet_end(mut sheet: String) -> Vec<u8> {
    sheet.push_str("</sheetData></worksheet>");
    sheet.into_bytes()
}

/// A workbook of the given parts (the first is its one listed sheet), with the relations and
/// content types a reader looks for.
fn xlsx(parts: &[(&str, Vec<u8>)], shared_strings: Option<Vec<u8>>) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    let mut put = |name: &str, bytes: &[u8]| {
        zip.start_file(name, options).expect("a zip part starts");
        zip.write_all(bytes).expect("a zip part is written");
    };
    put(
        "[Content_Types].xml",
        b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>\
</Types>",
    );
    put(
        "_rels/.rels",
        b"<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>\
</Relationships>",
    );
    put(
        "xl/workbook.xml",
        format!(
            "<?xml version=\"1.0\"?><workbook xmlns=\"{NS}\" \
xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">\
<sheets><sheet name=\"成绩\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"
        )
        .as_bytes(),
    );
    let mut rels = String::from(
        "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/>",
    );
    if shared_strings.is_some() {
        rels.push_str("<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings\" Target=\"sharedStrings.xml\"/>");
    }
    rels.push_str("</Relationships>");
    put("xl/_rels/workbook.xml.rels", rels.as_bytes());
    if let Some(sst) = &shared_strings {
        put("xl/sharedStrings.xml", sst);
    }
    for (name, bytes) in parts {
        put(name, bytes);
    }
    zip.finish().expect("the zip is finished").into_inner()
}
