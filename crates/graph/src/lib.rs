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
//! Modules, in pipeline order: [`ir`] (types; [`build`] to make graphs by hand) →
//! [`mod@validate`] / [`shape`] (checks, shape inference) → [`cost`] (params, MACs, bytes) →
//! [`fuse`] (conv + residual add) → [`mod@plan`] (the arena) → [`device`] + [`fit`] (does it fit).
//!
//! ```
//! use tinyforge_graph::build::GraphBuilder;
//! use tinyforge_graph::{fit, graph_cost, plan_default, validate, Activation, Device, Padding};
//!
//! // A residual block: conv → conv → conv, plus a skip connection.
//! let mut b = GraphBuilder::new("block");
//! let x = b.input("x", &[1, 16, 16, 3]);
//! let a = b.conv2d(x, 16, (3, 3), 1, Padding::Same, Activation::Relu)?;
//! let m = b.conv2d(a, 16, (3, 3), 1, Padding::Same, Activation::Relu)?;
//! let c = b.conv2d(m, 16, (3, 3), 1, Padding::Same, Activation::None)?;
//! let y = b.add(a, c, Activation::Relu)?;
//! let graph = b.finish(&[y]);
//!
//! validate(&graph)?;
//! let cost = graph_cost(&graph);
//! assert_eq!(cost.macs, 16 * 16 * 16 * 9 * (3 + 16 + 16));
//!
//! // The last conv and the add are fused and write over the skip tensor `a`: two 4 KB
//! // buffers are enough, below the 12 KB a layer-by-layer runtime needs at the add.
//! let plan = plan_default(&graph)?;
//! assert_eq!(plan.arena_bytes, 2 * 4096);
//! assert_eq!(plan.offsets[y], plan.offsets[a]);
//!
//! let report = fit::fit(&plan, &Device::lookup("nano33ble")?, &fit::FitOptions::default());
//! assert!(report.fits);
//! println!("{report}");
//! # Ok::<(), tinyforge_graph::GraphError>(())
//! ```

pub mod build;
pub mod cost;
pub mod device;
pub mod error;
pub mod fit;
pub mod fuse;
pub mod ir;
pub mod plan;
pub mod shape;
pub mod validate;

#[cfg(test)]
mod testutil;

pub use cost::{graph_cost, layerwise_floor, GraphCost, NodeCost};
pub use device::Device;
pub use error::{GraphError, GraphResult};
pub use fit::{FitOptions, FitReport};
pub use ir::*;
pub use plan::{plan, plan_default, Plan, PlanOptions};
pub use validate::validate;
