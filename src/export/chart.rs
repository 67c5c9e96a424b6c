//! Bar charts as pictures, for people who would rather look than read a column of numbers: a
//! grey-scale PNG with the bars, their counts above and their labels below, drawn with a small
//! bitmap font of digits and punctuation built in here (no system font is needed; the Chinese
//! title and legend go in the message beside the picture).

/// The picture's size in pixels.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 360;

/// Glyphs 5 pixels wide and 7 high, a row per byte (bit 4 is the leftmost pixel).
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' | '–' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        ' ' => [0; 7],
        _ => return None,
    })
}

/// A grey-scale canvas.
struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Canvas {
        Canvas {
            pixels: vec![255; (WIDTH * HEIGHT) as usize],
        }
    }

    fn fill(&mut self, x0: u32, y0: u32, x1: u32, y1: u32, shade: u8) {
        for y in y0.min(HEIGHT)..y1.min(HEIGHT) {
            for x in x0.min(WIDTH)..x1.min(WIDTH) {
                self.pixels[(y * WIDTH + x) as usize] = shade;
            }
        }
    }

    /// Text of the glyphs above, `scale` pixels a dot, centred on `cx`; other characters are
    /// left out.
    fn text(&mut self, text: &str, cx: u32, top: u32, scale: u32) {
        let glyphs: Vec<[u8; 7]> = text.chars().filter_map(glyph).collect();
        let width = glyphs.len() as u32 * 6 * scale;
        let mut x = cx.saturating_sub(width / 2);
        for g in glyphs {
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let (px, py) = (x + col * scale, top + row as u32 * scale);
                        self.fill(px, py, px + scale, py + scale, 0);
                    }
                }
            }
            x += 6 * scale;
        }
    }
}

/// A bar per (label, count), left to right, scaled to the largest count.
pub fn bars(data: &[(String, u32)]) -> anyhow::Result<Vec<u8>> {
    let mut canvas = Canvas::new();
    let (left, right, top, bottom) = (30u32, WIDTH - 30, 40u32, HEIGHT - 50);
    // The axis.
    canvas.fill(left, bottom, right, bottom + 2, 0);
    let most = data.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let slot = (right - left) / (data.len().max(1) as u32);
    for (i, (label, count)) in data.iter().enumerate() {
        let x0 = left + i as u32 * slot + slot / 6;
        let x1 = left + (i as u32 + 1) * slot - slot / 6;
        let height = (u64::from(bottom - top) * u64::from(*count) / u64::from(most)) as u32;
        canvas.fill(x0, bottom - height, x1, bottom, 90);
        let cx = (x0 + x1) / 2;
        canvas.text(
            &count.to_string(),
            cx,
            (bottom - height).saturating_sub(22),
            2,
        );
        canvas.text(label, cx, bottom + 12, 2);
    }
    super::qr::grey_png(WIDTH, HEIGHT, &canvas.pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_band_label_and_count_can_be_drawn() {
        for c in "0123456789.–-%/ ".chars() {
            assert!(glyph(c).is_some(), "{c}");
        }
    }

    #[test]
    fn a_chart_is_a_png_of_its_size_with_bars_in_proportion() {
        let png_bytes = bars(&[("30".into(), 10), ("27–29.5".into(), 5)]).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        // Down the middle of each bar: the second is half as tall as the first.
        let column = |x: u32| {
            (0..HEIGHT)
                .filter(|y| buf[(y * WIDTH + x) as usize] == 90)
                .count()
        };
        let (first, second) = (column(30 + 145), column(30 + 290 + 145));
        assert!(
            first > 0 && (first as i64 - 2 * second as i64).abs() <= 2,
            "{first} {second}"
        );
    }
}
