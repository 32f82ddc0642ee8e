//! dashboard: the sellers' web app and the live event stream it follows.
//!
//! The app itself is TypeScript (`services/dashboard/src`, built by Vite into `dist/`, which
//! is committed); this crate embeds `dist/` into the binary and serves it at `/`
//! ([`assets::Assets`]), and serves `GET /v1/events/stream` ([`events::EventsApi`]) from the
//! bus's outbox tail. The app calls only the public `/v1` API, like any ISV.

pub mod assets;
pub mod events;

pub use assets::Assets;
pub use events::EventsApi;

/// dashboard as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "dashboard",
    prefixes: &["events"],
    consumers: &[],
    single_active: &[],
    api_everywhere: false,
    tables: &[],
};

/// Mounts the dashboard's API: the event stream, whose outbox reader starts with its first
/// subscriber. The assets are served by [`Assets`] at `/`.
pub fn mount(ctx: &host::Context) -> host::Mounted<EventsApi> {
    host::Mounted::api_only(EventsApi::new(bus::tail::Tail::new(ctx.db.clone(), ctx.stop.clone())))
}
