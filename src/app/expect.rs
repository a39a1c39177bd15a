//! G-code awareness for the decision loop: what should be on the bed at the
//! layer the printer reports.
//!
//! - The plan itself, [`LayerPlan`], and the rule that finds the current
//!   layer's expectation live in `decision` (shared with `eval`).
//! - [`GcodeCatalog`] takes the analysis the printer link made of the
//!   printing file (`PrinterLink::analysis`: print hosts download and analyse
//!   it; the Marlin link analyses the file it streams, or the local copy of
//!   the SD file) and builds the plan off the runtime (`spawn_blocking`).
//!   Lookups never wait: until the plan is built (or when the link has no
//!   analysis of this job's file) the decision runs on what the printer
//!   reports alone. The analysis is matched to the job by name and size, so
//!   a print of another file never gets the old plan. Nothing here reads or
//!   parses a G-code file.

use std::sync::Arc;

use tokio::sync::mpsc;

pub use crate::decision::LayerPlan;
use crate::domain::PrintJob;
use crate::gcode::Analysis;
use crate::printer::FileAnalysis;

/// What an analysis task sends back.
#[derive(Debug)]
pub struct Analysed {
    /// The job's file name it was for.
    pub job_file: String,
    /// The analysis the plan was built from, and the plan.
    result: (Arc<Analysis>, Arc<LayerPlan>),
}

/// The plan of the printing file, from the link's analysis; owned by the decision loop (no locks).
pub struct GcodeCatalog {
    /// The link's latest analysis and, once built, its plan (one file at a time).
    linked: Option<(Arc<Analysis>, Option<Arc<LayerPlan>>)>,
    tx: mpsc::UnboundedSender<Analysed>,
}

impl GcodeCatalog {
    /// `tx` receives finished plans; feed each to [`GcodeCatalog::complete`].
    pub fn new(tx: mpsc::UnboundedSender<Analysed>) -> Self {
        GcodeCatalog { linked: None, tx }
    }

    /// The plan for `job`: from `link` (the printer link's analysis) when it is
    /// of `job`'s file, else none. Never waits: a new analysis is turned into
    /// a plan on the blocking pool and `None` is returned meanwhile.
    pub fn plan_for(&mut self, job: &PrintJob, link: Option<&FileAnalysis>) -> Option<Arc<LayerPlan>> {
        link.filter(|l| l.matches(job)).and_then(|l| self.linked_plan(l))
    }

    fn linked_plan(&mut self, l: &FileAnalysis) -> Option<Arc<LayerPlan>> {
        if let Some((a, plan)) = &self.linked
            && Arc::ptr_eq(a, &l.analysis)
        {
            return plan.clone();
        }
        self.linked = Some((l.analysis.clone(), None));
        if l.analysis.layers.is_empty() {
            tracing::info!(file = %l.file, "the printer's analysis of this file found no layers: judging without a plan");
            return None;
        }
        let (tx, job_file, analysis) = (self.tx.clone(), l.file.clone(), l.analysis.clone());
        tokio::task::spawn_blocking(move || {
            let plan = Arc::new(LayerPlan::from_analysis(&analysis));
            let _ = tx.send(Analysed { job_file, result: (analysis, plan) });
        });
        None
    }

    /// Takes a finished plan.
    pub fn complete(&mut self, done: Analysed) {
        let (analysis, plan) = done.result;
        match &mut self.linked {
            Some((a, slot)) if Arc::ptr_eq(a, &analysis) => {
                tracing::info!(
                    file = %done.job_file,
                    layers = plan.layer_count(),
                    "printer's g-code analysis taken: layer expectations available"
                );
                *slot = Some(plan);
            }
            // Another file was selected meanwhile: this plan is stale.
            _ => tracing::debug!(file = %done.job_file, "dropping the plan of a file no longer printing"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const TWO_LAYERS: &str = "\
M83
;LAYER_CHANGE
;Z:0.2
G1 Z0.2 F600
;TYPE:External perimeter
G1 X10 Y0 E1 F1200
G1 X10 Y10 E1
;TYPE:Internal infill
G1 X0 Y10 E2
;LAYER_CHANGE
;Z:0.4
G1 Z0.4
;TYPE:Support material
G1 X0 Y0 E1
;TYPE:External perimeter
G1 X10 Y0 E1
";

    #[tokio::test]
    async fn catalog_takes_the_links_analysis_of_the_printing_file_only() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut cat = GcodeCatalog::new(tx);
        let size = TWO_LAYERS.len() as u64;
        let linked = |file: &str| FileAnalysis {
            file: file.into(),
            size: Some(size),
            analysis: Arc::new(crate::gcode::analyze(TWO_LAYERS.as_bytes())),
        };
        let job = |file: &str, size: u64| PrintJob { file: file.into(), file_size: Some(size), ..Default::default() };
        let a = linked("a.gcode");
        assert!(cat.plan_for(&job("a.gcode", size), Some(&a)).is_none(), "the plan is built off the runtime");
        assert!(cat.plan_for(&job("a.gcode", size), Some(&a)).is_none(), "once");
        let done = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        cat.complete(done);
        let plan = cat.plan_for(&job("a.gcode", size), Some(&a)).expect("the link's plan");
        assert_eq!(*plan, LayerPlan::from_analysis(&a.analysis), "the same plan as from the file itself");
        assert!(rx.try_recv().is_err(), "built once");

        // Same name, other bytes (re-uploaded): not this analysis, and nothing else is tried.
        assert!(cat.plan_for(&job("a.gcode", size + 1), Some(&a)).is_none());
        assert!(cat.plan_for(&job("a.gcode", size), None).is_none(), "no analysis from the link: no plan");
        assert!(rx.try_recv().is_err(), "no file is looked for or parsed here");

        // Another file is printing; its analysis arrives while the old one's plan is still being built.
        let b = linked("b.gcode");
        let c = linked("c.gcode");
        assert!(cat.plan_for(&job("b.gcode", size), Some(&b)).is_none());
        assert!(cat.plan_for(&job("c.gcode", size), Some(&c)).is_none());
        for _ in 0..2 {
            let done = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
            cat.complete(done);
        }
        assert!(cat.plan_for(&job("b.gcode", size), Some(&c)).is_none(), "c's analysis is not b's plan");
        assert!(cat.plan_for(&job("c.gcode", size), Some(&c)).is_some());
        assert!(rx.try_recv().is_err());
    }
}
