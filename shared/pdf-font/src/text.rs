//! Measuring, cutting and breaking text set in a [`Face`], in a renderer's own layout unit.

use crate::Face;

/// A face measured in a renderer's layout unit: `to_unit` turns points (font sizes are in
/// points) into it, e.g. millimetres.
#[derive(Clone, Copy)]
pub struct Measure<'f> {
    pub face: &'f Face,
    pub to_unit: fn(f32) -> f32,
}

impl<'f> Measure<'f> {
    /// Width of `s` set at `size` points.
    pub fn width(&self, s: &str, size: f32) -> f32 {
        (self.to_unit)(self.face.width(s, size))
    }

    /// The longest prefix of `s` that fits `max_w` at `size`, with `…` when cut.
    pub fn truncate(&self, s: &str, max_w: f32, size: f32) -> String {
        if self.width(s, size) <= max_w {
            return s.to_owned();
        }
        let budget = max_w - self.width("…", size);
        let mut w = 0.0;
        let mut out = String::new();
        for c in s.chars() {
            w += (self.to_unit)(self.face.advance_em(self.face.glyph(c)) * size);
            if w > budget {
                break;
            }
            out.push(c);
        }
        out.push('…');
        out
    }

    /// Breaks `s` into at most `max_lines` lines of `max_w`; the last is truncated with `…`.
    /// Lines break between hanzi or at spaces, so a phone number or SKU stays whole unless
    /// it alone is wider than a line.
    pub fn wrap(&self, s: &str, max_w: f32, size: f32, max_lines: usize) -> Vec<String> {
        let mut lines = Vec::new();
        let mut cur = String::new();
        // Where in `cur` the last line-break opportunity is (byte offset).
        let mut last_break: Option<usize> = None;
        let mut prev_wide = false;
        for (i, c) in s.char_indices() {
            let wide = is_wide(c);
            if c == ' ' || wide || prev_wide {
                last_break = Some(cur.len());
            }
            cur.push(c);
            prev_wide = wide;
            if self.width(&cur, size) <= max_w || cur.chars().count() == 1 {
                continue;
            }
            if lines.len() + 1 == max_lines {
                let rest = format!("{}{}", &cur[..cur.len() - c.len_utf8()], &s[i..]);
                lines.push(self.truncate(rest.trim_end(), max_w, size));
                return lines;
            }
            // `cur` overflows: cut at the last opportunity, or just before `c`.
            let cut = match last_break {
                Some(b) if b > 0 => b,
                _ => cur.len() - c.len_utf8(),
            };
            let tail = cur.split_off(cut);
            lines.push(cur.trim_end().to_owned());
            cur = tail.trim_start().to_owned();
            last_break = break_opportunities(&cur).last();
        }
        if !cur.is_empty() || lines.is_empty() {
            lines.push(cur);
        }
        lines
    }
}

/// Byte offsets in `s` (after its start) where a line may break.
fn break_opportunities(s: &str) -> impl Iterator<Item = usize> + '_ {
    let mut prev_wide = false;
    s.char_indices().filter_map(move |(i, c)| {
        let wide = is_wide(c);
        let ok = i > 0 && (c == ' ' || wide || prev_wide);
        prev_wide = wide;
        ok.then_some(i)
    })
}

/// Hanzi, kana, full-width forms and CJK punctuation: a line may break before or after these.
fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}
