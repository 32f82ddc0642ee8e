//! `cargo xtask clients`: clients generated from the published OpenAPI work, in Python and in
//! TypeScript, generated and used the way an ISV would.
//!
//! - Starts a fresh `cairn up` ([`live::Cairn`]) and saves the spec it serves at
//!   `/openapi.json` as `<target>/clients/openapi.json`.
//! - Python: openapi-python-client [`PYTHON_GENERATOR`], in its own virtualenv
//!   (`<target>/clients/openapi-python-client-<version>/`, made once), generates `cairn_client`
//!   with `openapi-python-client.yaml`; any warning not listed in [`PYTHON_KNOWN`], or a listed
//!   one that no longer comes, fails the step. The package is installed into the virtualenv,
//!   which then runs `smoke.py`.
//! - TypeScript: openapi-typescript and openapi-fetch at the dashboard's versions (this
//!   directory's `package.json` and lock, `npm ci` into `<target>/clients/typescript/` when the
//!   lock changed) type `cairn.d.ts`; any warning fails the step. `tsc` (strict, nothing emitted
//!   on an error) checks `smoke.ts` against those types and compiles it, and node runs it.
//! - Both scripts sign up, create a SKU, adjust its stock, reserve, and read the order a signed
//!   Bazaar webhook made, checking the numbers. Prints a summary; exit code 1 when anything
//!   failed.
//!
//! All paths above without a directory are in [`DIR`].

use crate::{
    live, npm,
    util::{http, json_str, secs, show, target_dir, wait_or_kill},
};
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// The openapi-python-client release (pinned so CI is reproducible).
pub const PYTHON_GENERATOR: &str = "0.29.1";
/// Installs the generated package without build isolation (so without fetching a build backend
/// on every run); the virtualenv's own setuptools comes from the system's ensurepip and may
/// predate setuptools' own `bdist_wheel`.
const SETUPTOOLS: &str = "80.9.0";
/// The scripts and the generators' settings, relative to the workspace root.
pub const DIR: &str = "shared/xtask/clients";
/// The openapi-python-client warnings that are known and accepted, with why (in [`DIR`]).
pub const PYTHON_KNOWN: &str = "python-known-warnings.txt";
/// A smoke script that takes longer than this is stopped and fails (each takes about a second).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// The HTTP methods an OpenAPI path item holds operations under.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// How one language went: what was generated, and the first failure if any.
struct Outcome {
    facts: Vec<String>,
    /// What passing means, e.g. `smoke.py passed`.
    passed: &'static str,
    result: Result<(), String>,
}

/// Generates both clients from a fresh `cairn up` and runs their smoke scripts; 0 when both pass.
pub fn run(root: &Path) -> Result<i32, String> {
    let t = Instant::now();
    let work = target_dir(root).join("clients");
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    // Both installs may need the network the first time; done before Cairn starts.
    let venv = ensure_python(&work)?;
    let node = ensure_node(root, &work)?;

    let cairn = live::Cairn::start(root, "clients")?;
    let (status, spec) = http(cairn.addr(), "GET", "/openapi.json", &[], None)?;
    if status != 200 {
        return Err(format!("GET /openapi.json answered {status}"));
    }
    let spec_path = work.join("openapi.json");
    fs::write(&spec_path, &spec).map_err(|e| format!("cannot write {}: {e}", spec_path.display()))?;
    let operations = count_operations(&spec).ok_or("the served /openapi.json has no `paths` object")?;
    crate::say!("clients: {}/openapi.json has {operations} operations", cairn.url());

    let python = python(root, &work, &venv, &spec_path, &cairn.url(), operations);
    let typescript = typescript(root, &node, &spec_path, &cairn.url(), operations);
    let log = cairn.log().to_path_buf();
    drop(cairn);

    let mut ok = true;
    for (name, outcome) in [("Python", python), ("TypeScript", typescript)] {
        let verdict = match &outcome.result {
            Ok(()) => outcome.passed.to_owned(),
            Err(e) => {
                ok = false;
                format!("FAILED: {e}")
            }
        };
        crate::say!("clients: {name}: {}; {verdict}", outcome.facts.join(", "));
    }
    crate::say!(
        "clients finished in {} — {} (generated code in {}, Cairn's log in {})",
        secs(t.elapsed()),
        if ok { "OK" } else { "FAILED" },
        work.display(),
        log.display()
    );
    Ok(if ok { 0 } else { 1 })
}

/// The virtualenv with openapi-python-client [`PYTHON_GENERATOR`], made when missing.
fn ensure_python(work: &Path) -> Result<PathBuf, String> {
    let venv = work.join(format!("openapi-python-client-{PYTHON_GENERATOR}"));
    let requirements = [&*format!("openapi-python-client=={PYTHON_GENERATOR}"), &format!("setuptools=={SETUPTOOLS}")];
    live::ensure_venv(&venv, "openapi-python-client", PYTHON_GENERATOR, &requirements)?;
    Ok(venv)
}

/// `<target>/clients/typescript/` with [`DIR`]'s package.json and lock installed (`npm ci`
/// only when the lock changed).
fn ensure_node(root: &Path, work: &Path) -> Result<PathBuf, String> {
    let node = work.join("typescript");
    fs::create_dir_all(&node).map_err(|e| format!("cannot create {}: {e}", node.display()))?;
    for file in ["package.json", "package-lock.json"] {
        copy(&root.join(DIR).join(file), &node.join(file))?;
    }
    npm::ci(&node, &node.display().to_string())?;
    Ok(node)
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to).map(|_| ()).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// openapi-python-client, then `smoke.py` with the generated package.
fn python(root: &Path, work: &Path, venv: &Path, spec: &Path, url: &str, operations: usize) -> Outcome {
    let mut facts = vec![format!("openapi-python-client {PYTHON_GENERATOR}")];
    let result = (|| {
        let out = work.join("python");
        let _ = fs::remove_dir_all(&out);
        fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let package = out.join("cairn-client");
        // Its post-hooks run ruff, which the virtualenv has.
        let path = std::env::join_paths(
            std::iter::once(venv.join("bin"))
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .map_err(|e| format!("cannot extend PATH: {e}"))?;
        let mut generate = Command::new(venv.join("bin/openapi-python-client"));
        generate
            .args(["generate", "--meta", "setup", "--path"])
            .arg(spec)
            .arg("--config")
            .arg(root.join(DIR).join("openapi-python-client.yaml"))
            .arg("--output-path")
            .arg(&package)
            .current_dir(&out)
            .env("PATH", path)
            .stdin(Stdio::null());
        crate::say!("$ {}", show(&generate));
        let output = generate.output().map_err(|e| format!("cannot run openapi-python-client: {e}"))?;
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let log = out.join("openapi-python-client.log");
        fs::write(&log, &text).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
        if !output.status.success() {
            return Err(format!("openapi-python-client failed ({}):\n{text}", output.status));
        }
        let known_path = root.join(DIR).join(PYTHON_KNOWN);
        let known =
            fs::read_to_string(&known_path).map_err(|e| format!("cannot read {}: {e}", known_path.display()))?;
        let known = listed(&known);
        let warnings = python_warnings(&text);
        let generated = count_python_operations(&package.join("cairn_client/api"))?;
        facts.push(format!("{generated} of {operations} operations generated"));
        facts.push(format!("{} known warnings ({DIR}/{PYTHON_KNOWN})", known.len()));
        let unexpected: Vec<&str> = warnings.iter().copied().filter(|w| !known.contains(w)).collect();
        if !unexpected.is_empty() {
            crate::say!("openapi-python-client's output:\n{text}");
            return Err(format!(
                "openapi-python-client warns about what it cannot generate (its whole output is above and in {}):\n  {}",
                log.display(),
                unexpected.join("\n  ")
            ));
        }
        let gone: Vec<&str> = known.iter().copied().filter(|k| !warnings.contains(k)).collect();
        if !gone.is_empty() {
            return Err(format!(
                "openapi-python-client no longer gives these warnings; remove them from {DIR}/{PYTHON_KNOWN}:\n  {}",
                gone.join("\n  ")
            ));
        }
        let package = package.to_str().ok_or("the target directory's path is not UTF-8")?;
        live::pip_install(venv, &["--no-build-isolation", package])?;
        let mut smoke = Command::new(venv.join("bin/python"));
        smoke.arg(root.join(DIR).join("smoke.py")).arg(url);
        run_script(smoke, "smoke.py")
    })();
    Outcome { facts, passed: "smoke.py passed", result }
}

/// openapi-typescript, then `smoke.ts` type-checked against its output, compiled and run.
fn typescript(root: &Path, node: &Path, spec: &Path, url: &str, operations: usize) -> Outcome {
    let version = |package: &str| {
        let manifest = fs::read_to_string(node.join("node_modules").join(package).join("package.json")).ok();
        format!("{package} {}", manifest.and_then(|m| json_str(&m, "version")).unwrap_or_else(|| "?".into()))
    };
    let mut facts = vec![version("openapi-typescript"), version("openapi-fetch"), version("typescript")];
    let result = (|| {
        let types = node.join("cairn.d.ts");
        let _ = fs::remove_file(&types);
        let mut generate = Command::new(node.join("node_modules/.bin/openapi-typescript"));
        generate.arg(spec).arg("-o").arg(&types).current_dir(node).stdin(Stdio::null());
        crate::say!("$ {}", show(&generate));
        let output = generate.output().map_err(|e| format!("cannot run openapi-typescript: {e}"))?;
        // It reports what it cannot type on stderr (`⚠`, `✘`); a clean run writes only stdout.
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || !stderr.trim().is_empty() {
            return Err(format!("openapi-typescript ({}) said:\n{stderr}", output.status));
        }
        let typed = fs::read_to_string(&types).map_err(|e| format!("cannot read {}: {e}", types.display()))?;
        facts.push(format!("{} of {operations} operations typed", count_typed_operations(&typed)));
        for file in ["smoke.ts", "tsconfig.json"] {
            copy(&root.join(DIR).join(file), &node.join(file))?;
        }
        let _ = fs::remove_dir_all(node.join("out"));
        // One pass: the strict type check, and the JavaScript only when it found nothing.
        let mut tsc = Command::new(node.join("node_modules/.bin/tsc"));
        tsc.args(["-p", ".", "--noEmitOnError", "--pretty", "false"]).current_dir(node).stdin(Stdio::null());
        crate::say!("$ (cd {} && {})", node.display(), show(&tsc));
        if !tsc.status().map_err(|e| format!("cannot run tsc: {e}"))?.success() {
            return Err(format!(
                "smoke.ts does not type-check against the generated types (errors above; smoke.ts is copied to {})",
                node.display()
            ));
        }
        let mut smoke = Command::new("node");
        smoke.arg(node.join("out/smoke.js")).arg(url).current_dir(node);
        run_script(smoke, "smoke.ts")
    })();
    Outcome { facts, passed: "smoke.ts type-checked and passed", result }
}

/// Runs a smoke script against the local Cairn, its output shown as it comes.
fn run_script(mut cmd: Command, name: &str) -> Result<(), String> {
    // It talks to 127.0.0.1 only: no proxy, whatever the environment says.
    for var in live::PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    crate::say!("$ {}", show(&cmd));
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {name}: {e}"))?;
    match wait_or_kill(&mut child, SCRIPT_TIMEOUT).map_err(|e| format!("waiting for {name}: {e}"))? {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("{name} failed ({status}; its output is above)")),
        None => Err(format!("{name} did not finish within {}; stopped it", secs(SCRIPT_TIMEOUT))),
    }
}

/// The lines of a list file, without blank lines and `#` comments.
fn listed(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
}

/// The heading line of each warning in openapi-python-client's output (the details follow it).
fn python_warnings(output: &str) -> Vec<&str> {
    output
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("WARNING ") || l.starts_with("Unable to process schema "))
        .collect()
}

/// The generated API modules: one per operation, `api/<tag>/<operation>.py`.
fn count_python_operations(api: &Path) -> Result<usize, String> {
    let read = |dir: &Path| fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()));
    let mut n = 0;
    for tag in read(api)? {
        let tag = tag.map_err(|e| e.to_string())?.path();
        if tag.is_dir() {
            for module in read(&tag)? {
                let name = module.map_err(|e| e.to_string())?.file_name();
                let name = name.to_string_lossy();
                n += usize::from(name.ends_with(".py") && name != "__init__.py");
            }
        }
    }
    Ok(n)
}

/// The operations in openapi-typescript's `paths`: a method it did not type is `get?: never`.
fn count_typed_operations(types: &str) -> usize {
    types
        .lines()
        .filter(|l| {
            l.strip_prefix("        ")
                .and_then(|l| l.split_once(": "))
                .is_some_and(|(method, _)| METHODS.contains(&method))
        })
        .count()
}

/// How many operations (a method under a path) the OpenAPI document `json` has; `None` when it
/// has no `paths` object. A scan for object keys and their depth, enough for a document this
/// program did not write by hand but must not misread: strings are skipped whole, escapes
/// included.
fn count_operations(json: &str) -> Option<usize> {
    let bytes = json.as_bytes();
    // For each open object or array, the key it is the value of.
    let mut open: Vec<Option<&str>> = Vec::new();
    let mut key: Option<&str> = None;
    let mut paths = false;
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => open.push(key.take()),
            b'}' | b']' => {
                open.pop();
            }
            b',' => key = None,
            b'"' => {
                let start = i + 1;
                i = start;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let s = json.get(start..i)?;
                if i >= bytes.len() {
                    return None; // unterminated
                }
                let next = bytes[i + 1..].iter().find(|b| !b.is_ascii_whitespace());
                if next == Some(&b':') {
                    // Inside root → "paths" → a path item.
                    if open.len() == 1 && s == "paths" {
                        paths = true;
                    }
                    if open.len() == 3 && open[1] == Some("paths") && METHODS.contains(&s) {
                        n += 1;
                    }
                    key = Some(s);
                }
            }
            _ => {}
        }
        i += 1;
    }
    paths.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::{count_operations, count_typed_operations, listed, python_warnings};

    #[test]
    fn operations_are_methods_under_paths() {
        let doc = r#"{
          "info": {"get": "not an operation", "title": "a \"quoted\" } brace"},
          "paths": {
            "/a": {"parameters": [], "get": {"x": [{"post": 1}]}, "post": {}},
            "/b/{id}": {"delete": {"description": "\\ \"put\": {"}}
          },
          "components": {"schemas": {"get": {"type": "object"}}}
        }"#;
        assert_eq!(count_operations(doc), Some(3));
        assert_eq!(count_operations(r#"{"openapi": "3.0.0"}"#), None);
        assert_eq!(count_operations(r#"{"paths": {}}"#), Some(0));
    }

    #[test]
    fn typed_operations_are_the_methods_not_never() {
        let types = "export interface paths {\n    \"/a\": {\n        parameters: {\n            query?: never;\n        };\n        get: {\n            parameters: {};\n        };\n        put?: never;\n        post: operations[\"x\"];\n    };\n}\n";
        assert_eq!(count_typed_operations(types), 2);
    }

    #[test]
    fn warnings_and_the_known_list() {
        let output = "Generating /x\nWarning(s) encountered while generating. Client was generated, but some pieces may be missing\n\nWARNING parsing PUT /v1/a within b. Endpoint will not be generated.\n\nCould not find reference\n\nUnable to process schema /components/schemas/A:\n\nCannot take allOf a non-object\n";
        assert_eq!(
            python_warnings(output),
            [
                "WARNING parsing PUT /v1/a within b. Endpoint will not be generated.",
                "Unable to process schema /components/schemas/A:"
            ]
        );
        assert_eq!(
            listed("# why\n\n  Unable to process schema /components/schemas/A:  \n#x\n"),
            ["Unable to process schema /components/schemas/A:"]
        );
    }
}
