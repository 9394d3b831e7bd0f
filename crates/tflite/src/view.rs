//! A small, `unsafe`-free reader of flatbuffer tables and vectors.
//!
//! The file is verified first (see [`crate::schema`]), so every read here is expected to
//! succeed; still, each read is bounds-checked and returns [`TfliteError::Malformed`] instead of
//! trusting the verifier, so this module is sound on any input. Lengths of vectors are checked
//! against the bytes actually present before anything is allocated.

use crate::error::TfliteError;
use crate::schema::vt;

type Result<T> = std::result::Result<T, TfliteError>;

fn malformed(what: &str, pos: usize) -> TfliteError {
    TfliteError::Malformed(format!("{what} at byte {pos} is out of bounds"))
}

fn bytes<const N: usize>(buf: &[u8], pos: usize, what: &str) -> Result<[u8; N]> {
    pos.checked_add(N)
        .and_then(|end| buf.get(pos..end))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| malformed(what, pos))
}

fn read_u16(buf: &[u8], pos: usize) -> Result<u16> {
    bytes::<2>(buf, pos, "u16").map(u16::from_le_bytes)
}

fn read_u32(buf: &[u8], pos: usize) -> Result<u32> {
    bytes::<4>(buf, pos, "u32").map(u32::from_le_bytes)
}

/// Follows the forward offset stored at `pos`.
fn follow(buf: &[u8], pos: usize) -> Result<usize> {
    let off = read_u32(buf, pos)? as usize;
    pos.checked_add(off)
        .filter(|&p| p < buf.len())
        .ok_or_else(|| malformed("offset target", pos))
}

/// A table: its position and its vtable.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of a finished buffer.
    pub fn root(buf: &'a [u8]) -> Result<Self> {
        let pos = follow(buf, 0)?;
        Self::at(buf, pos)
    }

    fn at(buf: &'a [u8], pos: usize) -> Result<Self> {
        let soff = i32::from_le_bytes(bytes::<4>(buf, pos, "vtable offset")?);
        let vtable = (pos as i64)
            .checked_sub(i64::from(soff))
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| malformed("vtable", pos))?;
        let vtable_len = read_u16(buf, vtable)? as usize;
        if vtable.saturating_add(vtable_len) > buf.len() {
            return Err(malformed("vtable", vtable));
        }
        Ok(Table {
            buf,
            pos,
            vtable,
            vtable_len,
        })
    }

    /// Absolute position of field `id`, if present.
    fn field(&self, id: u16) -> Result<Option<usize>> {
        let slot = vt(id) as usize;
        if slot + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = read_u16(self.buf, self.vtable + slot)? as usize;
        Ok((off != 0).then(|| self.pos + off))
    }

    fn scalar<const N: usize>(&self, id: u16) -> Result<Option<[u8; N]>> {
        match self.field(id)? {
            Some(p) => bytes::<N>(self.buf, p, "scalar field").map(Some),
            None => Ok(None),
        }
    }

    pub fn i8(&self, id: u16, default: i8) -> Result<i8> {
        Ok(self.scalar::<1>(id)?.map_or(default, i8::from_le_bytes))
    }
    pub fn u8(&self, id: u16, default: u8) -> Result<u8> {
        Ok(self.scalar::<1>(id)?.map_or(default, u8::from_le_bytes))
    }
    pub fn bool(&self, id: u16, default: bool) -> Result<bool> {
        Ok(self.scalar::<1>(id)?.map_or(default, |b| b[0] != 0))
    }
    pub fn i32(&self, id: u16, default: i32) -> Result<i32> {
        Ok(self.scalar::<4>(id)?.map_or(default, i32::from_le_bytes))
    }
    pub fn u32(&self, id: u16, default: u32) -> Result<u32> {
        Ok(self.scalar::<4>(id)?.map_or(default, u32::from_le_bytes))
    }
    pub fn u64(&self, id: u16, default: u64) -> Result<u64> {
        Ok(self.scalar::<8>(id)?.map_or(default, u64::from_le_bytes))
    }
    pub fn f32(&self, id: u16, default: f32) -> Result<f32> {
        Ok(self.scalar::<4>(id)?.map_or(default, f32::from_le_bytes))
    }

    /// The sub-table at field `id`.
    pub fn table(&self, id: u16) -> Result<Option<Table<'a>>> {
        match self.field(id)? {
            Some(p) => Ok(Some(Table::at(self.buf, follow(self.buf, p)?)?)),
            None => Ok(None),
        }
    }

    /// The vector at field `id` whose elements are `elem` bytes wide.
    pub fn vector(&self, id: u16, elem: usize) -> Result<Option<Vector<'a>>> {
        let Some(p) = self.field(id)? else {
            return Ok(None);
        };
        let start = follow(self.buf, p)?;
        let len = read_u32(self.buf, start)? as usize;
        let data = start + 4;
        let end = len
            .checked_mul(elem)
            .and_then(|n| n.checked_add(data))
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| malformed("vector", start))?;
        Ok(Some(Vector {
            buf: self.buf,
            data,
            end,
            len,
            elem,
        }))
    }

    /// A byte vector (also used for strings).
    pub fn bytes(&self, id: u16) -> Result<Option<&'a [u8]>> {
        Ok(self.vector(id, 1)?.map(|v| v.raw()))
    }

    /// A string, decoded leniently: names are only labels, so invalid UTF-8 is replaced.
    pub fn string(&self, id: u16) -> Result<Option<String>> {
        Ok(self
            .bytes(id)?
            .map(|b| String::from_utf8_lossy(b).into_owned()))
    }

    pub fn i32s(&self, id: u16) -> Result<Option<Vec<i32>>> {
        Ok(self
            .vector(id, 4)?
            .map(|v| chunks::<4>(v.raw()).map(i32::from_le_bytes).collect()))
    }
    pub fn f32s(&self, id: u16) -> Result<Option<Vec<f32>>> {
        Ok(self
            .vector(id, 4)?
            .map(|v| chunks::<4>(v.raw()).map(f32::from_le_bytes).collect()))
    }
    pub fn i64s(&self, id: u16) -> Result<Option<Vec<i64>>> {
        Ok(self
            .vector(id, 8)?
            .map(|v| chunks::<8>(v.raw()).map(i64::from_le_bytes).collect()))
    }

    /// A vector of tables; empty when absent.
    pub fn tables(&self, id: u16) -> Result<Tables<'a>> {
        Ok(Tables(self.vector(id, 4)?))
    }
}

fn chunks<const N: usize>(b: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    b.chunks_exact(N).map(|c| c.try_into().unwrap_or([0; N]))
}

/// A vector's bytes in the buffer.
#[derive(Clone, Copy)]
pub struct Vector<'a> {
    buf: &'a [u8],
    data: usize,
    end: usize,
    len: usize,
    elem: usize,
}

impl<'a> Vector<'a> {
    pub fn raw(&self) -> &'a [u8] {
        &self.buf[self.data..self.end]
    }
}

/// A vector of tables.
#[derive(Clone, Copy)]
pub struct Tables<'a>(Option<Vector<'a>>);

impl<'a> Tables<'a> {
    pub fn len(&self) -> usize {
        self.0.map_or(0, |v| v.len)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, i: usize) -> Result<Table<'a>> {
        let v = self.0.filter(|v| i < v.len).ok_or_else(|| {
            TfliteError::Malformed(format!("table vector index {i} out of range"))
        })?;
        let slot = v.data + i * v.elem;
        Table::at(v.buf, follow(v.buf, slot)?)
    }
}
