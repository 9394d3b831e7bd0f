//! The tinyforge intermediate representation (IR) of a neural network, and everything that can be
//! known about it before it runs: shapes, cost (params, MACs, bytes), the memory plan (arena
//! offsets) and whether it fits a device.
//!
//! The IR is deliberately close to TFLite's: NHWC activations, TFLite weight layouts
//! (conv `[O, KH, KW, I]`, depthwise `[1, KH, KW, C]`, fully connected `[O, I]`), TFLite
//! quantization parameters. So `.tflite` files map to it without transposes, and trained float
//! models export to it directly. Neighbours: `tinyforge-tflite` reads and writes it,
//! `tinyforge-runtime` executes it, `tinyforge-train` exports to it.
//!
//! Modules, in pipeline order: [`ir`] (types) → [`validate`] / [`shape`] (checks, shape
//! inference) → [`cost`] (params, MACs, bytes).

pub mod build;
pub mod cost;
pub mod error;
pub mod fuse;
pub mod ir;
pub mod plan;
pub mod shape;
pub mod validate;

#[cfg(test)]
mod testutil;

pub use cost::{graph_cost, layerwise_floor, GraphCost, NodeCost};
pub use error::{GraphError, GraphResult};
pub use ir::*;
pub use plan::{plan, plan_default, Plan, PlanOptions};
pub use validate::validate;
