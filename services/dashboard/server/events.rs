//! `GET /v1/events/stream`: the caller's tenant's bus events, live, as server-sent events.
//!
//! Each event is `id: <outbox seq>`, `event: <type>` (`order.changed`, `stock.level_changed`,
//! …), `data: <the envelope as JSON>`. A client that reconnects with `Last-Event-ID` first
//! gets what it missed (up to [`REPLAY_LIMIT`] events); one that is further behind, or that
//! reads too slowly to keep up, gets `event: stream.reset` instead and should reload what it
//! shows. A comment line every 15 s keeps proxies from closing an idle stream.

use auth::{BearerAuth, Scope};
use bus::tail::{Tail, Tailed};
use futures_util::{StreamExt, stream::BoxStream};
use poem::web::sse::Event;
use poem_openapi::{
    ApiResponse, Object, OpenApi, Tags,
    param::Header,
    payload::EventStream,
    registry::{MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};
use problem::ApiResult;
use problem::status::READ;
use std::borrow::Cow;
use std::{sync::Arc, time::Duration};
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

/// Events a resuming client is sent before it is told to reload instead.
pub const REPLAY_LIMIT: u64 = 1000;

#[derive(Tags)]
enum Tag {
    /// Live events.
    Events,
}

/// The events API.
pub struct EventsApi {
    tail: Tail,
}

impl EventsApi {
    /// Streams from `tail`.
    pub fn new(tail: Tail) -> Self {
        EventsApi { tail }
    }
}

/// One bus event (its envelope); `stream.reset` events carry `{"reason": …}` instead.
#[derive(Debug, Clone, Object)]
struct BusEvent {
    id: Uuid,
    /// e.g. `order.changed`.
    #[oai(rename = "type")]
    kind: String,
    tenant_id: Uuid,
    occurred_at: chrono::DateTime<chrono::Utc>,
    correlation_id: Uuid,
    #[oai(nullable)]
    causation_id: Option<Uuid>,
    partition_key: String,
    schema_version: u32,
    /// The event's own fields (see the event contracts).
    payload: serde_json::Value,
}

/// What the stream sends: a bus event, or a reset. Its schema in the spec is [`BusEvent`]'s;
/// a bus event goes out as the envelope was stored, without being parsed again.
pub struct Item(Kind);

enum Kind {
    Event(Arc<Tailed>),
    Reset(&'static str),
}

impl Type for Item {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        BusEvent::name()
    }
    fn schema_ref() -> MetaSchemaRef {
        BusEvent::schema_ref()
    }
    fn register(registry: &mut Registry) {
        BusEvent::register(registry)
    }
    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }
    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ToJSON for Item {
    fn to_json(&self) -> Option<serde_json::Value> {
        match &self.0 {
            Kind::Event(t) => serde_json::from_str(&t.envelope).ok(),
            Kind::Reset(reason) => Some(serde_json::json!({ "reason": reason })),
        }
    }
}

impl Item {
    fn to_sse(&self) -> Event {
        match &self.0 {
            Kind::Event(t) => Event::message(t.envelope.clone()).event_type(t.kind.clone()).id(t.seq.to_string()),
            Kind::Reset(reason) => {
                Event::message(serde_json::json!({ "reason": reason }).to_string()).event_type("stream.reset")
            }
        }
    }
}

#[derive(ApiResponse)]
enum Streamed {
    /// `text/event-stream` of the tenant's events until the client goes away.
    #[oai(status = 200)]
    Ok(EventStream<BoxStream<'static, Item>>),
}

/// The stream's state: the subscription, what to send first, and the last `seq` sent.
struct State {
    rx: broadcast::Receiver<Arc<Tailed>>,
    queued: std::collections::VecDeque<Item>,
    tenant: Uuid,
    last: i64,
}

#[OpenApi(prefix_path = "/v1")]
impl EventsApi {
    /// The tenant's events as they happen: every event type the bus carries (`order.changed`,
    /// `order.shipped`, `stock.level_changed`, `stock.reservation_changed`,
    /// `channel.trade_received`, …), as server-sent events whose `id` is the event's position
    /// and whose data is the event's envelope. Send `Last-Event-ID` to resume after a
    /// disconnect; `event: stream.reset` means "reload": the client was too far behind.
    #[oai(path = "/events/stream", method = "get", tag = "Tag::Events")]
    async fn stream(
        &self,
        #[oai(scope = "Scope::EventsRead")] auth: BearerAuth,
        /// The `id` of the last event received, to resume after it.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> ApiResult<Streamed, READ> {
        let tenant = auth.0.tenant_id.0;
        // Subscribe before reading what was missed, so nothing falls between the two.
        let rx = self.tail.subscribe();
        let mut queued = std::collections::VecDeque::new();
        let mut last = 0;
        if let Some(after) = last_event_id.0.as_deref().and_then(|v| v.trim().parse::<i64>().ok()) {
            last = after;
            let missed = self.tail.replay(tenant, after, REPLAY_LIMIT + 1).await.map_err(problem::Problem::internal)?;
            if missed.len() as u64 > REPLAY_LIMIT {
                queued.push_back(Item(Kind::Reset("too_far_behind")));
            } else {
                last = missed.last().map_or(after, |t| t.seq);
                queued.extend(missed.into_iter().map(|t| Item(Kind::Event(Arc::new(t)))));
            }
        }
        let state = State { rx, queued, tenant, last };
        let items = futures_util::stream::unfold(state, |mut s| async move {
            if let Some(item) = s.queued.pop_front() {
                return Some((item, s));
            }
            loop {
                match s.rx.recv().await {
                    Ok(t) if t.tenant_id == s.tenant && t.seq > s.last => {
                        s.last = t.seq;
                        return Some((Item(Kind::Event(t)), s));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => return Some((Item(Kind::Reset("lagged")), s)),
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        Ok(Streamed::Ok(EventStream::new(items.boxed()).keep_alive(Duration::from_secs(15)).to_event(|i| i.to_sse())))
    }
}
