//! tinyforge-train
