//! Self-checks of an [`Analysis`]: what must hold whatever the input was.
//! Used by the tests, the fuzz target and anyone who wants to assert that a
//! result is sane; cheap enough to run on every analysis in debug builds.

use super::model::Analysis;

impl Analysis {
    /// Checks the structural promises of an analysis: layers in file order
    /// with non-overlapping, non-empty byte and line ranges inside the file,
    /// indices matching positions, lookups agreeing with the ranges, finite
    /// numbers, progress and footprints within bounds. Returns every broken
    /// promise, described.
    pub fn check_invariants(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        let mut prev_end = (0u64, 0u64);
        for (i, l) in self.layers.iter().enumerate() {
            let at = format!("layer {i}");
            if l.index as usize != i {
                errs.push(format!("{at}: index {}", l.index));
            }
            if l.start_offset >= l.end_offset || l.end_offset > self.total_bytes {
                errs.push(format!("{at}: bytes {}..{} of {}", l.start_offset, l.end_offset, self.total_bytes));
            }
            if l.start_line >= l.end_line || l.start_line == 0 || l.end_line > self.total_lines + 1 {
                errs.push(format!("{at}: lines {}..{} of {}", l.start_line, l.end_line, self.total_lines));
            }
            if l.start_offset < prev_end.0 || l.start_line < prev_end.1 {
                errs.push(format!(
                    "{at}: starts at {}/{} before the previous layer ends",
                    l.start_offset, l.start_line
                ));
            }
            prev_end = (l.end_offset, l.end_line);
            if !(l.z.is_finite() && l.height.is_finite() && l.height >= 0.0) {
                errs.push(format!("{at}: z {} height {}", l.z, l.height));
            }
            if !(l.extruded_mm.is_finite() && l.extruded_mm > 0.0 && l.area_mm2.is_finite() && l.area_mm2 >= 0.0) {
                errs.push(format!("{at}: extruded {} area {}", l.extruded_mm, l.area_mm2));
            }
            if let Some(p) = l.progress_at_start
                && !(0.0..=1.0).contains(&p)
            {
                errs.push(format!("{at}: progress {p}"));
            }
            if l.time_at_start_s.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
                errs.push(format!("{at}: time {:?}", l.time_at_start_s));
            }
            match (&self.grid, l.footprint.is_empty()) {
                (Some(g), _) => {
                    if l.footprint.cells(g).any(|(c, r, mm)| c >= g.cols || r >= g.rows || !(mm > 0.0)) {
                        errs.push(format!("{at}: footprint cell off the grid or empty"));
                    }
                }
                (None, false) => errs.push(format!("{at}: footprint without a grid")),
                (None, true) => {}
            }
            if l.objects.iter().any(|&o| o as usize >= self.objects.len()) {
                errs.push(format!("{at}: unknown object in {:?}", l.objects));
            }
            let by_offset = |o: u64| self.layer_at_offset(o).map(|l| l.index);
            let by_line = |n: u64| self.layer_at_line(n).map(|l| l.index);
            let want = Some(l.index);
            if by_offset(l.start_offset) != want || by_offset(l.end_offset - 1) != want {
                errs.push(format!("{at}: offset lookup disagrees"));
            }
            if by_line(l.start_line) != want || by_line(l.end_line - 1) != want {
                errs.push(format!("{at}: line lookup disagrees"));
            }
            match self.layer_at_z(l.z) {
                Some(found) if found.z >= l.z && found.z <= l.z + 1.001e-3 => {}
                found => errs.push(format!("{at}: layer_at_z({}) found {:?}", l.z, found.map(|f| f.z))),
            }
        }
        for o in &self.objects {
            for k in [o.first_layer, o.last_layer].into_iter().flatten() {
                if k as usize >= self.layers.len() {
                    errs.push(format!("object {}: layer {k} does not exist", o.index));
                }
            }
        }
        if !(self.filament_mm.is_finite() && self.kinematic_time_s.is_finite() && self.kinematic_time_s >= 0.0) {
            errs.push(format!("filament {} time {}", self.filament_mm, self.kinematic_time_s));
        }
        let counted: u64 = self.warning_counts.values().sum();
        if (self.warnings.len() as u64) > counted {
            errs.push(format!("{} warnings kept but {counted} counted", self.warnings.len()));
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}
