//! Packing of sub-8-bit weights.
//!
//! - int4: two values per byte, element `2k` in the low nibble and `2k+1` in the high nibble,
//!   two's complement (−8..7; the quantizer emits −7..7), an odd count padding the last high
//!   nibble with 0. This is TFLite's `INT4` tensor layout, the one TFLite Micro unpacks
//!   (`tflite::UnpackDenseInt4IntoInt8`), and `tinyforge_graph::DType::I4`.
//! - int2 (tinyforge's own encoding): four values per byte, element `4k + j` in bits
//!   `2j..2j+2` (lowest first), two's complement (−2..1; the quantizer emits −1..1, ternary
//!   weights), the last byte padded with 0.
//!
//! Neighbours: [`super::convert`] packs, the kernels' `packed` module reads these layouts.

/// Packs int4 values (each in −8..7) two per byte, low nibble first.
pub fn pack_i4(v: &[i8]) -> Vec<u8> {
    v.chunks(2)
        .map(|c| {
            let lo = (c[0] as u8) & 0x0f;
            let hi = c.get(1).map_or(0, |&h| (h as u8) & 0x0f);
            lo | (hi << 4)
        })
        .collect()
}

/// Unpacks `n` int4 values packed by [`pack_i4`].
pub fn unpack_i4(bytes: &[u8], n: usize) -> Vec<i8> {
    (0..n)
        .map(|i| {
            let b = bytes.get(i / 2).copied().unwrap_or(0);
            let nib = if i % 2 == 0 { b << 4 } else { b & 0xf0 };
            (nib as i8) >> 4
        })
        .collect()
}

/// Packs int2 values (each in −2..1) four per byte, lowest bits first.
pub fn pack_i2(v: &[i8]) -> Vec<u8> {
    v.chunks(4)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |acc, (j, &x)| acc | (((x as u8) & 0x03) << (2 * j)))
        })
        .collect()
}

/// Unpacks `n` int2 values packed by [`pack_i2`].
pub fn unpack_i2(bytes: &[u8], n: usize) -> Vec<i8> {
    (0..n)
        .map(|i| {
            let b = bytes.get(i / 4).copied().unwrap_or(0);
            (((b >> (2 * (i % 4))) << 6) as i8) >> 6
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int4_is_low_nibble_first() {
        assert_eq!(pack_i4(&[1, -1, 7]), vec![0xf1, 0x07]);
        let v: Vec<i8> = (-8..8).collect();
        assert_eq!(unpack_i4(&pack_i4(&v), v.len()), v);
    }

    #[test]
    fn int2_is_lowest_bits_first() {
        assert_eq!(pack_i2(&[1, -1, 0, -2, 1]), vec![0b10_00_11_01, 0x01]);
        let v: Vec<i8> = vec![-2, -1, 0, 1, 1, 0, -1];
        assert_eq!(unpack_i2(&pack_i2(&v), v.len()), v);
    }
}
