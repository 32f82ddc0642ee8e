//! Prometheus metrics: the one recorder of the process, the names Cairn exposes at
//! `GET /metrics`, and a helper per measurement so that call sites cannot get a name or a label
//! wrong.
//!
//! Cairn records through the [`metrics`](::metrics) facade into `metrics-exporter-prometheus`'s
//! recorder, built without the exporter's own HTTP listener: the binary renders
//! [`render`] on its own listener (`services/cairn/src/app.rs`).
//!
//! **Labels are bounded and anonymous.** Every label value passed to the helpers here is a
//! `&'static str` from a closed set the code names (a marketplace, an outcome class, a bus
//! consumer, a write-back state). Never a tenant id, shop id, SKU, order, message id or anything
//! else that comes from a request: that would put one tenant's activity in front of whoever reads
//! the metrics (a privacy leak across tenants), and every distinct value is a new time series
//! for Prometheus to keep (unbounded cardinality). Taking `&'static str` makes a value read
//! from a request hard to pass by accident; do not get around it with `Box::leak` or
//! `String::leak`. Per-tenant figures belong in the tenant-scoped API, not here.
//!
//! **One recorder per process.** A global recorder can be set only once, and the tests start
//! many Cairns in one process, so [`install`] is idempotent: the first call installs it and
//! every later call (a second `cairn::spawn`) returns the same handle. Two Cairns in one process
//! therefore share the counters, and a gauge shows what the Cairn that set it last saw; in
//! production a process runs one Cairn.
//!
//! Names are stable (dashboards and alerts depend on them): the constants below, listed with
//! their labels in the README's "Metrics" section. Counters end in `_total`, durations are in
//! seconds, and histograms have fixed buckets (so replicas can be summed), never summaries.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::{sync::OnceLock, time::Duration};

/// The media type of [`render`]'s text: Prometheus' text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Counter: marketplace webhooks answered, by `marketplace` and `outcome` (see
/// [`webhook_request`]).
pub const WEBHOOK_REQUESTS: &str = "cairn_webhook_requests_total";
/// Histogram: seconds from a webhook's body read to its answer, by `marketplace` and `outcome`.
pub const WEBHOOK_DURATION: &str = "cairn_webhook_duration_seconds";
/// Counter: bus messages a consumer finished with, by `consumer` and `outcome` (`ok`, `failed`:
/// an attempt that failed and will be retried, `parked`: given up on and kept for a person).
pub const BUS_MESSAGES: &str = "cairn_bus_messages_total";
/// Histogram: seconds a consumer took to handle one delivery, by `consumer`. On the embedded
/// bus a delivery may be a group of up to 256 messages committed together.
pub const BUS_HANDLE_DURATION: &str = "cairn_bus_handle_duration_seconds";
/// Histogram: a handled message's age — seconds from the event (its `occurred_at`) to the commit
/// of its effect, which on RabbitMQ is just before the ack — by `consumer`: relay, queue and
/// handling delay together.
pub const BUS_EVENT_AGE: &str = "cairn_bus_event_age_seconds";
/// Gauge: events waiting for a consumer, by `consumer`. Embedded bus: its topics' outbox rows
/// after its cursor, counted up to [`BUS_PENDING_CAP`]. RabbitMQ: the ready messages of its
/// queue (not those delivered and not yet acked).
pub const BUS_PENDING: &str = "cairn_bus_pending_events";
/// Gauge (embedded bus only): seconds since the oldest event still waiting for a consumer
/// occurred, by `consumer`; 0 when none waits.
pub const BUS_OLDEST_PENDING_AGE: &str = "cairn_bus_oldest_pending_age_seconds";
/// Where [`BUS_PENDING`] stops counting on the embedded bus, so the periodic count stays cheap
/// however far a consumer is behind ([`BUS_OLDEST_PENDING_AGE`] still says how far).
pub const BUS_PENDING_CAP: u64 = 10_000;
/// Gauge: marketplace write-backs not done, by `kind` (`shipment`, `stock`) and `state`
/// (`pending`, `no_api`, `rejected`), over every tenant.
pub const WRITEBACKS_WAITING: &str = "cairn_writebacks_waiting";
/// Counter: write transactions let through SQLite's write gate.
pub const WRITE_GATE_ACQUISITIONS: &str = "cairn_sqlite_write_gate_acquisitions_total";
/// Histogram: seconds a writer waited at SQLite's write gate.
pub const WRITE_GATE_WAIT: &str = "cairn_sqlite_write_gate_wait_seconds";
/// Histogram: seconds a writer held SQLite's write gate (BEGIN to the end of COMMIT or
/// ROLLBACK). `rate(…_sum)` is the share of time the single writer was busy.
pub const WRITE_GATE_HELD: &str = "cairn_sqlite_write_gate_held_seconds";
/// Counter: stock reservations decided, by `source` (`api`: one per `POST /v1/reservations`,
/// all its lines or none; `order`: one per order line) and `outcome` (see [`reservation`]).
pub const RESERVATIONS: &str = "cairn_reservations_total";
/// Counter: API calls refused by a rate limit, by `scope`. Registered by nobody yet: for the
/// per-tenant rate limits (identity) to call through [`rate_limit_rejected`].
pub const RATE_LIMIT_REJECTIONS: &str = "cairn_rate_limit_rejections_total";
/// Counter: event-subscription deliveries to subscribers, by `outcome`. Registered by nobody
/// yet: for the subscriptions (ISV platform) to call through [`subscription_delivery`].
pub const SUBSCRIPTION_DELIVERIES: &str = "cairn_subscription_deliveries_total";

/// Request latencies: 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// The write gate: SQLite transactions take tens of microseconds to tens of milliseconds.
const GATE_BUCKETS: &[f64] =
    &[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Event ages: milliseconds when the bus keeps up, minutes behind a backlog or an outage.
const AGE_BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

/// How often buffered histogram samples are folded into their buckets when nobody scrapes, so
/// that memory stays bounded (the exporter only does it on render or upkeep).
const UPKEEP: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The recorder as Cairn configures it: explicit `_total` names (no suffixes added), fixed
/// histogram buckets per metric.
fn recorder() -> PrometheusRecorder {
    let builder = PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS).expect("buckets are not empty");
    let builder = [(WRITE_GATE_WAIT, GATE_BUCKETS), (WRITE_GATE_HELD, GATE_BUCKETS), (BUS_EVENT_AGE, AGE_BUCKETS)]
        .into_iter()
        .fold(builder, |b, (name, buckets)| {
            b.set_buckets_for_metric(Matcher::Full(name.into()), buckets).expect("buckets are not empty")
        });
    builder.build_recorder()
}

/// Installs the process's recorder on the first call; every call returns its handle. If some
/// other recorder was installed first (not something Cairn does), that one keeps the
/// measurements and [`render`] shows none of them.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first: /metrics will be empty");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP);
                upkeep.run_upkeep();
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the metrics upkeep thread (histograms fold on scrape only)");
        }
        handle
    })
}

/// The current values in Prometheus' text format ([`CONTENT_TYPE`]); installs the recorder if
/// nothing did yet.
pub fn render() -> String {
    install().render()
}

/// HELP text for every name, for whichever recorder is current. A description alone shows
/// nothing: a metric appears once something is recorded under it.
fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(WEBHOOK_REQUESTS, "Marketplace webhooks answered, by marketplace and outcome.");
    describe_histogram!(WEBHOOK_DURATION, "Seconds from a webhook's body read to its answer.");
    describe_counter!(BUS_MESSAGES, "Bus messages a consumer finished with (ok, failed attempt, parked).");
    describe_histogram!(BUS_HANDLE_DURATION, "Seconds a bus consumer took per delivery (a message or a group).");
    describe_histogram!(BUS_EVENT_AGE, "Seconds from an event's occurrence to the commit of a consumer's effect.");
    describe_gauge!(BUS_PENDING, "Events waiting for a bus consumer (embedded bus: counted up to 10000).");
    describe_gauge!(
        BUS_OLDEST_PENDING_AGE,
        "Age in seconds of the oldest event waiting for a consumer (embedded bus)."
    );
    describe_gauge!(WRITEBACKS_WAITING, "Marketplace write-backs not done, by kind and state, over all tenants.");
    describe_counter!(WRITE_GATE_ACQUISITIONS, "Write transactions let through SQLite's write gate.");
    describe_histogram!(WRITE_GATE_WAIT, "Seconds a writer waited at SQLite's write gate.");
    describe_histogram!(WRITE_GATE_HELD, "Seconds a writer held SQLite's write gate.");
    describe_counter!(RESERVATIONS, "Stock reservations decided, by source (api, order) and outcome.");
    describe_counter!(RATE_LIMIT_REJECTIONS, "API calls refused by a rate limit, by scope.");
    describe_counter!(SUBSCRIPTION_DELIVERIES, "Event-subscription deliveries, by outcome.");
}

/// A marketplace webhook was answered. `marketplace`: `bazaar`, `shopify`, …; `outcome`:
/// `accepted`, `duplicate`, `rejected_signature`, `rejected_stale`, `rejected_invalid`,
/// `rejected_unknown_shop`, `error` (channels decides the class, `services/channels/src/http`).
pub fn webhook_request(marketplace: &'static str, outcome: &'static str, elapsed: Duration) {
    let labels = [("marketplace", marketplace), ("outcome", outcome)];
    ::metrics::counter!(WEBHOOK_REQUESTS, &labels).increment(1);
    ::metrics::histogram!(WEBHOOK_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// A consumer finished with `count` messages with `outcome` (`ok`, `failed`, `parked`).
pub fn bus_messages(consumer: &'static str, outcome: &'static str, count: u64) {
    ::metrics::counter!(BUS_MESSAGES, "consumer" => consumer, "outcome" => outcome).increment(count);
}

/// A consumer handled one delivery (a message, or a group on the embedded bus) in `elapsed`.
pub fn bus_handled(consumer: &'static str, elapsed: Duration) {
    ::metrics::histogram!(BUS_HANDLE_DURATION, "consumer" => consumer).record(elapsed.as_secs_f64());
}

/// The effects of messages that occurred `ages` seconds ago were committed by `consumer`
/// (negative ages, from clocks apart, count as 0).
pub fn bus_event_ages(consumer: &'static str, ages: impl IntoIterator<Item = f64>) {
    let h = ::metrics::histogram!(BUS_EVENT_AGE, "consumer" => consumer);
    for age in ages {
        h.record(age.max(0.0));
    }
}

/// What waits for `consumer` now: `pending` events, the oldest `oldest_age` seconds old (`None`
/// where the transport cannot tell cheaply, RabbitMQ).
pub fn bus_pending(consumer: &'static str, pending: u64, oldest_age: Option<f64>) {
    ::metrics::gauge!(BUS_PENDING, "consumer" => consumer).set(pending as f64);
    if let Some(age) = oldest_age {
        ::metrics::gauge!(BUS_OLDEST_PENDING_AGE, "consumer" => consumer).set(age.max(0.0));
    }
}

/// `count` write-backs of `kind` (`shipment`, `stock`) are in `state` (`pending`, `no_api`,
/// `rejected`) now.
pub fn writebacks_waiting(kind: &'static str, state: &'static str, count: u64) {
    ::metrics::gauge!(WRITEBACKS_WAITING, "kind" => kind, "state" => state).set(count as f64);
}

/// A writer passed SQLite's write gate after waiting `wait`.
pub fn write_gate_acquired(wait: Duration) {
    ::metrics::counter!(WRITE_GATE_ACQUISITIONS).increment(1);
    ::metrics::histogram!(WRITE_GATE_WAIT).record(wait.as_secs_f64());
}

/// A writer released SQLite's write gate after holding it for `held`.
pub fn write_gate_released(held: Duration) {
    ::metrics::histogram!(WRITE_GATE_HELD).record(held.as_secs_f64());
}

/// `count` reservations from `source` (`api`, `order`) ended with `outcome`: `reserved` (stock
/// held or confirmed), `out_of_stock` (an API request refused, or a paid order line
/// backordered), `duplicate` (a replay answered with the first result, or an order message seen
/// before), `rejected` (an API request refused for another reason, such as an unknown SKU or a
/// reused key).
pub fn reservation(source: &'static str, outcome: &'static str, count: u64) {
    ::metrics::counter!(RESERVATIONS, "source" => source, "outcome" => outcome).increment(count);
}

/// A call was refused by the rate limit of `scope`: `user` or `app` (the kind of caller) —
/// never the tenant or app it applied to.
pub fn rate_limit_rejected(scope: &'static str) {
    ::metrics::counter!(RATE_LIMIT_REJECTIONS, "scope" => scope).increment(1);
}

/// An event delivery attempt ended with `outcome` (`delivered`, `failed`, `gave_up`) —
/// never the subscriber's id or URL.
pub fn subscription_delivery(outcome: &'static str) {
    ::metrics::counter!(SUBSCRIPTION_DELIVERIES, "outcome" => outcome).increment(1);
}

/// One sample of the text format: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Reads Prometheus' text format strictly enough to check what [`render`] writes (and what
/// tests and tools read from `/metrics`): every line is blank, a comment, `# HELP name text`,
/// `# TYPE name kind` (once per family, before its samples) or a sample `name{label="value",…}
/// value` whose family has a `# TYPE`. The error names the line.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: std::collections::HashMap<String, String> = Default::default();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !is_name(name) {
                        return Err(bad("bad metric name"));
                    }
                    if !matches!(kind, "counter" | "gauge" | "histogram" | "summary" | "untyped") {
                        return Err(bad("unknown type"));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(bad("second TYPE for one family"));
                    }
                }
                (Some("TYPE"), ..) => return Err(bad("TYPE needs a name and a type")),
                (Some("HELP"), Some(name), _) if !is_name(name) => return Err(bad("bad metric name")),
                _ => {}
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|why| bad(&why))?;
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| sample.name.strip_suffix(s))
            .find(|f| types.get(*f).is_some_and(|k| k == "histogram" || k == "summary"))
            .unwrap_or(&sample.name);
        if !types.contains_key(family) {
            return Err(bad("sample without a TYPE line before it"));
        }
        samples.push(sample);
    }
    Ok(samples)
}

/// The sum of the samples named `name` that carry every label in `labels` (0 when none do).
pub fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v)))
        .map(|s| s.value)
        .sum()
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    !s.contains(':') && is_name(s)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_name(name) {
        return Err("bad metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = inner.find('=').ok_or("label without a value")?;
            let key = &inner[..eq];
            if !is_label_name(key) {
                return Err(format!("bad label name {key:?}"));
            }
            let quoted = inner[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let close = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        _ => return Err("bad escape in a label value".into()),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            };
            labels.push((key.to_owned(), value));
            inner = &quoted[close + 1..];
            inner = inner.strip_prefix(',').unwrap_or(inner);
        }
    }
    let mut fields = rest.split_whitespace();
    let value = match fields.next().ok_or("no value")? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| format!("bad value {v:?}"))?,
    };
    // An optional timestamp (integer milliseconds), then nothing.
    if let Some(ts) = fields.next()
        && ts.parse::<i64>().is_err()
    {
        return Err(format!("bad timestamp {ts:?}"));
    }
    if fields.next().is_some() {
        return Err("text after the value".into());
    }
    Ok(Sample { name: name.to_owned(), labels, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records through the helpers into a recorder of the test's own (the global one is the
    /// process's) and returns what it renders.
    fn rendered(record: impl FnOnce()) -> String {
        let recorder = recorder();
        let handle = recorder.handle();
        ::metrics::with_local_recorder(&recorder, || {
            describe();
            record();
        });
        handle.render()
    }

    #[test]
    fn renders_counters_histograms_and_gauges_as_prometheus_text() {
        let text = rendered(|| {
            webhook_request("bazaar", "accepted", Duration::from_millis(12));
            webhook_request("bazaar", "accepted", Duration::from_millis(30));
            webhook_request("shopify", "rejected_signature", Duration::from_micros(400));
            write_gate_acquired(Duration::from_micros(70));
            reservation("order", "reserved", 3);
            writebacks_waiting("shipment", "pending", 7);
            bus_pending("orders", 12, Some(1.5));
            bus_event_ages("orders", [0.02, -1.0]);
        });
        let samples = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let accepted = [("marketplace", "bazaar"), ("outcome", "accepted")];
        assert_eq!(sum(&samples, WEBHOOK_REQUESTS, &accepted), 2.0, "{text}");
        assert_eq!(sum(&samples, WEBHOOK_REQUESTS, &[("marketplace", "shopify")]), 1.0, "{text}");
        // A real histogram (fixed buckets, so replicas add up), not a summary.
        assert!(text.contains("# TYPE cairn_webhook_duration_seconds histogram"), "{text}");
        assert_eq!(sum(&samples, "cairn_webhook_duration_seconds_count", &accepted), 2.0);
        let sum_seconds = sum(&samples, "cairn_webhook_duration_seconds_sum", &accepted);
        assert!((sum_seconds - 0.042).abs() < 1e-9, "{sum_seconds}");
        let le_25ms = [("marketplace", "bazaar"), ("outcome", "accepted"), ("le", "0.025")];
        assert_eq!(sum(&samples, "cairn_webhook_duration_seconds_bucket", &le_25ms), 1.0, "{text}");
        // The gate's buckets start far below a millisecond.
        assert_eq!(sum(&samples, "cairn_sqlite_write_gate_wait_seconds_bucket", &[("le", "0.0001")]), 1.0, "{text}");
        assert_eq!(sum(&samples, WRITE_GATE_ACQUISITIONS, &[]), 1.0);
        assert_eq!(sum(&samples, RESERVATIONS, &[("source", "order"), ("outcome", "reserved")]), 3.0);
        assert_eq!(sum(&samples, WRITEBACKS_WAITING, &[("kind", "shipment"), ("state", "pending")]), 7.0);
        assert_eq!(sum(&samples, BUS_PENDING, &[("consumer", "orders")]), 12.0);
        assert_eq!(sum(&samples, BUS_OLDEST_PENDING_AGE, &[("consumer", "orders")]), 1.5);
        // A negative age (clocks apart) counts as 0.
        assert_eq!(sum(&samples, "cairn_bus_event_age_seconds_bucket", &[("le", "0.005")]), 1.0, "{text}");
        assert!(text.contains("# HELP cairn_webhook_requests_total Marketplace webhooks answered"), "{text}");
        assert!(text.contains("# TYPE cairn_webhook_requests_total counter"), "{text}");
        // What nobody recorded is not there, however described: no made-up zeros for the
        // rate limits and subscriptions that do not exist yet.
        assert!(!text.contains(RATE_LIMIT_REJECTIONS) && !text.contains(SUBSCRIPTION_DELIVERIES), "{text}");
    }

    #[test]
    fn the_helpers_for_what_is_not_built_yet_record_under_their_names() {
        let text = rendered(|| {
            rate_limit_rejected("api");
            subscription_delivery("delivered");
        });
        let samples = parse(&text).unwrap();
        assert_eq!(sum(&samples, RATE_LIMIT_REJECTIONS, &[("scope", "api")]), 1.0, "{text}");
        assert_eq!(sum(&samples, SUBSCRIPTION_DELIVERIES, &[("outcome", "delivered")]), 1.0, "{text}");
    }

    #[test]
    fn install_is_idempotent_and_renders_what_the_process_records() {
        let first = install() as *const PrometheusHandle;
        assert_eq!(first, install() as *const PrometheusHandle);
        let before = sum(&parse(&render()).unwrap(), BUS_MESSAGES, &[("consumer", "test"), ("outcome", "ok")]);
        bus_messages("test", "ok", 2);
        let after = sum(&parse(&render()).unwrap(), BUS_MESSAGES, &[("consumer", "test"), ("outcome", "ok")]);
        assert_eq!(after - before, 2.0);
    }

    #[test]
    fn the_reader_refuses_what_is_not_the_text_format() {
        let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"\"} 3\n\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n";
        let s = parse(ok).unwrap();
        assert_eq!(s[0].labels, vec![("x".to_owned(), "1".to_owned()), ("y".to_owned(), "q\"".to_owned())]);
        assert_eq!(s.len(), 4);
        for bad in [
            "a_total 1\n",                              // no TYPE
            "# TYPE a counter\na{x=1} 1\n",             // unquoted label value
            "# TYPE a counter\na{x=\"1\"} one\n",       // not a number
            "# TYPE a counter\na{x=\"1\" 1\n",          // unterminated labels
            "# TYPE a counter\n9a 1\n",                 // bad name
            "# TYPE a counter\na 1 2 3\n",              // trailing text
            "# TYPE a counter\n# TYPE a gauge\na 1\n",  // two TYPEs
            "# TYPE a thing\na 1\n",                    // unknown type
            "# TYPE a counter\na{tenant-id=\"1\"} 1\n", // bad label name
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
