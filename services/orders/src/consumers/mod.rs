//! orders' bus handlers. There is one: [`OrdersHandler`], the `orders` consumer.

mod orders;

pub use orders::{CONSUMER, OrdersHandler, TOPICS};
