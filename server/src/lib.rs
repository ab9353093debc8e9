//! faccia server
