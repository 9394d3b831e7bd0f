//! tinyforge-runtime
