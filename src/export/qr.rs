//! An invite link as a QR code to print (扫码加入): a grey-scale PNG, dark modules on white
//! with the standard four-module quiet zone, large enough to scan from a printed page.

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module: a 33-module code (a t.me link) prints about 4 cm wide at 96 dpi.
const MODULE_PX: usize = 6;
const QUIET_MODULES: usize = 4;

/// The PNG of `text` as a QR code.
pub fn png(text: &str) -> anyhow::Result<Vec<u8>> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_MODULES) * MODULE_PX;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET_MODULES, i / modules + QUIET_MODULES);
        for y in my * MODULE_PX..(my + 1) * MODULE_PX {
            pixels[y * side + mx * MODULE_PX..y * side + (mx + 1) * MODULE_PX].fill(0);
        }
    }
    grey_png(side as u32, side as u32, &pixels)
}

/// Encodes 8-bit grey-scale pixels, row by row, as a PNG.
pub fn grey_png(width: u32, height: u32, pixels: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// Decodes a PNG made by `png` back to its text (as the scenario tests do).
    pub fn decode(png_bytes: &[u8]) -> String {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn a_link_comes_back_from_its_picture() {
        let link = "https://t.me/exam_review_bot?start=AbCdEfGhIjKlMnOpQrSt";
        assert_eq!(decode(&super::png(link).unwrap()), link);
    }
}
