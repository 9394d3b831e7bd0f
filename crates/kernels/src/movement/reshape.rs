//! RESHAPE, SQUEEZE and EXPAND_DIMS: the element order of a dense tensor does not change,
//! so these are a copy when input and output live in different buffers and nothing at all
//! when a planner aliases them (TFLM likewise skips the copy when the pointers are equal).

use crate::{KernelError, KernelResult};

/// Copies `input` to `output` (equal lengths).
pub fn reshape<T: Copy>(input: &[T], output: &mut [T]) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    output.copy_from_slice(input);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_or_rejects() {
        let mut y = [0i8; 3];
        reshape(&[1i8, 2, 3], &mut y).unwrap();
        assert_eq!(y, [1, 2, 3]);
        assert_eq!(reshape(&[1i8, 2], &mut y), Err(KernelError::BufferSize));
    }
}
