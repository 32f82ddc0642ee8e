//! Labels per second: `Renderer::render` of a 1,000-label batch into one PDF on one thread,
//! versus headless Chromium printing the same labels laid out as HTML (the usual ERP approach).
//! Run with `cargo bench -p shipping-labels`.
//!
//! Chromium is Debian's `/usr/bin/chromium` driven by `playwright-core`, installed at bench time
//! into the target dir's tmp (never committed, no browser download); without `node` or
//! Chromium only Cairn's figures are printed. `-- --cairn-only` skips Chromium.

#[path = "support/label_html.rs"]
mod label_html;

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use shipping_labels::{LabelSize, Renderer, samples};

const BATCH: usize = 1000;
/// Labels per HTML document in Chromium's batch mode (its best case: one print call, many pages).
const CHROMIUM_BATCH: usize = 100;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(8);
const CHROMIUM: &str = "/usr/bin/chromium";

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: just prove it still works.
    if !std::env::args().any(|a| a == "--bench") {
        let pdf = Renderer::new().render(&samples::batch(3), LabelSize::Mm100x180);
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(label_html::labels_html(&samples::batch(3)).contains("ZT73"));
        println!("render bench: smoke run only (use `cargo bench -p shipping-labels`)");
        return;
    }

    println!("machine: {} ({} cores visible); one thread", cpu_model(), cores());
    let renderer = Renderer::new();
    let size = LabelSize::Mm100x180;
    let batch = samples::batch(BATCH);

    let pdf = renderer.render(&batch, size);
    let (calls, secs) = measure(|| {
        black_box(renderer.render(black_box(&batch), size));
    });
    let cairn_rate = (calls * BATCH as u64) as f64 / secs;
    println!(
        "cairn    render {BATCH} labels {size} into one PDF: {cairn_rate:>9.0} labels/s ({calls} batches in {secs:.1} s, {:.1} ms a batch)",
        secs * 1000.0 / calls as f64
    );
    println!(
        "cairn    that PDF: {} bytes, {:.0} bytes per label (font subset embedded once)",
        pdf.len(),
        pdf.len() as f64 / BATCH as f64
    );
    let one = [samples::label()];
    let (calls, secs) = measure(|| {
        black_box(renderer.render(black_box(&one), size));
    });
    println!(
        "cairn    render 1 label {size} as its own PDF: {:>9.0} labels/s, {} bytes",
        calls as f64 / secs,
        renderer.render(&one, size).len()
    );

    if std::env::args().any(|a| a == "--cairn-only") {
        return;
    }
    let mut best: Option<f64> = None;
    for (what, labels) in
        [("1 label a PDF", vec![samples::label()]), ("100 labels a PDF", samples::batch(CHROMIUM_BATCH))]
    {
        match chromium(&label_html::labels_html(&labels), labels.len()) {
            Ok(c) => {
                let rate = c.rate * labels.len() as f64;
                println!(
                    "chromium setContent + page.pdf(100x180mm), {what}: {rate:>9.1} labels/s ({} calls in {:.1} s), PDF {} bytes ({:.0} a label)",
                    c.count,
                    c.seconds,
                    c.pdf_bytes,
                    c.pdf_bytes as f64 / labels.len() as f64
                );
                println!("ratio    cairn batch / chromium {what}: {:.0}x", cairn_rate / rate);
                best = Some(best.map_or(rate, |b: f64| b.max(rate)));
            }
            Err(why) => println!("chromium baseline ({what}) skipped: {why}"),
        }
    }
    if let Some(best) = best {
        println!("ratio    cairn / chromium's best: {:.0}x (target ≥ 100x)", cairn_rate / best);
    }
}

/// Runs `f` for [`WARM_UP`], then counts calls for [`MEASURE`]: (calls, seconds).
fn measure(mut f: impl FnMut()) -> (u64, f64) {
    let start = Instant::now();
    while start.elapsed() < WARM_UP {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < MEASURE {
        f();
        n += 1;
    }
    (n, start.elapsed().as_secs_f64())
}

struct ChromiumRun {
    /// PDFs per second.
    rate: f64,
    count: u64,
    seconds: f64,
    pdf_bytes: u64,
}

fn chromium(html: &str, labels: usize) -> Result<ChromiumRun, String> {
    if !Path::new(CHROMIUM).exists() {
        return Err(format!("{CHROMIUM} not found (apt-get install -y chromium)"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("node not on PATH".into());
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shipping-labels-bench");
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    if !tmp.join("node_modules/playwright-core").exists() {
        println!("installing playwright-core@1 into {} ...", tmp.display());
        let status = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&tmp)
            .arg("playwright-core@1")
            .status()
            .map_err(|e| format!("npm: {e}"))?;
        if !status.success() {
            return Err("npm install playwright-core@1 failed".into());
        }
    }
    let html_path = tmp.join(format!("labels-{labels}.html"));
    std::fs::write(&html_path, html).map_err(|e| e.to_string())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/chromium_pdf.cjs");
    let out = Command::new("node")
        .env("NODE_PATH", tmp.join("node_modules"))
        .env("CHROMIUM", CHROMIUM)
        .arg(script)
        .arg(&html_path)
        .arg(MEASURE.as_secs().to_string())
        .args(["100mm", "180mm"])
        .arg(tmp.join(format!("chromium-labels-{labels}.pdf")))
        .output()
        .map_err(|e| format!("node: {e}"))?;
    if !out.status.success() {
        return Err(format!("the Chromium script failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let num = |key: &str| -> Result<f64, String> {
        let pat = format!("\"{key}\":");
        let rest = line.split_once(&pat).ok_or_else(|| format!("no {key} in {line}"))?.1;
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        rest[..end].trim().parse().map_err(|e| format!("{key}: {e}"))
    };
    Ok(ChromiumRun {
        rate: num("rate")?,
        count: num("count")? as u64,
        seconds: num("seconds")?,
        pdf_bytes: num("pdf_bytes")? as u64,
    })
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn cores() -> String {
    Command::new("nproc")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(0, |n| n.get()).to_string())
}
