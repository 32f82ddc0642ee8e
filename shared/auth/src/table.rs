//! The scopes each operation needs, read from the server's own OpenAPI document.

use crate::{Scope, Scopes};
use poem::http::Method;

/// The scopes the matched operation needs; set in the request data by the [`crate::Guard`]
/// and read by the security scheme's checker.
#[derive(Debug, Clone, Copy)]
pub struct Required(pub Scopes);

#[derive(Debug)]
struct Entry {
    method: Method,
    /// As the spec writes it, e.g. `/v1/orders/{id}/hold`.
    template: String,
    /// `None` for a `{parameter}` segment.
    segments: Vec<Option<String>>,
    scopes: Scopes,
}

/// Method and path template → the scopes of the operation's security requirement.
#[derive(Debug, Default)]
pub struct ScopeTable {
    entries: Vec<Entry>,
}

impl ScopeTable {
    /// Reads every operation's `BearerAuth` requirement from an OpenAPI document (JSON).
    /// Fails on a scope name this build does not know.
    pub fn from_spec(spec: &serde_json::Value) -> Result<ScopeTable, String> {
        let mut entries = Vec::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
                let names = op["security"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|req| req.get("BearerAuth"))
                    .flat_map(|names| names.as_array().into_iter().flatten());
                let mut scopes = Scopes::default();
                let mut secured = false;
                for n in names {
                    secured = true;
                    let n = n.as_str().unwrap_or_default();
                    scopes = scopes | Scope::parse(n).ok_or_else(|| format!("{method} {path}: unknown scope `{n}`"))?;
                }
                if op["security"].as_array().is_some_and(|a| !a.is_empty()) {
                    secured = true;
                }
                if secured {
                    let segments = path
                        .split('/')
                        .skip(1)
                        .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
                        .collect();
                    entries.push(Entry { method: method.clone(), template: path.clone(), segments, scopes });
                }
            }
        }
        Ok(ScopeTable { entries })
    }

    /// The scopes of the operation `method` `path` matches (the template with the most literal
    /// segments wins, as in the router: `/v1/returns/counts` over `/v1/returns/{id}`).
    pub fn lookup(&self, method: &Method, path: &str) -> Option<Scopes> {
        self.route(method, path).map(|(_, s)| s)
    }

    /// The matched operation's path template and scopes.
    pub fn route(&self, method: &Method, path: &str) -> Option<(&str, Scopes)> {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        self.entries
            .iter()
            .filter(|e| e.method == method && e.segments.len() == parts.len())
            .filter(|e| e.segments.iter().zip(&parts).all(|(s, p)| s.as_deref().is_none_or(|s| s == *p)))
            .max_by_key(|e| e.segments.iter().filter(|s| s.is_some()).count())
            .map(|e| (e.template.as_str(), e.scopes))
    }

    /// Operations that declare a security requirement without a scope (a test keeps this
    /// empty; the checker refuses them to everyone).
    pub fn unscoped(&self) -> Vec<String> {
        self.entries.iter().filter(|e| e.scopes.is_empty()).map(|e| format!("{} {}", e.method, e.template)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_methods_count() {
        let spec = serde_json::json!({"paths": {
            "/v1/returns/{id}": {"get": {"security": [{"BearerAuth": ["shipping:read"]}]}},
            "/v1/returns/counts": {"get": {"security": [{"BearerAuth": ["orders:read"]}]}},
            "/v1/orders/{id}/hold": {"post": {"security": [{"BearerAuth": ["orders:write", "orders:read"]}]}},
            "/v1/signup": {"post": {}},
            "/v1/odd": {"get": {"security": [{"BearerAuth": []}]}}
        }});
        let t = ScopeTable::from_spec(&spec).unwrap();
        assert_eq!(t.lookup(&Method::GET, "/v1/returns/x").unwrap().to_string(), "shipping:read");
        assert_eq!(t.lookup(&Method::GET, "/v1/returns/counts").unwrap().to_string(), "orders:read");
        assert_eq!(t.lookup(&Method::POST, "/v1/orders/1/hold").unwrap().to_string(), "orders:read orders:write");
        assert_eq!(t.lookup(&Method::GET, "/v1/orders/1/hold"), None);
        assert_eq!(t.lookup(&Method::POST, "/v1/signup"), None);
        assert_eq!(t.unscoped(), vec!["GET /v1/odd".to_owned()]);
        assert_eq!(t.route(&Method::POST, "/v1/orders/9/hold").unwrap().0, "/v1/orders/{id}/hold");
        let bad = serde_json::json!({"paths": {"/x": {"get": {"security": [{"BearerAuth": ["nope"]}]}}}});
        assert!(ScopeTable::from_spec(&bad).is_err());
    }
}
