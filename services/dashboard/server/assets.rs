//! The built app (`services/dashboard/dist/`), embedded in the binary and served at `/`.
//!
//! - A path that names a file serves it; any other path that is not an API, docs or probe
//!   route serves `index.html`, so the app's own routes (`/orders/…`) load on a reload or a
//!   deep link. A missing asset (`/assets/x.js`, anything with an extension) is a plain 404.
//! - Strong ETags (the SHA-256 rust-embed computes at build time); `If-None-Match` → 304.
//! - Hashed files under `assets/` are cached for a year (`immutable`); `index.html` is
//!   revalidated every time, so a new build reaches the browser at once.
//! - gzip when the client accepts it, compressed once per file and kept.
//! - A strict Content-Security-Policy: everything from this origin only; no inline script or
//!   style; the invoice PDF preview is a `blob:` frame.

use poem::{
    Endpoint, Request, Response,
    http::{Method, StatusCode, header},
};
use rust_embed::RustEmbed;
use std::{
    collections::HashMap,
    io::Write as _,
    sync::{Arc, Mutex},
};

/// The built assets.
#[derive(RustEmbed)]
#[folder = "dist/"]
struct Dist;

/// The policy every page and asset is served with.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
    connect-src 'self'; frame-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Serves the embedded app.
#[derive(Clone, Default)]
pub struct Assets {
    gzipped: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map_or("", |(_, ext)| ext) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether a path is one of the app's own routes (no extension) rather than a file.
fn is_app_route(path: &str) -> bool {
    !path.rsplit('/').next().unwrap_or("").contains('.')
}

impl Assets {
    /// The file `path` names, or `index.html` for an app route.
    fn resolve(path: &str) -> Option<(String, rust_embed::EmbeddedFile)> {
        let path = path.trim_start_matches('/');
        let path = if path.is_empty() { "index.html" } else { path };
        if let Some(f) = Dist::get(path) {
            return Some((path.to_owned(), f));
        }
        is_app_route(path).then(|| Dist::get("index.html").map(|f| ("index.html".to_owned(), f))).flatten()
    }

    fn gzip(&self, path: &str, data: &[u8]) -> Arc<Vec<u8>> {
        let mut cache = self.gzipped.lock().expect("gzip cache");
        cache
            .entry(path.to_owned())
            .or_insert_with(|| {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                enc.write_all(data).expect("in-memory gzip");
                Arc::new(enc.finish().expect("in-memory gzip"))
            })
            .clone()
    }
}

impl Endpoint for Assets {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Ok(Response::builder()
                .status(StatusCode::METHOD_NOT_ALLOWED)
                .header(header::ALLOW, "GET, HEAD")
                .finish());
        }
        let Some((path, file)) = Self::resolve(req.uri().path()) else {
            return Err(poem::Error::from_status(StatusCode::NOT_FOUND));
        };
        let etag: String =
            format!("\"{}\"", file.metadata.sha256_hash().iter().map(|b| format!("{b:02x}")).collect::<String>());
        let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
        let builder = || {
            Response::builder()
                .header(header::ETAG, etag.as_str())
                .header(header::CACHE_CONTROL, cache)
                .header(header::VARY, "Accept-Encoding")
                .header("Content-Security-Policy", CSP)
                .header("X-Content-Type-Options", "nosniff")
                .header("Referrer-Policy", "no-referrer")
        };
        let matches = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        if matches {
            return Ok(builder().status(StatusCode::NOT_MODIFIED).finish());
        }
        let gzip = req
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip")));
        let resp = builder().header(header::CONTENT_TYPE, content_type(&path));
        Ok(if gzip && file.data.len() > 1024 {
            resp.header(header::CONTENT_ENCODING, "gzip").body(self.gzip(&path, &file.data).as_ref().clone())
        } else {
            resp.body(file.data.into_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_back_to_the_app_and_files_do_not() {
        assert!(is_app_route("orders/0193a7c2-aaaa-7bbb-8ccc-000000000000"));
        assert!(is_app_route("stock"));
        assert!(!is_app_route("assets/index-abc.js"));
        assert_eq!(Assets::resolve("/").map(|(p, _)| p).as_deref(), Some("index.html"));
        assert_eq!(Assets::resolve("/orders/x").map(|(p, _)| p).as_deref(), Some("index.html"));
        assert!(Assets::resolve("/assets/missing-123.js").is_none());
    }
}
