//! Shared fixtures for unit tests.
pub use crate::build::{act_i8 as act, const_i32, const_i8, GraphBuilder};
use crate::ir::*;

/// input 8×8×1 → conv3×3(4) relu → depthwise3×3 → avgpool 8×8 → reshape → fc(3) → softmax.
pub fn small_cnn() -> Graph {
    let mut b = GraphBuilder::new("small_cnn");
    let x = b.input("x", &[1, 8, 8, 1]);
    let c = b
        .conv2d(x, 4, (3, 3), 1, Padding::Same, Activation::Relu)
        .unwrap();
    let d = b
        .depthwise(c, (3, 3), 1, Padding::Same, Activation::Relu)
        .unwrap();
    let p = b.avg_pool(d, (8, 8), 8, Padding::Valid).unwrap();
    let r = b.reshape(p, &[1, 4]).unwrap();
    let f = b.fully_connected(r, 3, Activation::None).unwrap();
    let s = b.unary(Op::Softmax { beta: 1.0 }, f).unwrap();
    b.finish(&[s])
}
