//! tinyforge-compress
