//! Packed sub-byte weights read in place: int4 (two per byte, TFLite's `INT4` layout that
//! TFLite Micro unpacks with `UnpackDenseInt4IntoInt8`: element `2k` in the low nibble) and
//! int2 (tinyforge's encoding: four per byte, element `4k + j` in bits `2j..2j+2`), both two's
//! complement. The `_s4` / `_s2` kernels read weights through [`PackedWeights::get`] so no
//! unpacked copy of a filter ever exists; their arithmetic is the int8 reference kernels'
//! on the unpacked values, hence bit-identical to them.

/// Bits per packed weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightBits {
    /// Two's complement −8..7, two per byte, low nibble first.
    I4,
    /// Two's complement −2..1, four per byte, lowest bits first.
    I2,
}

impl WeightBits {
    /// Bytes holding `n` weights.
    pub const fn bytes_for(self, n: usize) -> usize {
        match self {
            WeightBits::I4 => n.div_ceil(2),
            WeightBits::I2 => n.div_ceil(4),
        }
    }
}

/// A packed weight tensor of `len` logical elements.
#[derive(Debug, Clone, Copy)]
pub struct PackedWeights<'a> {
    pub data: &'a [u8],
    pub bits: WeightBits,
    pub len: usize,
}

impl<'a> PackedWeights<'a> {
    /// `None` when `data` is not exactly the bytes `len` weights need.
    pub fn new(data: &'a [u8], bits: WeightBits, len: usize) -> Option<Self> {
        (data.len() == bits.bytes_for(len)).then_some(PackedWeights { data, bits, len })
    }

    /// Weight `i` (callers stay below `len`; the kernels' shape checks guarantee it).
    #[inline(always)]
    pub fn get(&self, i: usize) -> i32 {
        match self.bits {
            WeightBits::I4 => {
                let b = self.data[i >> 1];
                let nib = if i & 1 == 0 { b << 4 } else { b & 0xf0 };
                ((nib as i8) >> 4) as i32
            }
            WeightBits::I2 => {
                let b = self.data[i >> 2];
                (((b >> (2 * (i & 3))) << 6) as i8 >> 6) as i32
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Packs int8 values (already in the type's range).
    pub(crate) fn pack(v: &[i8], bits: WeightBits) -> [u8; 4096] {
        let mut out = [0u8; 4096];
        for (i, &x) in v.iter().enumerate() {
            match bits {
                WeightBits::I4 => out[i / 2] |= ((x as u8) & 0x0f) << (4 * (i % 2)),
                WeightBits::I2 => out[i / 4] |= ((x as u8) & 0x03) << (2 * (i % 4)),
            }
        }
        out
    }

    /// Deterministic weights in the type's range.
    pub(crate) fn weights(n: usize, bits: WeightBits, seed: u32) -> [i8; 8192] {
        let mut s = seed;
        let mut out = [0i8; 8192];
        for o in out.iter_mut().take(n) {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *o = match bits {
                WeightBits::I4 => ((s >> 28) as i8) - 8,
                WeightBits::I2 => ((s >> 30) as i8) - 2,
            };
        }
        out
    }

    #[test]
    fn reads_tflite_int4_and_our_int2() {
        // TFLite INT4: [1, -1, 7] → 0xf1, 0x07.
        let p = PackedWeights::new(&[0xf1, 0x07], WeightBits::I4, 3).unwrap();
        assert_eq!([p.get(0), p.get(1), p.get(2)], [1, -1, 7]);
        let p = PackedWeights::new(&[0b10_00_11_01], WeightBits::I2, 4).unwrap();
        assert_eq!([p.get(0), p.get(1), p.get(2), p.get(3)], [1, -1, 0, -2]);
        assert!(PackedWeights::new(&[0], WeightBits::I4, 3).is_none());
        for bits in [WeightBits::I4, WeightBits::I2] {
            let w = weights(301, bits, 7);
            let packed = pack(&w[..301], bits);
            let p = PackedWeights::new(&packed[..bits.bytes_for(301)], bits, 301).unwrap();
            for (i, &x) in w[..301].iter().enumerate() {
                assert_eq!(p.get(i), x as i32);
            }
        }
    }
}
