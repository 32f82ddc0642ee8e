//! The document: one page per label, one font subset for the batch, one resources dictionary
//! for all pages.

use std::sync::Arc;

use lopdf::{Dictionary, Object, ObjectId, StringFormat};
use pdf_font::{Face, deflate_streams, fnv1a, subset_tag};
use printpdf::{
    FontId, Mm, Op, PdfDocument, PdfDocumentInfo, PdfFont, PdfFontHandle, PdfPage, PdfSaveOptions, Pt, TextItem,
};

use crate::canvas::{Canvas, FONT_RES, TEMPLATE_RES};
use crate::{Label, LabelSize, layout};

/// Renders [`Label`]s to PDF; build once and share (it is `Send + Sync`, cloning is cheap).
#[derive(Clone)]
pub struct Renderer {
    face: Arc<Face>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    /// A renderer using the bundled Noto Sans SC subset, parsed once per process (and shared
    /// with the invoice renderer).
    pub fn new() -> Self {
        Self { face: Face::bundled() }
    }

    /// One page per label, in the given order; the CJK font subset embedded once for the whole
    /// document. Same labels, same bytes: nothing depends on the clock or on randomness. An
    /// empty batch gives a document without pages.
    pub fn render(&self, labels: &[Label], size: LabelSize) -> Vec<u8> {
        let (w, h) = size.mm();
        let mut canvas = Canvas::new(&self.face, w, h, labels.len());
        for label in labels {
            layout::draw(&mut canvas, label, size);
            canvas.finish_page();
        }
        let (form, contents, glyphs) = canvas.finish();

        let mut key = Vec::with_capacity(16 * labels.len() + 8);
        key.extend_from_slice(size.as_str().as_bytes());
        for label in labels {
            key.push(b'\n');
            key.extend_from_slice(label.waybill_code.as_bytes());
        }
        let seed = fnv1a(&key, 0xcbf2_9ce4_8422_2325);
        let font = self.face.subset(&glyphs, &subset_tag(seed));

        // Nothing personal in the metadata: no names, phones or addresses.
        let title = match labels {
            [one] => format!("电子面单 {} {}", one.cp_name, one.waybill_code),
            _ => format!("电子面单 {} 张 {size}", labels.len()),
        };
        let mut pdf = PdfDocument::new(&title);
        pdf.metadata.info = PdfDocumentInfo {
            document_title: title,
            creator: "Cairn".into(),
            producer: "Cairn shipping-labels (printpdf)".into(),
            subject: format!("{size} mm"),
            // printpdf writes dates in UTC only; the print time is set below, in China time.
            creation_date: printpdf::DateTime::epoch(),
            modification_date: printpdf::DateTime::epoch(),
            metadata_date: printpdf::DateTime::epoch(),
            ..PdfDocumentInfo::default()
        };
        pdf.resources.fonts.map.insert(FontId(FONT_RES.into()), PdfFont::new(font));
        // printpdf builds the document around our content streams: pages without ops, and on
        // the first one every character the batch uses, which is how printpdf learns which
        // glyphs the font dictionary (widths, ToUnicode) must describe. That page's stream is
        // replaced like every other below.
        pdf.pages = (0..contents.len()).map(|_| PdfPage::new(Mm(w), Mm(h), Vec::new())).collect();
        if let Some(first) = pdf.pages.first_mut()
            && !glyphs.is_empty()
        {
            first.ops = vec![
                Op::StartTextSection,
                Op::SetFont { font: PdfFontHandle::External(FontId(FONT_RES.into())), size: Pt(1.0) },
                Op::ShowText { items: vec![TextItem::Text(glyphs.text())] },
                Op::EndTextSection,
            ];
        }

        // Compression is ours (below); subsetting was done by `Face::subset`.
        let opts = PdfSaveOptions { optimize: false, subset_fonts: false, secure: true, image_optimization: None };
        let mut warnings = Vec::new();
        let mut lo = pdf.to_lopdf_document(&opts, &mut warnings);
        debug_assert!(
            warnings.iter().all(|w| !matches!(w.severity, printpdf::PdfParseErrorSeverity::Error)),
            "{warnings:?}"
        );
        if let Some(date) = labels.first().and_then(|l| pdf_date(&l.printed_at))
            && let Ok(info) = lo.trailer.get(b"Info").and_then(Object::as_reference)
            && let Ok(info) = lo.get_dictionary_mut(info)
        {
            for key in ["CreationDate", "ModDate"] {
                info.set(key, Object::string_literal(date.clone()));
            }
        }
        set_contents(&mut lo, contents);
        share_page_attributes(&mut lo);
        if let Some(form) = form {
            add_form(&mut lo, form, w, h);
        }

        // printpdf draws the trailer /ID at random; derive it from the batch instead.
        let id = format!("{seed:016x}{:016x}", fnv1a(&key, 0x8422_2325_cbf2_9ce4));
        let id = Object::String(id.into_bytes(), StringFormat::Hexadecimal);
        lo.trailer.set("ID", Object::Array(vec![id.clone(), id]));
        deflate_streams(&mut lo);

        let mut out = Vec::with_capacity(4096 + 2048 * labels.len());
        lo.save_to(&mut out).expect("writing to a Vec cannot fail");
        out
    }
}

/// Puts `contents` into the pages' content streams, in page order.
fn set_contents(doc: &mut lopdf::Document, contents: Vec<Vec<u8>>) {
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    debug_assert_eq!(pages.len(), contents.len());
    for (page, content) in pages.into_iter().zip(contents) {
        let stream = doc
            .get_dictionary(page)
            .and_then(|p| p.get(b"Contents"))
            .and_then(Object::as_reference)
            .expect("printpdf gives every page a content stream");
        if let Ok(Object::Stream(s)) = doc.get_object_mut(stream) {
            s.set_content(content);
        }
    }
}

/// Adds the labels' common form as a form XObject to the pages' shared resources, where every
/// page's `/Tpl Do` finds it.
fn add_form(doc: &mut lopdf::Document, content: Vec<u8>, w: f32, h: f32) {
    let Some(pages_id) = doc.catalog().ok().and_then(|c| c.get(b"Pages").ok()).and_then(|p| p.as_reference().ok())
    else {
        return;
    };
    let Some(resources_id) =
        doc.get_dictionary(pages_id).ok().and_then(|p| p.get(b"Resources").ok()).and_then(|r| r.as_reference().ok())
    else {
        return;
    };
    let Ok(fonts) = doc.get_dictionary(resources_id).and_then(|r| r.get(b"Font")).cloned() else { return };
    let pt = |mm: f32| Object::Real((mm * 7200.0 / 25.4).round() / 100.0);
    let dict = Dictionary::from_iter([
        ("Type", Object::from("XObject")),
        ("Subtype", "Form".into()),
        ("BBox", vec![0.into(), 0.into(), pt(w), pt(h)].into()),
        ("Resources", Dictionary::from_iter([("Font", fonts)]).into()),
    ]);
    let form_id = doc.add_object(lopdf::Stream::new(dict, content));
    let xobjects = doc.get_dictionary(resources_id).and_then(|r| r.get(b"XObject")).cloned();
    let entry = (TEMPLATE_RES, Object::Reference(form_id));
    match xobjects {
        // printpdf's (empty) XObject dictionary, shared by reference.
        Ok(Object::Reference(id)) => {
            if let Ok(d) = doc.get_dictionary_mut(id) {
                d.set(entry.0, entry.1);
            }
        }
        _ => {
            if let Ok(r) = doc.get_dictionary_mut(resources_id) {
                r.set("XObject", Dictionary::from_iter([entry]));
            }
        }
    }
}

/// printpdf gives every page its own resources dictionary (the same references each time),
/// boxes and an empty annotation array. All pages of a batch are alike, so they inherit one
/// resources dictionary and one media box from the page tree instead: ~200 bytes less a page.
fn share_page_attributes(doc: &mut lopdf::Document) {
    let Some(pages_id) = doc.catalog().ok().and_then(|c| c.get(b"Pages").ok()).and_then(|p| p.as_reference().ok())
    else {
        return;
    };
    let kids: Vec<ObjectId> = match doc.get_dictionary(pages_id).and_then(|p| p.get(b"Kids")) {
        Ok(Object::Array(kids)) => kids.iter().filter_map(|k| k.as_reference().ok()).collect(),
        _ => return,
    };
    let mut shared: Option<(Object, Object)> = None;
    let mut orphans = Vec::with_capacity(kids.len());
    for kid in kids {
        let Ok(page) = doc.get_dictionary_mut(kid) else { continue };
        let (Ok(resources), Ok(media_box)) = (page.get(b"Resources").cloned(), page.get(b"MediaBox").cloned()) else {
            continue;
        };
        match &shared {
            None => shared = Some((resources, media_box)),
            Some((r, m)) if *m == media_box => {
                if let Object::Reference(id) = resources
                    && *r != resources
                {
                    orphans.push(id);
                }
            }
            // A page of another size keeps its own (not produced by this crate today).
            Some(_) => continue,
        }
        for key in [&b"Resources"[..], b"MediaBox", b"CropBox", b"TrimBox"] {
            page.remove(key);
        }
        if matches!(page.get(b"Annots"), Ok(Object::Array(a)) if a.is_empty()) {
            page.remove(b"Annots");
        }
    }
    if let (Some((resources, media_box)), Ok(pages)) = (shared, doc.get_dictionary_mut(pages_id)) {
        pages.set("Resources", resources);
        pages.set("MediaBox", media_box);
    }
    for id in orphans {
        doc.objects.remove(&id);
    }
}

/// `2026-11-11 09:30` (China time) as a PDF date, `D:202611110930+08'00'`; `None` when
/// unreadable.
fn pdf_date(s: &str) -> Option<String> {
    let num = |r: std::ops::Range<usize>| s.get(r).filter(|p| p.bytes().all(|b| b.is_ascii_digit()));
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let hour = num(11..13).unwrap_or("00");
    let minute = num(14..16).unwrap_or("00");
    let ok = |v: &str, max: u32| v.parse::<u32>().is_ok_and(|v| v <= max);
    (ok(month, 12) && ok(day, 31) && ok(hour, 23) && ok(minute, 59))
        .then(|| format!("D:{year}{month}{day}{hour}{minute}00+08'00'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_print_time_is_the_documents_date_in_china_time() {
        assert_eq!(pdf_date("2026-11-11 09:30").as_deref(), Some("D:20261111093000+08'00'"));
        assert_eq!(pdf_date("2026-11-11").as_deref(), Some("D:20261111000000+08'00'"));
        assert_eq!(pdf_date("2026-13-11 09:30"), None);
        assert_eq!(pdf_date("11/11/2026"), None);
        assert_eq!(pdf_date(""), None);
    }
}
