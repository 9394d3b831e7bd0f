//! tinyforge-tflite
