//! Checking a baseline JPEG's entropy-coded data without decoding pixels.
//!
//! Owns a Huffman-only pass over one scan: every block's codes are looked up
//! and skipped, MCUs are counted against the frame size, restart markers are
//! checked in sequence, and leftover bytes are counted. These are exactly the
//! cases where libjpeg only prints "Corrupt JPEG data: …" (bad Huffman code,
//! premature end of data segment, extraneous bytes before marker) and returns a
//! grey-filled or scrambled picture that would otherwise be scored as if it
//! were real. Pure and allocation-light; no IDCT, no colour conversion.

/// One Huffman table, decodable in canonical form with a 9-bit lookahead.
#[derive(Clone)]
pub struct Huffman {
    /// `len << 8 | symbol` for codes of at most `LOOKAHEAD` bits, 0 when longer or unused.
    lut: Box<[u16; 1 << LOOKAHEAD]>,
    /// For lengths 1..=16: the largest code of that length (-1 if none), and the index of its first symbol.
    maxcode: [i32; 18],
    valptr: [i32; 17],
    mincode: [i32; 17],
    symbols: Vec<u8>,
}

const LOOKAHEAD: u32 = 9;

impl Huffman {
    /// Builds a table from a DHT's 16 code-length counts and its symbols.
    pub fn new(counts: &[u8; 16], symbols: &[u8]) -> Result<Huffman, String> {
        let total: usize = counts.iter().map(|c| usize::from(*c)).sum();
        if total != symbols.len() || total == 0 || total > 256 {
            return Err(format!(
                "huffman table with {total} codes and {} symbols",
                symbols.len()
            ));
        }
        let mut lut = Box::new([0u16; 1 << LOOKAHEAD]);
        let (mut maxcode, mut valptr, mut mincode) = ([-1i32; 18], [0i32; 17], [0i32; 17]);
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16u32 {
            let n = usize::from(counts[len as usize - 1]);
            valptr[len as usize] = k as i32;
            mincode[len as usize] = code;
            for _ in 0..n {
                if code >= (1 << len) {
                    return Err("huffman table with more codes than fit their lengths".into());
                }
                if len <= LOOKAHEAD {
                    let shift = LOOKAHEAD - len;
                    let first = (code as usize) << shift;
                    for e in &mut lut[first..first + (1 << shift)] {
                        *e = ((len as u16) << 8) | u16::from(symbols[k]);
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                maxcode[len as usize] = code - 1;
            }
            code <<= 1;
        }
        maxcode[17] = i32::MAX; // sentinel: never reached, lengths stop at 16
        Ok(Huffman {
            lut,
            maxcode,
            valptr,
            mincode,
            symbols: symbols.to_vec(),
        })
    }
}

/// Bits of one restart segment (stuffing already removed), read MSB first.
struct Bits<'a> {
    data: &'a [u8],
    /// Bytes moved into `buf` so far (past the end, zeros are shifted in: libjpeg does the same).
    pos: usize,
    /// Unconsumed bits, left-aligned.
    buf: u64,
    nbits: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            pos: 0,
            buf: 0,
            nbits: 0,
        }
    }

    /// Makes at least 56 bits available.
    #[inline]
    fn fill(&mut self) {
        if self.nbits > 32 {
            return;
        }
        if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            // Load 8 bytes but count only the whole bytes that fit; the extra low bits are the
            // same stream bits the next refill ORs in again at the same places.
            self.buf |= u64::from_be_bytes(b) >> self.nbits;
            let k = (63 - self.nbits) >> 3;
            self.pos += k as usize;
            self.nbits += k * 8;
            return;
        }
        while self.nbits <= 56 {
            let b = self.data.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            self.buf |= u64::from(b) << (56 - self.nbits);
            self.nbits += 8;
        }
    }

    fn consumed(&self) -> u64 {
        self.pos as u64 * 8 - u64::from(self.nbits)
    }

    /// Whether the decoder has read beyond the segment's data (premature end).
    fn overrun(&self) -> bool {
        self.consumed() > self.data.len() as u64 * 8
    }

    fn available(&self) -> u64 {
        (self.data.len() as u64 * 8).saturating_sub(self.consumed())
    }

    /// Drops `n` (at most 16) bits; `fill` must have run since the last 32 bits were consumed.
    #[inline]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.nbits -= n;
    }

    /// `n` bits as a signed JPEG difference (the "extend" rule).
    #[inline]
    fn value(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        self.fill();
        let v = (self.buf >> (64 - n)) as i32;
        self.consume(n);
        if v < (1 << (n - 1)) { v - (1 << n) + 1 } else { v }
    }

    #[inline]
    fn symbol(&mut self, t: &Huffman) -> Result<u8, Bad> {
        self.fill();
        let peek = (self.buf >> (64 - LOOKAHEAD)) as usize;
        let e = t.lut[peek];
        if e != 0 {
            self.consume(u32::from(e >> 8));
            return Ok(e as u8);
        }
        let top = (self.buf >> 48) as i32; // 16 bits
        for len in LOOKAHEAD + 1..=16 {
            let code = top >> (16 - len);
            if code <= t.maxcode[len as usize] {
                self.consume(len);
                let i = t.valptr[len as usize] + code - t.mincode[len as usize];
                return t.symbols.get(i as usize).copied().ok_or(Bad::Code);
            }
        }
        Err(if self.available() < 16 || self.overrun() {
            Bad::Premature
        } else {
            Bad::Code
        })
    }
}

enum Bad {
    Premature,
    Code,
    Range,
}

/// What one scan decodes: its blocks per MCU (DC and AC table of each) and how many MCUs.
pub struct ScanPlan<'t> {
    pub blocks: Vec<(&'t Huffman, &'t Huffman)>,
    /// For each block, which component's DC predictor it uses (index into the scan's components).
    pub predictor: Vec<usize>,
    pub mcus: u64,
    /// MCUs between restart markers (0: none).
    pub restart_interval: u64,
}

/// Checks the scan starting at `pos` (just after the SOS header); returns the
/// offset of the marker that ends it. Errors are `(offset, what)`.
pub fn check_scan(data: &[u8], mut pos: usize, plan: &ScanPlan) -> Result<usize, (usize, String)> {
    let mut seg = Vec::with_capacity(64 * 1024);
    let mut done: u64 = 0;
    let mut expected_rst = 0u8;
    loop {
        let (end, term) = destuff(data, pos, &mut seg)?;
        let left = plan.mcus - done;
        let n = if plan.restart_interval > 0 {
            left.min(plan.restart_interval)
        } else {
            left
        };
        let mut bits = Bits::new(&seg);
        let mut dc_pred = [0i32; 4];
        for m in 0..n {
            if let Err(bad) = check_mcu(&mut bits, plan, &mut dc_pred) {
                let what = match bad {
                    Bad::Premature => {
                        format!(
                            "image data ends in MCU {} of {} (premature end of data segment)",
                            done + m,
                            plan.mcus
                        )
                    }
                    Bad::Code => format!("bad huffman code in MCU {} of {}", done + m, plan.mcus),
                    Bad::Range => format!("dc coefficient out of range in MCU {} of {}", done + m, plan.mcus),
                };
                return Err((pos, what));
            }
        }
        done += n;
        let extraneous = bits.available() / 8;
        if extraneous > 0 {
            return Err((
                end,
                format!("{extraneous} extraneous bytes before the marker after MCU {done}"),
            ));
        }
        match term {
            Term::Rst(k) if done < plan.mcus => {
                if k != expected_rst {
                    return Err((end, format!("restart marker {k} where {expected_rst} was due")));
                }
                expected_rst = (expected_rst + 1) % 8;
                pos = end + 2;
            }
            Term::Rst(_) => pos = end + 2, // stray restart after the last MCU: skip it
            Term::Marker if done < plan.mcus => {
                return Err((
                    end,
                    format!("image data ends after {done} of {} MCUs (premature end)", plan.mcus),
                ));
            }
            Term::Marker => return Ok(end),
        }
    }
}

/// Largest quantised DC magnitude 8-bit samples can produce (8 × 128 with a quantiser of 1),
/// with a little slack for encoder rounding.
const MAX_DC: i32 = 1024 + 64;

/// Checks one MCU; `dc` holds each block's running DC predictor (reset at restarts).
#[inline]
fn check_mcu(bits: &mut Bits, plan: &ScanPlan, dc_pred: &mut [i32]) -> Result<(), Bad> {
    for (i, (dc, ac)) in plan.blocks.iter().enumerate() {
        // DC: a size category (at most 11 for 8-bit samples), then that many bits of difference.
        let s = bits.symbol(dc)?;
        if s > 11 {
            return Err(Bad::Code);
        }
        let diff = bits.value(u32::from(s));
        let p = &mut dc_pred[plan.predictor[i]];
        *p += diff;
        if p.abs() > MAX_DC {
            return Err(Bad::Range);
        }
        // AC: (run, size) pairs up to end of block; sizes at most 10, never past coefficient 63.
        let mut k = 1;
        while k < 64 {
            let rs = bits.symbol(ac)?;
            let (r, s) = (rs >> 4, rs & 15);
            if s == 0 {
                if r != 15 {
                    break; // end of block
                }
                k += 16;
                continue;
            }
            k += usize::from(r);
            if s > 10 || k > 63 {
                return Err(Bad::Code);
            }
            bits.fill();
            bits.consume(u32::from(s));
            k += 1;
        }
        if k > 64 {
            return Err(Bad::Code);
        }
    }
    if bits.overrun() {
        return Err(Bad::Premature);
    }
    Ok(())
}

enum Term {
    Rst(u8),
    Marker,
}

/// Copies entropy-coded bytes from `pos` into `out` without stuffing, up to the next
/// marker; returns that marker's offset and kind. Fill bytes (`ff ff`) are skipped.
fn destuff(data: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Result<(usize, Term), (usize, String)> {
    out.clear();
    loop {
        let rest = data.get(pos..).unwrap_or(&[]);
        let Some(i) = memchr::memchr(0xFF, rest) else {
            return Err((
                data.len(),
                "image data runs to the end of the file without a marker".into(),
            ));
        };
        out.extend_from_slice(&rest[..i]);
        let ff = pos + i;
        let mut next = ff + 1;
        while data.get(next) == Some(&0xFF) {
            next += 1;
        }
        match data.get(next) {
            None => return Err((ff, "file ends inside the image data".into())),
            Some(0x00) => {
                out.push(0xFF);
                pos = next + 1;
            }
            Some(m @ 0xD0..=0xD7) => return Ok((next - 1, Term::Rst(m - 0xD0))),
            Some(_) => return Ok((next - 1, Term::Marker)),
        }
    }
}

#[cfg(test)]
#[path = "entropy_tests.rs"]
mod tests;
