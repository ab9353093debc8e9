//! The gRPC API of faccia, package `faccia.v1`: `QueueEvents` (the queue-system contract),
//! `Monitor` (the console's read-only view) and `Reports` (the published figures).

#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]

pub mod v1 {
    tonic::include_proto!("faccia.v1");
}

/// Encoded file descriptor set, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("faccia_descriptor");

pub use prost_types::Timestamp;
