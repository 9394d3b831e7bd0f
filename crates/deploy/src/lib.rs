//! tinyforge-deploy
