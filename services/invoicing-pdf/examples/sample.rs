//! Writes the sample documents as PDF and HTML into a directory, to look at them:
//!
//! ```sh
//! cargo run -p invoicing-pdf --example sample -- /tmp/invoice-samples [LINES...]
//! pdftoppm -png -r 80 /tmp/invoice-samples/invoice.pdf /tmp/invoice-samples/invoice
//! ```

use std::path::PathBuf;

use invoicing_pdf::{Renderer, render_html, samples};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "invoice-samples".into()));
    std::fs::create_dir_all(&dir)?;
    let renderer = Renderer::new();
    let mut docs = vec![
        ("invoice".to_owned(), samples::invoice()),
        ("credit-note-void".to_owned(), samples::voided_credit_note()),
        ("invoice-60-lines".to_owned(), samples::long_invoice(60)),
    ];
    // Optional: more line counts to look at page breaks, e.g. `-- /tmp/out 31 32 33`.
    for n in std::env::args().skip(2).filter_map(|a| a.parse::<usize>().ok()) {
        docs.push((format!("invoice-{n}-lines"), samples::long_invoice(n.clamp(1, 99))));
    }
    for (name, doc) in docs {
        let pdf = renderer.render(&doc);
        let path = dir.join(format!("{name}.pdf"));
        std::fs::write(&path, &pdf)?;
        std::fs::write(dir.join(format!("{name}.html")), render_html(&doc))?;
        println!("{} ({} bytes)", path.display(), pdf.len());
    }
    Ok(())
}
