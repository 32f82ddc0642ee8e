//! Writes sample label PDFs into a directory, to look at or print them:
//!
//! ```sh
//! cargo run -p shipping-labels --example sample -- /tmp/labels
//! pdftoppm -r 203 -png /tmp/labels/label-100x180.pdf /tmp/labels/label-100x180
//! ```

use std::path::PathBuf;

use shipping_labels::{LabelSize, Renderer, samples};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "label-samples".into()));
    std::fs::create_dir_all(&dir)?;
    let renderer = Renderer::new();
    let mut docs = Vec::new();
    for size in LabelSize::ALL {
        let first = if size == LabelSize::Mm100x150 { samples::sf() } else { samples::label() };
        docs.push((format!("label-{size}"), vec![first], size));
        docs.push((format!("multi-parcel-{size}"), samples::multi_parcel(), size));
        docs.push((format!("overflowing-{size}"), vec![samples::overflowing()], size));
    }
    docs.push(("batch-100-100x180".into(), samples::batch(100), LabelSize::Mm100x180));
    for (name, labels, size) in docs {
        let pdf = renderer.render(&labels, size);
        let path = dir.join(format!("{name}.pdf"));
        std::fs::write(&path, &pdf)?;
        println!("{} ({} labels, {} bytes)", path.display(), labels.len(), pdf.len());
    }
    Ok(())
}
