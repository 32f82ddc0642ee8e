//! What the people and machines reading a label depend on: one page per parcel in order, the
//! codes and Chinese text there as text, barcodes that scan at 203 dpi, no full phone number,
//! nothing spilling out of its box, and the same labels always giving the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

use shipping_labels::{Label, LabelSize, Renderer, samples};

/// A fresh directory for one call's files. Numbered per call: the tests run on several threads,
/// and two calls that shared a directory removed it under each other (`pdftotext` then found
/// no file).
fn scratch(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("shipping-labels-test-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tool_missing(tool: &str) -> bool {
    let missing = Command::new(tool).arg("-v").output().is_err();
    if missing {
        eprintln!("note: {tool} not on PATH (apt-get install poppler-utils); this check is skipped");
    }
    missing
}

/// The text `pdftotext` extracts (pages separated by form feeds), or `None` without poppler.
fn pdftotext(pdf: &[u8], args: &[&str]) -> Option<String> {
    if tool_missing("pdftotext") {
        return None;
    }
    let dir = scratch("text");
    let path = dir.join("labels.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext").args(["-enc", "UTF-8"]).args(args).arg(&path).arg("-").output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).expect("UTF-8 text"))
}

fn pages(pdf: &[u8]) -> usize {
    lopdf::Document::load_mem(pdf).expect("a readable PDF").get_pages().len()
}

#[test]
fn one_page_per_label_in_the_given_order() {
    let r = Renderer::new();
    for size in LabelSize::ALL {
        for labels in [vec![samples::label()], samples::multi_parcel(), samples::batch(37)] {
            let pdf = r.render(&labels, size);
            assert_eq!(pages(&pdf), labels.len(), "{size}");
            let Some(text) = pdftotext(&pdf, &[]) else { continue };
            let texts: Vec<&str> = text.split('\u{c}').collect();
            for (i, label) in labels.iter().enumerate() {
                assert!(texts[i].contains(&label.waybill_code), "{size}: page {} is not {}", i + 1, label.waybill_code);
            }
        }
    }
}

#[test]
fn every_waybill_code_and_the_chinese_text_can_be_extracted() {
    let r = Renderer::new();
    let batch = samples::batch(300);
    let Some(text) = pdftotext(&r.render(&batch, LabelSize::Mm100x180), &[]) else { return };
    for label in &batch {
        // Twice on the 二联单: the dispatch part and the stub.
        assert_eq!(text.matches(&label.waybill_code).count(), 2, "{}", label.waybill_code);
        // Hundreds of glyphs: their ids in the content streams include the bytes a PDF string
        // must escape, ( ) \ and CR.
        let r = &label.recipient;
        for part in [&r.name, &shipping_labels::mask_phone(&r.phone), &r.address, &label.route_code] {
            assert!(text.contains(part.as_str()), "{part:?} of {} missing", label.waybill_code);
        }
    }
    for size in LabelSize::ALL {
        let label = samples::label();
        let text = pdftotext(&r.render(std::slice::from_ref(&label), size), &[]).unwrap();
        for expected in [
            "中通快递",
            "ZTO",
            "ZT7300012345678",
            "830 都江堰",
            "830-120-00 012",
            "集包地",
            "成都转运中心",
            "收",
            "王小明",
            "138****0000",
            "四川省 成都市 都江堰市 幸福大道88号",
            "寄",
            "云栈优品仓",
            "0571-****6666",
            "浙江省 杭州市 余杭区 仓前街道良睦路1399号",
            "1/1",
            "纯棉T恤 红色 M ×2",
            "订单号：T2026111100000001",
            "2026-11-11 09:30",
            "签收人",
        ] {
            assert!(text.contains(expected), "{size}: {expected:?} missing from:\n{text}");
        }
    }
}

#[test]
fn no_full_phone_number_anywhere_in_the_file() {
    let r = Renderer::new();
    let mut labels = samples::batch(40);
    labels.push(samples::label());
    labels.push(samples::overflowing());
    let phones: Vec<String> = labels
        .iter()
        .flat_map(|l| [&l.recipient.phone, &l.sender.phone])
        .flat_map(|p| [p.clone(), p.chars().filter(char::is_ascii_digit).collect()])
        .collect();
    for size in LabelSize::ALL {
        let pdf = r.render(&labels, size);
        // The bytes as written, every stream inflated, and the metadata.
        let mut doc = lopdf::Document::load_mem(&pdf).unwrap();
        doc.decompress();
        let mut inflated = Vec::new();
        doc.save_to(&mut inflated).unwrap();
        let text = pdftotext(&pdf, &[]).unwrap_or_default();
        let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for phone in &phones {
            let p = phone.as_bytes();
            assert!(!pdf.windows(p.len()).any(|w| w == p), "{size}: {phone} in the PDF bytes");
            assert!(!inflated.windows(p.len()).any(|w| w == p), "{size}: {phone} in an inflated stream");
            assert!(
                !text.contains(phone.as_str()) && !squeezed.contains(phone.as_str()),
                "{size}: {phone} in the text"
            );
        }
        if !text.is_empty() {
            // Whitespace squeezed out: pdftotext may split a run of glyphs where it guesses a gap.
            assert!(squeezed.contains("138****0000"), "{size}: the masked phone is not printed in:\n{text}");
        }
    }
}

#[test]
fn the_same_labels_render_the_same_bytes() {
    let labels = samples::batch(20);
    for size in LabelSize::ALL {
        let a = Renderer::new().render(&labels, size);
        let b = Renderer::new().render(&labels, size);
        assert!(a == b, "{size}: two renders differ");
    }
    let r = Renderer::new();
    let a = r.render(&labels, LabelSize::Mm100x180);
    assert!(a != r.render(&labels[1..], LabelSize::Mm100x180));
    assert!(a != r.render(&labels, LabelSize::Mm76x130));

    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<Renderer>();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| r.clone().render(&labels, LabelSize::Mm100x180))).collect();
        for h in handles {
            assert!(h.join().unwrap() == a);
        }
    });
}

#[test]
fn a_multi_parcel_label_shows_its_number_and_the_parent_code() {
    let labels = samples::multi_parcel();
    for size in LabelSize::ALL {
        let pdf = Renderer::new().render(&labels, size);
        assert_eq!(pages(&pdf), 3);
        let Some(text) = pdftotext(&pdf, &[]) else { return };
        let second = text.split('\u{c}').nth(1).unwrap();
        for expected in [
            "2/3",
            "子母件",
            "ZT7300012345601",
            "母单号 ZT7300012345600",
            "实木书桌 1.2米 胡桃色 ×1",
            "备注：大件，请送货上门",
        ] {
            assert!(second.contains(expected), "{size}: {expected:?} missing from:\n{second}");
        }
    }
}

/// A word and its box: x_min, y_min, x_max, y_max in pt from the top-left corner.
type WordBox = (String, [f32; 4]);

/// The page size (pt) and the words of the first page, from `pdftotext -bbox`.
fn word_boxes(pdf: &[u8]) -> Option<(f32, f32, Vec<WordBox>)> {
    let html = pdftotext(pdf, &["-bbox"])?;
    let attr = |tag: &str, name: &str| -> f32 {
        let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[start..start + tag[start..].find('"').unwrap()].parse().unwrap()
    };
    let page = &html[html.find("<page ").unwrap()..];
    let (w, h) = (attr(page, "width"), attr(page, "height"));
    let words = html
        .split("<word ")
        .skip(1)
        .map(|chunk| {
            let (tag, rest) = chunk.split_once('>').unwrap();
            let text = rest.split_once("</word>").unwrap().0.to_owned();
            (text, [attr(tag, "xMin"), attr(tag, "yMin"), attr(tag, "xMax"), attr(tag, "yMax")])
        })
        .collect();
    Some((w, h, words))
}

#[test]
fn long_fields_are_cut_with_an_ellipsis_not_spilled() {
    let label = samples::overflowing();
    for size in LabelSize::ALL {
        let pdf = Renderer::new().render(std::slice::from_ref(&label), size);
        assert_eq!(pages(&pdf), 1, "{size}");
        let Some((w, h, words)) = word_boxes(&pdf) else { return };
        // Every word inside the frame (1.5 or 2 mm from the edges), to a quarter point.
        let margin = 1.5 * 72.0 / 25.4 - 0.25;
        for (text, [x0, y0, x1, y1]) in &words {
            assert!(*x0 >= margin && *x1 <= w - margin, "{size}: {text:?} spills sideways: {x0}..{x1} of {w}");
            assert!(*y0 >= margin - 2.0 && *y1 <= h - margin, "{size}: {text:?} spills vertically: {y0}..{y1} of {h}");
        }
        let text = pdftotext(&pdf, &[]).unwrap();
        assert!(text.matches('…').count() >= 4, "{size}: cut text is marked:\n{text}");
        assert!(!text.contains(&label.recipient.address), "{size}: the whole address cannot fit");
        assert!(text.contains("…等14种商品，共105件"), "{size}: the items beyond the room are summed up:\n{text}");
        assert!(text.contains(&label.waybill_code), "{size}");
        assert!(text.contains("138****0000"), "{size}: a long name does not push the phone out");
    }
}

#[test]
fn the_font_is_embedded_once_and_pages_share_their_resources() {
    let pdf = Renderer::new().render(&samples::batch(100), LabelSize::Mm100x180);
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let dicts =
        || doc.objects.values().filter_map(|o| o.as_dict().ok().or_else(|| o.as_stream().ok().map(|s| &s.dict)));
    let font_files = dicts().filter(|d| d.has(b"FontFile2") || d.has(b"FontFile3")).count();
    let fonts = dicts().filter(|d| d.get(b"Type").and_then(|t| t.as_name()).is_ok_and(|t| t == b"Font")).count();
    assert_eq!(font_files, 1, "one font descriptor with one font program");
    assert_eq!(fonts, 1, "one Type0 font (its CIDFont inline)");
    let forms = dicts().filter(|d| d.get(b"Subtype").and_then(|t| t.as_name()).is_ok_and(|t| t == b"Form")).count();
    assert_eq!(forms, 1, "one form (frame, rules, fixed text) for all labels");
    for (_, id) in doc.get_pages() {
        let page = doc.get_dictionary(id).unwrap();
        assert!(!page.has(b"Resources"), "each page inherits the one resources dictionary");
        let content = doc.get_page_content(id);
        assert!(content.starts_with(b"/Tpl Do\n"), "each page shows the form, then its data");
    }
    // Per label: its data's content stream and a small page dictionary.
    assert!(pdf.len() < 100 * 1600, "{} bytes for 100 labels", pdf.len());
}

#[test]
fn the_metadata_names_the_labels_not_the_people() {
    let label = samples::label();
    let pdf = Renderer::new().render(std::slice::from_ref(&label), LabelSize::Mm100x180);
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let info = doc.trailer.get_deref(b"Info", &doc).unwrap().as_dict().unwrap();
    let created = info.get(b"CreationDate").unwrap().as_str().unwrap();
    assert!(created.starts_with(b"D:202611110930"), "{}", String::from_utf8_lossy(created));
    let all: Vec<u8> = info.iter().flat_map(|(_, v)| v.as_str().map(<[u8]>::to_vec).unwrap_or_default()).collect();
    let all = String::from_utf8_lossy(&all);
    for personal in ["王小明", "幸福大道", "云栈优品仓"] {
        assert!(!all.contains(personal), "{personal} in the metadata: {all}");
    }
}

#[test]
fn odd_input_renders_rather_than_panics() {
    let r = Renderer::new();
    let odd = Label { waybill_code: "中通123".into(), parcel_count: 0, ..Label::default() };
    for size in LabelSize::ALL {
        assert_eq!(pages(&r.render(&[Label::default(), odd.clone()], size)), 2);
        let empty = r.render(&[], size);
        assert!(empty.starts_with(b"%PDF-"));
        assert_eq!(pages(&empty), 0);
    }
}

/// Renders `pdf`'s pages at 203 dpi, as a thermal printer would, and decodes their barcodes
/// with zxing-cpp (`pip install zxing-cpp`): one line per page, its codes top to bottom.
fn decode_barcodes(pdf: &[u8], antialias: bool) -> Option<Vec<String>> {
    if tool_missing("pdftoppm") {
        return None;
    }
    let dir = scratch(if antialias { "scan-aa" } else { "scan" });
    std::fs::write(dir.join("labels.pdf"), pdf).unwrap();
    let mut render = Command::new("pdftoppm");
    render.args(["-r", "203", "-gray"]);
    if !antialias {
        // A thermal head prints dots, not greys.
        render.args(["-aa", "no", "-aaVector", "no"]);
    }
    let status = render.arg(dir.join("labels.pdf")).arg(dir.join("page")).status().unwrap();
    assert!(status.success());
    let mut pgms: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pgm"))
        .collect();
    pgms.sort();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/decode_barcodes.py");
    let out = match Command::new("python3").arg(script).args(&pgms).output() {
        Ok(out) if out.status.code() == Some(3) || out.status.code().is_none() => {
            eprintln!("note: zxing-cpp not installed (pip install zxing-cpp); barcode decoding skipped");
            return None;
        }
        Ok(out) => out,
        Err(_) => {
            eprintln!("note: python3 not on PATH; barcode decoding skipped");
            return None;
        }
    };
    assert!(out.status.success(), "decoder failed: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    Some(String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect())
}

#[test]
fn barcodes_scan_at_203_dpi() {
    let r = Renderer::new();
    let mut labels = samples::multi_parcel();
    labels.push(samples::overflowing());
    labels.push(samples::sf());
    labels.push(Label { waybill_code: "JDVA00012345678-1-2-".into(), ..samples::label() });
    labels.push(Label { waybill_code: "YT8800012345678901".into(), ..samples::label() });
    for size in LabelSize::ALL {
        let pdf = r.render(&labels, size);
        for antialias in [true, false] {
            let Some(pages) = decode_barcodes(&pdf, antialias) else { return };
            assert_eq!(pages.len(), labels.len());
            for (page, label) in pages.iter().zip(&labels) {
                let code = label.waybill_code.as_str();
                let expected = if size == LabelSize::Mm100x180 { format!("{code},{code}") } else { code.to_owned() };
                assert_eq!(page, &expected, "{size}, antialias {antialias}");
            }
        }
    }
}
