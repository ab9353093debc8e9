//! URP console
