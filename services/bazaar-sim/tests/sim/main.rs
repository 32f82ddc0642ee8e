//! Integration tests of the Bazaar simulator: real HTTP on 127.0.0.1, with a small receiver
//! playing Cairn's webhook endpoint and a signed client playing Cairn's connector.

mod admin;
mod courier;
mod helpers;
mod items;
mod knobs;
mod lifecycle;
mod open_api;
mod traffic;
mod webhooks;
