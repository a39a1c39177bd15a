//! Which layer changes of a print keep their frame, so that at most `max`
//! frames exist at any time and those kept are spread evenly over the print,
//! however many layers it turns out to have.
//!
//! Layer change `k` (0, 1, 2…) is kept when `k` is a multiple of the stride.
//! When one more frame would exceed `max`, the stride doubles and the frames
//! that are no longer on it are evicted: what remains is every `stride`-th
//! layer from the first, between `max / 2` and `max` frames. Pure: the caller
//! writes and deletes the files.

/// What to do with one layer change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Store this change's frame under this index (`None`: skip it).
    pub keep: Option<u64>,
    /// Delete the frames stored under these indices.
    pub evict: Vec<u64>,
}

/// The kept indices of one print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimator {
    max: usize,
    stride: u64,
    next: u64,
    kept: Vec<u64>,
}

impl Decimator {
    /// `max` is at least 2 (`[timelapse] max_frames` is validated so).
    pub fn new(max: u32) -> Decimator {
        Decimator { max: (max as usize).max(2), stride: 1, next: 0, kept: Vec::new() }
    }

    /// Takes over the indices a previous run left on disk. The stride is the
    /// largest power of two that divides every index (what remains after
    /// halvings); the next change follows the last kept one.
    pub fn resume(max: u32, mut kept: Vec<u64>) -> Decimator {
        kept.sort_unstable();
        kept.dedup();
        let mut d = Decimator::new(max);
        let gcd = kept.iter().fold(0u64, |g, &k| gcd(g, k));
        d.stride = if gcd == 0 { 1 } else { 1 << gcd.trailing_zeros() };
        d.next = kept.last().map_or(0, |k| k + 1);
        d.kept = kept;
        while d.kept.len() > d.max {
            let evicted = d.halve();
            debug_assert!(!evicted.is_empty());
        }
        d
    }

    /// One layer change.
    pub fn push(&mut self) -> Push {
        let k = self.next;
        self.next += 1;
        if !k.is_multiple_of(self.stride) {
            return Push { keep: None, evict: Vec::new() };
        }
        self.kept.push(k);
        let mut evict = Vec::new();
        if self.kept.len() > self.max {
            evict = self.halve();
        }
        let keep = evict.last().is_none_or(|&e| e != k).then_some(k);
        evict.retain(|&e| e != k);
        Push { keep, evict }
    }

    fn halve(&mut self) -> Vec<u64> {
        self.stride *= 2;
        let stride = self.stride;
        let (kept, evicted): (Vec<u64>, Vec<u64>) = self.kept.iter().partition(|&&i| i.is_multiple_of(stride));
        self.kept = kept;
        evicted
    }

    /// The indices kept, in order.
    pub fn kept(&self) -> &[u64] {
        &self.kept
    }

    pub fn stride(&self) -> u64 {
        self.stride
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// `changes` layer changes with at most `max` frames: the kept indices and the stride.
    fn check(max: u32, changes: u64, want: Expect) {
        let mut d = Decimator::new(max);
        let mut on_disk = std::collections::BTreeSet::new();
        for _ in 0..changes {
            let p = d.push();
            for e in &p.evict {
                assert!(on_disk.remove(e), "evicted {e} which was not stored");
            }
            if let Some(k) = p.keep {
                on_disk.insert(k);
            }
            assert!(on_disk.len() <= max as usize, "{} frames stored, max {max}", on_disk.len());
        }
        assert_eq!(on_disk.iter().copied().collect::<Vec<_>>(), d.kept(), "disk and decimator agree");
        want.assert_eq(&format!("{:?} stride {}", d.kept(), d.stride()));
    }

    #[test]
    fn decimation_keeps_frames_evenly_and_bounded() {
        check(4, 0, expect!["[] stride 1"]);
        check(4, 1, expect!["[0] stride 1"]);
        check(4, 4, expect!["[0, 1, 2, 3] stride 1"]);
        check(4, 5, expect!["[0, 2, 4] stride 2"]);
        check(4, 6, expect!["[0, 2, 4] stride 2"]);
        check(4, 7, expect!["[0, 2, 4, 6] stride 2"]);
        check(4, 9, expect!["[0, 4, 8] stride 4"]);
        check(2, 3, expect!["[0, 2] stride 2"]);
        check(2, 5, expect!["[0, 4] stride 4"]);
        check(10, 100, expect!["[0, 16, 32, 48, 64, 80, 96] stride 16"]);
        check(3, 12, expect!["[0, 4, 8] stride 4"]);
    }

    #[test]
    fn a_million_layers_stay_within_the_bound() {
        let mut d = Decimator::new(600);
        let mut stored = 0usize;
        for _ in 0..1_000_000u64 {
            let p = d.push();
            stored = stored + usize::from(p.keep.is_some()) - p.evict.len();
            assert!(stored <= 600);
        }
        assert!(stored >= 300, "{stored}");
        assert_eq!(stored, d.kept().len());
    }

    fn check_resume(max: u32, on_disk: &[u64], then: u64, want: Expect) {
        let mut d = Decimator::resume(max, on_disk.to_vec());
        for _ in 0..then {
            d.push();
        }
        want.assert_eq(&format!("{:?} stride {}", d.kept(), d.stride()));
    }

    #[test]
    fn resuming_after_a_restart_continues_the_same_spacing() {
        check_resume(4, &[], 2, expect!["[0, 1] stride 1"]);
        check_resume(4, &[0, 1, 2], 1, expect!["[0, 1, 2, 3] stride 1"]);
        check_resume(4, &[0, 2, 4], 2, expect!["[0, 2, 4, 6] stride 2"]);
        check_resume(4, &[0, 2, 4, 6], 2, expect!["[0, 4, 8] stride 4"]);
        // More on disk than the limit now allows (max_frames lowered): halved at once.
        check_resume(2, &[0, 1, 2, 3], 0, expect!["[0, 2] stride 2"]);
    }
}
