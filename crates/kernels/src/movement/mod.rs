//! Data-movement kernels: PAD, CONCATENATION, RESHAPE / SQUEEZE (copies).
//!
//! All are generic over the element type (`i8`, `i16`, `f32`, …): they move values without
//! arithmetic, so int8 and float share one implementation. TFLM does not requantize in any
//! of them: int8 PAD fills with the output zero point, int8 CONCATENATION copies raw bytes
//! (the converter gives all its tensors the same parameters).

pub mod concatenation;
pub mod pad;
pub mod reshape;
