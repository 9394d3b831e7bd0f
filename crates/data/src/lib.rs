//! tinyforge-data
