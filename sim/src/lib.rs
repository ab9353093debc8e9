//! Queue simulator
