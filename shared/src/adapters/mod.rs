//! Real adapters for the ports, plus in-memory ones for handler tests.

pub mod aws;
pub mod dynamodb;
pub mod eventbridge;
pub mod https;
pub mod memory;
pub mod sqs;
pub mod stripe;
