//! Invoices per second: `Renderer::render` on one thread versus headless Chromium printing the
//! same invoice's HTML (the usual ERP approach). Run with `cargo bench -p invoicing-pdf`.
//!
//! Chromium is driven by `playwright-core`, installed at bench time into the target dir's tmp
//! (never committed); without `node` or `/usr/bin/chromium` only Cairn's figure is printed.
//! `cargo bench -p invoicing-pdf -- --cairn-only` skips Chromium (e.g. under a profiler).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use invoicing_pdf::{Renderer, render_html, samples};

const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(6);
const CHROMIUM: &str = "/usr/bin/chromium";

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: just prove it still works.
    if !std::env::args().any(|a| a == "--bench") {
        assert!(Renderer::new().render(&samples::invoice()).starts_with(b"%PDF-"));
        println!("render bench: smoke run only (use `cargo bench -p invoicing-pdf`)");
        return;
    }

    println!("machine: {} ({} cores visible)", cpu_model(), cores());
    let doc = samples::invoice();
    let renderer = Renderer::new();

    let pdf = renderer.render(&doc);
    let (cairn_rate, n, secs) = measure(|| {
        black_box(renderer.render(black_box(&doc)));
    });
    println!(
        "cairn    Renderer::render, 1 thread, {} lines: {:>9.1} invoices/s ({n} in {secs:.1} s, {:.3} ms each), PDF {} bytes",
        doc.lines.len(),
        cairn_rate,
        1000.0 / cairn_rate,
        pdf.len()
    );

    if std::env::args().any(|a| a == "--cairn-only") {
        return;
    }
    let html = render_html(&doc);
    let (html_rate, _, _) = measure(|| {
        black_box(render_html(black_box(&doc)));
    });
    println!("cairn    render_html alone:                {html_rate:>9.1} pages/s, HTML {} bytes", html.len());
    match chromium(&html) {
        Ok(c) => {
            println!(
                "chromium setContent + page.pdf(A4), 1 page:     {:>9.1} invoices/s ({} in {:.1} s), PDF {} bytes",
                c.rate, c.count, c.seconds, c.pdf_bytes
            );
            println!("ratio    cairn / chromium: {:.0}x", cairn_rate / c.rate);
        }
        Err(why) => println!("chromium baseline skipped: {why}"),
    }
}

/// Runs `f` for [`WARM_UP`], then counts calls for [`MEASURE`]: (calls/s, calls, seconds).
fn measure(mut f: impl FnMut()) -> (f64, u64, f64) {
    let start = Instant::now();
    while start.elapsed() < WARM_UP {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < MEASURE {
        for _ in 0..16 {
            f();
        }
        n += 16;
    }
    let secs = start.elapsed().as_secs_f64();
    (n as f64 / secs, n, secs)
}

struct ChromiumRun {
    rate: f64,
    count: u64,
    seconds: f64,
    pdf_bytes: u64,
}

fn chromium(html: &str) -> Result<ChromiumRun, String> {
    if !Path::new(CHROMIUM).exists() {
        return Err(format!("{CHROMIUM} not found (apt-get install -y chromium)"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("node not on PATH".into());
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("invoicing-pdf-bench");
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
    let html_path = tmp.join("invoice.html");
    std::fs::write(&html_path, html).map_err(|e| e.to_string())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/chromium_pdf.cjs");
    let out = Command::new("node")
        .env("NODE_PATH", tmp.join("node_modules"))
        .env("CHROMIUM", CHROMIUM)
        .arg(script)
        .arg(&html_path)
        .arg(MEASURE.as_secs().to_string())
        .arg(tmp.join("chromium-invoice.pdf"))
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
