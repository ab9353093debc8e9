//! faccia domain
