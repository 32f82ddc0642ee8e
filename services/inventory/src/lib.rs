//! inventory: SKUs, warehouses, stock levels, reservations, the stock ledger and backorders.

pub mod domain;
