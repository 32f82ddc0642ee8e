//! Renders Chinese express thermal labels (电子面单) as PDF, one page per parcel, for 203 dpi
//! thermal printers: black only, boxes and rules, the waybill code as a Code 128 barcode.
//! Pure: no I/O, no clock; the same labels always render the same bytes.
//!
//! ```
//! use shipping_labels::{LabelSize, Renderer, samples};
//!
//! let renderer = Renderer::new(); // once; share it (Send + Sync, cheap Clone)
//! let pdf = renderer.render(&[samples::label()], "100x180".parse::<LabelSize>().unwrap());
//! assert!(pdf.starts_with(b"%PDF-"));
//! ```
//!
//! What the carrier returns (`sortation_name`, `route_code`, `consolidation_code`) is printed as
//! given; phone numbers are printed masked only ([`mask_phone`]).

mod barcode;
mod canvas;
mod layout;
mod pdf;
mod phone;
pub mod samples;

use std::fmt;
use std::str::FromStr;

pub use barcode::code128_modules;
pub use pdf::Renderer;
pub use phone::mask_phone;

/// A sender or recipient as printed: the phone is masked when printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Party {
    pub name: String,
    /// The full number as given; only [`mask_phone`]'s result reaches the PDF.
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    /// The street address below the district, e.g. `幸福大道88号`.
    pub address: String,
}

/// One line of the custom area: what is in the parcel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelItem {
    pub name: String,
    pub count: u32,
}

/// Everything printed on one parcel's label.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Label {
    /// Carrier code, e.g. `ZTO`.
    pub cp_code: String,
    /// Carrier name, e.g. `中通快递`.
    pub cp_name: String,
    /// This parcel's code (the child's code for a child parcel).
    pub waybill_code: String,
    /// 子母件: the parent's code, on every parcel of a multi-parcel waybill.
    pub parent_waybill_code: Option<String>,
    /// 1-based; printed as `parcel_no/parcel_count`.
    pub parcel_no: u32,
    pub parcel_count: u32,
    /// 大头笔, printed in the largest type.
    pub sortation_name: String,
    /// 三段码.
    pub route_code: String,
    /// 集包地: the hub the parcel is bagged for.
    pub consolidation_code: String,
    pub recipient: Party,
    pub sender: Party,
    pub items: Vec<LabelItem>,
    pub trade_ids: Vec<String>,
    /// Seller memo etc.
    pub remark: Option<String>,
    /// e.g. `2026-11-11 09:30`, supplied by the caller (the renderer reads no clock).
    pub printed_at: String,
}

/// The label stock: 100×180 mm 二联单 (with a stub), 76×130 mm 一联单, 100×150 mm (SF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelSize {
    Mm100x180,
    Mm76x130,
    Mm100x150,
}

impl LabelSize {
    /// Every size, in the order of the enum.
    pub const ALL: [LabelSize; 3] = [LabelSize::Mm100x180, LabelSize::Mm76x130, LabelSize::Mm100x150];

    /// (width, height) in millimetres.
    pub fn mm(self) -> (f32, f32) {
        match self {
            LabelSize::Mm100x180 => (100.0, 180.0),
            LabelSize::Mm76x130 => (76.0, 130.0),
            LabelSize::Mm100x150 => (100.0, 150.0),
        }
    }

    /// `100x180`, `76x130` or `100x150`, as [`FromStr`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelSize::Mm100x180 => "100x180",
            LabelSize::Mm76x130 => "76x130",
            LabelSize::Mm100x150 => "100x150",
        }
    }
}

impl fmt::Display for LabelSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A size string that names none of the [`LabelSize`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown label size {0:?}: expected 100x180, 76x130 or 100x150")]
pub struct UnknownLabelSize(pub String);

impl FromStr for LabelSize {
    type Err = UnknownLabelSize;

    /// `100x180`, `76x130`, `100x150`; also with `X`, `×` or `*` and a trailing `mm`
    /// (`100×180mm`), the ways people write it in settings.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .trim_end_matches("mm")
            .trim_end_matches("MM")
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| if matches!(c, 'X' | '×' | '*') { 'x' } else { c })
            .collect();
        LabelSize::ALL.into_iter().find(|size| size.as_str() == norm).ok_or_else(|| UnknownLabelSize(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_the_ways_they_are_written() {
        for (s, size) in [
            ("100x180", LabelSize::Mm100x180),
            ("76x130", LabelSize::Mm76x130),
            ("100x150", LabelSize::Mm100x150),
            (" 100X180 ", LabelSize::Mm100x180),
            ("76×130mm", LabelSize::Mm76x130),
            ("100 * 150", LabelSize::Mm100x150),
        ] {
            assert_eq!(s.parse::<LabelSize>(), Ok(size), "{s:?}");
        }
        for s in ["", "100x100", "180x100", "100x180x1", "a4", "76x130cm"] {
            assert_eq!(s.parse::<LabelSize>(), Err(UnknownLabelSize(s.into())), "{s:?}");
        }
        for size in LabelSize::ALL {
            assert_eq!(size.to_string().parse::<LabelSize>(), Ok(size));
        }
    }
}
