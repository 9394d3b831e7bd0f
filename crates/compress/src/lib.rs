//! tinyforge-compress

pub mod prune;
