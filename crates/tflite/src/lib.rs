//! Read and write TensorFlow Lite (`.tflite`) models, mapped to and from the tinyforge IR
//! ([`tinyforge_graph::Graph`]).
//!
//! * [`read`] / [`read_file`]: verify the flatbuffer (flatbuffers' verifier, limits scaled to
//!   the file), then map subgraph 0 to a [`Graph`](tinyforge_graph::Graph) and validate it so
//!   nothing downstream can panic: indices in range, constant sizes matching shapes, bounded
//!   tensor sizes ([`MAX_TENSOR_BYTES`], [`MAX_ACTIVATION_BYTES`]), TFLite's operand counts,
//!   sane options. Unsupported ops are an error naming the op and listing
//!   [`SUPPORTED_OPS`](tinyforge_graph::SUPPORTED_OPS).
//! * [`write()`]: a schema-3 `.tflite` that LiteRT and TFLite Micro load; `read(write(g)) == g`.
//!   [`write_with`] with [`WriteOptions::compact`] (no unread names or tensors) or
//!   [`WriteOptions::tflm_only`]: the smallest file TFLite Micro loads.
//!
//! Packed weights: TFLite's `INT4` (code 17) is [`DType::I4`](tinyforge_graph::DType::I4),
//! two per byte, low nibble first, as TFLite Micro unpacks it. The schema's `INT2` (code 19) is
//! [`DType::I2`](tinyforge_graph::DType::I2) in tinyforge's layout: four per byte, element
//! `4k + j` in bits `2j..2j+2` of byte `k`, two's complement −2..1, last byte zero-padded.
//! TFLite Micro and LiteRT do not execute INT2 tensors; `tinyforge run` and the generated code
//! do.
//!
//! The flatbuffer bindings are ours, written from the schema's field ids ([`schema`]), and the
//! reader needs no `unsafe` (its table view bounds-checks every access even after verification).
//! Neighbours: `tinyforge-graph` defines the IR; `tinyforge-runtime` executes what we read;
//! the CLI and `compress` write what they produce through [`write()`].
//!
//! # Example
//!
//! ```
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models/kws_ref_model.tflite");
//! let graph = tinyforge_tflite::read_file(path)?;
//! for (i, node) in graph.nodes.iter().enumerate() {
//!     println!("{i:3} {}", node.op.name());
//! }
//! assert_eq!(graph.nodes[0].op.name(), "CONV_2D");
//!
//! // Writing and reading back gives the same graph.
//! let bytes = tinyforge_tflite::write(&graph)?;
//! assert_eq!(tinyforge_tflite::read(&bytes)?, graph);
//! # Ok::<(), tinyforge_tflite::TfliteError>(())
//! ```
#![forbid(unsafe_code)]

pub mod error;
mod ops;
pub mod reader;
pub mod schema;
mod view;
pub mod writer;

pub use error::TfliteError;
pub use ops::MAX_WINDOW;
pub use reader::{
    read, read_file, MAX_ACTIVATION_BYTES, MAX_FILE_BYTES, MAX_RANK, MAX_TENSOR_BYTES,
};
pub use writer::{write, write_with, WriteOptions};
