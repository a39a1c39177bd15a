//! Element ids of the HTML report. Sections repeat once per run, so a page
//! with several runs (`--compare`) suffixes each run's ids with the run index
//! (`sequences-0`, `seq-print-7-1`); a page with one run keeps the plain ids
//! (`sequences`, `seq-print-7`). Sequence anchors stay unique within a run
//! even when two names map to the same anchor, and links point only at
//! elements the page holds.

use std::collections::BTreeSet;

/// The ids of one run's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RunIds {
    run: usize,
    suffixed: bool,
}

impl RunIds {
    /// Ids for run `run` of a page holding `runs` runs.
    pub(super) fn new(run: usize, runs: usize) -> RunIds {
        RunIds { run, suffixed: runs > 1 }
    }

    /// The page-unique id of this run's element `base`.
    pub(super) fn id(&self, base: &str) -> String {
        if self.suffixed { format!("{base}-{}", self.run) } else { base.to_string() }
    }

    /// The page-unique ids of this run's sequence timelines, in order: `seq-` and
    /// the name with every character other than an ASCII letter or digit as `-`;
    /// a name whose anchor another name already has gets `-2`, `-3`… appended.
    pub(super) fn sequences<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let bases: Vec<String> = names.into_iter().map(anchor).collect();
        let all: BTreeSet<&str> = bases.iter().map(String::as_str).collect();
        let mut taken: BTreeSet<String> = BTreeSet::new();
        let mut out = Vec::with_capacity(bases.len());
        for base in &bases {
            let mut a = base.clone();
            let mut k = 2;
            // A later name's own anchor is never handed out here, so links stay stable per name.
            while taken.contains(&a) || (a != *base && all.contains(a.as_str())) {
                a = format!("{base}-{k}");
                k += 1;
            }
            taken.insert(a.clone());
            out.push(self.id(&format!("seq-{a}")));
        }
        out
    }
}

fn anchor(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::RunIds;

    #[test]
    fn one_run_keeps_the_plain_ids() {
        let ids = RunIds::new(0, 1);
        assert_eq!(ids.id("sequences"), "sequences");
        assert_eq!(ids.sequences(["print 1", "ok.b"]), ["seq-print-1", "seq-ok-b"]);
    }

    #[test]
    fn several_runs_suffix_the_run_index() {
        let (a, b) = (RunIds::new(0, 2), RunIds::new(1, 2));
        assert_eq!((a.id("sweep"), b.id("sweep")), ("sweep-0".to_string(), "sweep-1".to_string()));
        assert_eq!(b.sequences(["x"]), ["seq-x-1"]);
    }

    #[test]
    fn names_with_the_same_anchor_get_distinct_ids() {
        let ids = RunIds::new(0, 1);
        // `a b` and `a_b` both map to `a-b`; `a-b-2` is a real name and keeps its anchor.
        assert_eq!(ids.sequences(["a b", "a_b", "a-b-2", "a.b"]), ["seq-a-b", "seq-a-b-3", "seq-a-b-2", "seq-a-b-4"]);
    }
}
