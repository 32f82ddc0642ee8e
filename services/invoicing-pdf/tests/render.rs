//! What a reader of the PDF depends on: it opens, the text is there and copyable, it is small,
//! and the same document always gives the same bytes.

use std::process::Command;

use invoicing_pdf::{InvoiceDoc, Renderer, samples};

fn page_count(pdf: &[u8]) -> usize {
    lopdf::Document::load_mem(pdf).expect("a readable PDF").get_pages().len()
}

/// The text `pdftotext` extracts, or `None` (with a note) when poppler-utils is missing.
fn pdftotext(pdf: &[u8]) -> Option<String> {
    pdftotext_with(pdf, &[])
}

fn pdftotext_with(pdf: &[u8], args: &[&str]) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("invoicing-pdf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:x}.pdf", pdf.len() ^ pdf.iter().take(4096).map(|b| *b as usize).sum::<usize>()));
    std::fs::write(&path, pdf).unwrap();
    let out = match Command::new("pdftotext").args(["-enc", "UTF-8"]).args(args).arg(&path).arg("-").output() {
        Ok(out) => out,
        Err(_) => {
            eprintln!("note: pdftotext not on PATH (apt-get install poppler-utils); text check skipped");
            return None;
        }
    };
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).expect("UTF-8 text"))
}

#[test]
fn same_document_renders_the_same_bytes() {
    let doc = samples::invoice();
    let a = Renderer::new().render(&doc);
    let b = Renderer::new().render(&doc);
    assert!(a == b, "two renders of the same document differ");
    let c = Renderer::new().render(&samples::voided_credit_note());
    assert_ne!(a, c);
}

#[test]
fn metadata_comes_from_the_document_not_the_clock() {
    let pdf = Renderer::new().render(&samples::invoice());
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let info = doc.trailer.get_deref(b"Info", &doc).unwrap().as_dict().unwrap();
    let created = info.get(b"CreationDate").unwrap().as_str().unwrap();
    assert!(created.starts_with(b"D:20260314"), "{}", String::from_utf8_lossy(created));
    assert!(doc.trailer.get(b"ID").is_ok());
}

#[test]
fn a_typical_invoice_is_well_under_100_kb() {
    let r = Renderer::new();
    for (name, doc) in [
        ("invoice", samples::invoice()),
        ("credit note", samples::voided_credit_note()),
        ("60 lines", samples::long_invoice(60)),
    ] {
        let size = r.render(&doc).len();
        println!("{name}: {size} bytes");
        assert!(size < 100 * 1024, "{name} is {size} bytes");
    }
}

#[test]
fn text_is_extractable() {
    let doc = samples::invoice();
    let Some(text) = pdftotext(&Renderer::new().render(&doc)) else {
        return;
    };
    for expected in [
        doc.seller.name.as_str(),
        doc.buyer.title.as_str(),
        doc.total_in_words.as_str(),
        "电子发票（普通发票）",
        "INV2026-00000001",
        "2026年03月14日",
        "¥473.75",
        "¥420.87",
        "¥52.88",
        "88.50",
        "13%",
        "9%",
        "BZ20260314-7781236",
        "开票人",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn voided_credit_note_reads_as_such() {
    let doc = samples::voided_credit_note();
    // `-raw`: poppler's default reading-order mode leaves out the turned VOID stamp.
    let Some(text) = pdftotext_with(&Renderer::new().render(&doc), &["-raw"]) else {
        return;
    };
    for expected in [
        "电子发票（红字）",
        "CREDIT NOTE",
        "作废",
        "VOID",
        "对应蓝字发票 Original invoice: INV2026-00000001",
        "-198.00",
        "-25.74",
        "¥-223.74",
        "负贰佰贰拾叁元柒角肆分",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn long_invoices_continue_on_further_pages() {
    let r = Renderer::new();
    let mut pages_seen = Vec::new();
    for n in 1..=60 {
        let pdf = r.render(&samples::long_invoice(n));
        pages_seen.push(page_count(&pdf));
    }
    assert_eq!(pages_seen[0], 1);
    assert_eq!(pages_seen[59], 2);
    assert!(pages_seen.windows(2).all(|w| w[0] <= w[1]), "{pages_seen:?}");

    let doc = samples::long_invoice(60);
    let Some(text) = pdftotext(&r.render(&doc)) else {
        return;
    };
    for l in &doc.lines {
        assert!(text.contains(&l.sku), "{} missing", l.sku);
    }
    assert!(text.contains("Page 2 of 2"));
    assert!(text.contains(&doc.total_in_words));
}

#[test]
fn very_long_fields_are_cut_not_spilled() {
    let mut doc: InvoiceDoc = samples::invoice();
    doc.lines[0].name = "超长商品标题".repeat(20);
    doc.lines[0].sku = "SKU-".repeat(20);
    doc.seller.address = "浙江省杭州市西湖区文三路".repeat(10);
    doc.buyer.title = "上海明澜文化传播有限公司".repeat(5);
    doc.remarks = Some("备注内容很长。".repeat(80));
    let pdf = Renderer::new().render(&doc);
    assert_eq!(page_count(&pdf), 1);
    let Some(text) = pdftotext(&pdf) else { return };
    assert!(text.contains('…'), "truncated text is marked with an ellipsis");
    assert!(!text.contains(&"超长商品标题".repeat(20)));
}

#[test]
fn a_custom_font_is_used_and_bad_bytes_are_refused() {
    let mut fonts = vec![pdf_font::BUNDLED_FONT.to_vec()];
    // A CFF (OpenType) collection, where the machine has one: the other outline format.
    if let Ok(cff) = std::fs::read("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc") {
        fonts.push(cff);
    }
    for bytes in fonts {
        let custom = Renderer::with_font(bytes).expect("a TrueType/OpenType font");
        let pdf = custom.render(&samples::invoice());
        assert!(pdf.windows(15).any(|w| w == b"CairnCustomFont"));
        assert!(pdf.len() < 100 * 1024, "{} bytes", pdf.len());
        if let Some(text) = pdftotext(&pdf) {
            assert!(text.contains("杭州云栈服饰有限公司"), "{text}");
        }
    }
    assert!(Renderer::with_font(b"definitely not a font".to_vec()).is_err());
}

#[test]
fn renderer_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Renderer>();

    let r = Renderer::new();
    let doc = samples::invoice();
    let expected = r.render(&doc);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| r.render(&doc))).collect();
        for h in handles {
            assert!(h.join().unwrap() == expected);
        }
    });
}
