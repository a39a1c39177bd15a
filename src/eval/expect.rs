//! G-code analysis → the decision layer's `LayerExpectation` for each layer,
//! computed once per sequence (cumulative extrusion and footprint need every
//! earlier layer), then looked up by the printer's layer or file position.

use crate::decision::LayerExpectation;
use crate::domain::PrintJob;
use crate::gcode::Analysis;

/// Per-layer expectations of one G-code file.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    layers: Vec<LayerExpectation>,
}

impl Expectations {
    pub fn from_analysis(a: &Analysis) -> Expectations {
        Expectations { layers: crate::decision::layer_expectations(a) }
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The expectation for a job: by its layer when the printer reports one,
    /// else by its file position.
    pub fn for_job(&self, job: &PrintJob, analysis: &Analysis) -> Option<&LayerExpectation> {
        if let Some(l) = job.layer {
            return self.layers.get(l as usize);
        }
        let off = job.file_position?;
        let layer = analysis.layer_at_or_before_offset(off)?;
        self.layers.get(layer.index as usize)
    }
}
