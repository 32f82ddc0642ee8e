//! The QR code of the verification URL, shared by the PDF and the HTML page.
//!
//! Encoding is the `qrcode` crate's. Only the choice of mask pattern is ours: the crate scores
//! the eight candidates with a boxed closure per module and window, which took ~0.5 ms, most of
//! a whole render. The same penalty rules (ISO/IEC 18004 §7.8.3) on a flat bitmap take a few µs.

use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{Color, EcLevel, bits, ec};

/// M: survives a smudged or creased print (15% damage), still a small symbol for a URL.
const EC: EcLevel = EcLevel::M;

const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// A square of modules, row by row, without quiet zone.
pub(crate) struct Qr {
    pub(crate) width: usize,
    pub(crate) modules: Vec<Color>,
}

impl Qr {
    /// `None` when `data` is too long for any QR version.
    pub(crate) fn encode(data: &str) -> Option<Self> {
        let bits = bits::encode_auto(data.as_bytes(), EC).ok()?;
        let version = bits.version();
        let (codewords, ecc) = ec::construct_codewords(&bits.into_bytes(), version, EC).ok()?;
        let mut canvas = Canvas::new(version, EC);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&codewords, &ecc);
        MASKS
            .iter()
            .map(|&mask| {
                let mut c = canvas.clone();
                c.apply_mask(mask);
                let modules = c.into_colors();
                let width = modules.len().isqrt();
                let dark: Vec<bool> = modules.iter().map(|m| *m == Color::Dark).collect();
                let score = if width <= 128 { penalty_bits(&dark, width) } else { penalty(&dark, width) };
                (score, Self { width, modules })
            })
            .min_by_key(|(score, _)| *score)
            .map(|(_, qr)| qr)
    }

    pub(crate) fn is_dark(&self, row: usize, col: usize) -> bool {
        self.modules[row * self.width + col] == Color::Dark
    }

    /// The dark modules as few rectangles `(x, y, width, height)`, in modules: each row's runs,
    /// stacked with identical runs directly below (finder patterns become five rectangles).
    pub(crate) fn rectangles(&self) -> Vec<(usize, usize, usize, usize)> {
        let n = self.width;
        let runs: Vec<Vec<(usize, usize)>> = (0..n)
            .map(|row| {
                let mut out = Vec::new();
                let mut col = 0;
                while col < n {
                    if self.is_dark(row, col) {
                        let start = col;
                        while col < n && self.is_dark(row, col) {
                            col += 1;
                        }
                        out.push((start, col));
                    } else {
                        col += 1;
                    }
                }
                out
            })
            .collect();
        let mut taken: Vec<Vec<bool>> = runs.iter().map(|r| vec![false; r.len()]).collect();
        let mut rects = Vec::new();
        for row in 0..n {
            for (k, &run) in runs[row].iter().enumerate() {
                if taken[row][k] {
                    continue;
                }
                let mut h = 1;
                while let Some(below) = runs.get(row + h).and_then(|r| r.iter().position(|x| *x == run)) {
                    taken[row + h][below] = true;
                    h += 1;
                }
                rects.push((run.0, row, run.1 - run.0, h));
            }
        }
        rects
    }
}

/// [`penalty`] with each row and column as the bits of a `u128` (symbols up to version 27,
/// i.e. any sane URL): a handful of word operations per line instead of one per module.
fn penalty_bits(dark: &[bool], w: usize) -> u32 {
    debug_assert!(w <= 128);
    let mut rows = vec![0u128; w];
    let mut cols = vec![0u128; w];
    for (i, &d) in dark.iter().enumerate() {
        if d {
            let (y, x) = (i / w, i % w);
            rows[y] |= 1 << x;
            cols[x] |= 1 << y;
        }
    }
    let full: u128 = if w == 128 { !0 } else { (1 << w) - 1 };
    let mut score = 0u32;
    for &line in rows.iter().chain(&cols) {
        // N1: bit j of `change` is set where module j+1 differs from module j (and at the end).
        let change = ((line ^ (line >> 1)) & (full >> 1)) | (1 << (w - 1));
        let mut start = 0u32;
        let mut rest = change;
        while rest != 0 {
            let end = rest.trailing_zeros();
            let run = end + 1 - start;
            if run >= 5 {
                score += 3 + (run - 5);
            }
            start = end + 1;
            rest &= rest - 1;
        }
        // N3: dark-light-dark-dark-dark-light-dark (bit k = module j+k) with four light
        // modules (or the symbol's edge) on one side.
        let (l, d) = (line, !line);
        let mut starts = l & (d >> 1) & (l >> 2) & (l >> 3) & (l >> 4) & (d >> 5) & (l >> 6);
        starts &= full >> 6; // windows that fit: j ≤ w - 7
        while starts != 0 {
            let j = starts.trailing_zeros() as usize;
            starts &= starts - 1;
            let before = line & (((1u128 << j) - 1) & !((1u128 << j.saturating_sub(4)) - 1));
            let after = line.checked_shr((j + 7) as u32).unwrap_or(0) & 0xF;
            if before == 0 || after == 0 {
                score += 40;
            }
        }
    }
    // N2: 2×2 blocks of one colour, from adjacent row pairs.
    let inner = full >> 1;
    for pair in rows.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let same = !(a ^ b) & !(a ^ (a >> 1)) & !(b ^ (b >> 1)) & inner;
        score += 3 * same.count_ones();
    }
    // N4: 10 points per 5% the dark share is away from 50%.
    let dark_count: u32 = rows.iter().map(|r| r.count_ones()).sum();
    let dark_pct = dark_count as usize * 100 / dark.len();
    score + (dark_pct.abs_diff(50) / 5) as u32 * 10
}

/// Penalty score of a masked symbol: lower reads more reliably.
fn penalty(dark: &[bool], w: usize) -> u32 {
    // Rows, then columns, as contiguous lines: N1 and N3 look along both.
    let mut lines = Vec::with_capacity(2 * w);
    lines.extend(dark.chunks_exact(w).map(<[bool]>::to_vec));
    lines.extend((0..w).map(|x| (0..w).map(|y| dark[y * w + x]).collect::<Vec<_>>()));
    let mut score = 0u32;
    for line in &lines {
        // N1: runs of five or more modules of one colour.
        let mut run = 1;
        for j in 1..=w {
            if j < w && line[j] == line[j - 1] {
                run += 1;
            } else {
                if run >= 5 {
                    score += 3 + (run - 5);
                }
                run = 1;
            }
        }
        // N3: 1:1:3:1:1 finder look-alikes with four light modules on one side.
        const FINDER: [bool; 7] = [true, false, true, true, true, false, true];
        for j in 0..w.saturating_sub(6) {
            if line[j..j + 7] == FINDER {
                let light_before = line[j.saturating_sub(4)..j].iter().all(|d| !d);
                let light_after = line[(j + 7).min(w)..(j + 11).min(w)].iter().all(|d| !d);
                if light_before || light_after {
                    score += 40;
                }
            }
        }
    }
    // N2: 2×2 blocks of one colour.
    for pair in dark.chunks_exact(w).collect::<Vec<_>>().windows(2) {
        let (a, b) = (pair[0], pair[1]);
        score += 3 * (0..w - 1).filter(|&x| a[x] == a[x + 1] && a[x] == b[x] && a[x] == b[x + 1]).count() as u32;
    }
    // N4: 10 points per 5% the dark share is away from 50%.
    let dark_pct = dark.iter().filter(|d| **d).count() * 100 / dark.len();
    score + (dark_pct.abs_diff(50) / 5) as u32 * 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_same_data_as_the_crate() {
        // Same version and size as qrcode's own choice; only the mask may differ.
        let url = "https://cairn.example/v/INV2026-00000001?c=7Q3F9K";
        let ours = Qr::encode(url).unwrap();
        let theirs = qrcode::QrCode::with_error_correction_level(url, EC).unwrap();
        assert_eq!(ours.width, theirs.width());
        // Finder patterns in three corners.
        for (r, c) in [(0, 0), (0, ours.width - 7), (ours.width - 7, 0)] {
            assert!(ours.is_dark(r, c) && ours.is_dark(r + 6, c + 6) && !ours.is_dark(r + 1, c + 1));
        }
    }

    #[test]
    fn bit_parallel_penalty_agrees_with_the_plain_one() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for w in [21, 25, 33, 57, 64, 65, 101, 128] {
            for density in [2, 3, 5] {
                let dark: Vec<bool> = (0..w * w).map(|_| next() % density == 0).collect();
                assert_eq!(penalty_bits(&dark, w), penalty(&dark, w), "w={w} density=1/{density}");
            }
        }
        let url = "https://cairn.example/v/INV2026-00000001?c=7Q3F9K";
        let qr = Qr::encode(url).unwrap();
        let dark: Vec<bool> = qr.modules.iter().map(|m| *m == Color::Dark).collect();
        assert_eq!(penalty_bits(&dark, qr.width), penalty(&dark, qr.width));
    }

    #[test]
    fn rectangles_cover_exactly_the_dark_modules() {
        let qr = Qr::encode("https://cairn.example/v/INV2026-00000001?c=7Q3F9K").unwrap();
        let n = qr.width;
        let mut covered = vec![0u8; n * n];
        for (x, y, w, h) in qr.rectangles() {
            for yy in y..y + h {
                for xx in x..x + w {
                    covered[yy * n + xx] += 1;
                }
            }
        }
        for row in 0..n {
            for col in 0..n {
                assert_eq!(covered[row * n + col], u8::from(qr.is_dark(row, col)), "({row}, {col})");
            }
        }
    }

    #[test]
    fn too_long_is_none() {
        assert!(Qr::encode(&"x".repeat(5000)).is_none());
    }
}
