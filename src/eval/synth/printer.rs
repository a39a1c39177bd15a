//! A printer status stream for a synthetic sequence, derived from a real
//! sliced file: layer start times from `gcode::analyze_file` (the slicer's
//! per-layer times where it gives them, else our estimate scaled to its
//! total), so layer, Z, progress, file position and feature advance the way
//! that print would. A heating phase comes first; after the last layer the
//! printer reports `finished`.

use std::time::Duration;

use crate::domain::{Heater, PrintJob, PrinterState, PrinterStatus, Temperatures, Timestamp};
use crate::gcode::Analysis;

use super::rng::Rng;

/// Hotend and bed targets used for the simulated temperatures.
const HOTEND_TARGET: f32 = 215.0;
const BED_TARGET: f32 = 60.0;

/// A print laid out in time.
#[derive(Debug, Clone)]
pub struct PrintPlan {
    pub file: String,
    /// Print time at the start of each layer (s), increasing.
    pub layer_start_s: Vec<f64>,
    /// Whole print at real speed (s).
    pub total_s: f64,
    layers: Vec<(u32, f32, u64, u64)>,
    file_size: u64,
    features: Vec<(u64, String)>,
}

impl PrintPlan {
    /// Lays out `analysis`; `None` when the file has no layers.
    pub fn new(analysis: &Analysis, file: &str) -> Option<PrintPlan> {
        let n = analysis.layers.len();
        if n == 0 {
            return None;
        }
        let est = analysis.estimated_time_s.filter(|t| *t > 0.0).unwrap_or(analysis.kinematic_time_s.max(1.0));
        let times: Vec<Option<f64>> = analysis.layers.iter().map(|l| l.time_at_start_s).collect();
        let mut starts: Vec<f64> = if times.iter().all(Option::is_some) {
            times.iter().map(|t| t.unwrap_or(0.0)).collect()
        } else {
            analysis
                .layers
                .iter()
                .enumerate()
                .map(|(i, l)| f64::from(l.progress_at_start.unwrap_or(i as f32 / n as f32)) * est)
                .collect()
        };
        // Make strictly increasing (a zero-length layer still takes a moment).
        for i in 1..starts.len() {
            if starts[i] <= starts[i - 1] {
                starts[i] = starts[i - 1] + 0.5;
            }
        }
        let first = starts[0];
        for s in &mut starts {
            *s -= first;
        }
        let last = starts.last().copied().unwrap_or(0.0);
        let total = (est - first).max(last + last / n as f64).max(1.0);
        let mut features = vec![];
        for l in &analysis.layers {
            for off in [l.start_offset, (l.start_offset + l.end_offset) / 2] {
                if let Some(f) = analysis.feature_at_offset(off) {
                    features.push((off, f.as_str().to_string()));
                }
            }
        }
        Some(PrintPlan {
            file: file.to_string(),
            layer_start_s: starts,
            total_s: total,
            layers: analysis.layers.iter().map(|l| (l.index, l.z, l.start_offset, l.end_offset)).collect(),
            file_size: analysis.total_bytes,
            features,
        })
    }

    pub fn layer_count(&self) -> u32 {
        self.layers.len() as u32
    }

    /// Layer index at print time `t` (s since printing started).
    pub fn layer_at(&self, t: f64) -> u32 {
        let i = self.layer_start_s.partition_point(|s| *s <= t);
        i.saturating_sub(1) as u32
    }

    fn feature_at(&self, off: u64) -> Option<String> {
        let i = self.features.partition_point(|f| f.0 <= off);
        self.features.get(i.checked_sub(1)?).map(|f| f.1.clone())
    }

    /// The status at print time `t`: heating before 0 (for `heat_s`), printing, then finished.
    pub fn status(&self, t: f64, heat_s: f64, at: Timestamp, rng: &mut Rng) -> PrinterStatus {
        let noise = |rng: &mut Rng, s: f64| (rng.normal() * s) as f32;
        if t < 0.0 {
            let k = (1.0 - (-t / heat_s.max(1.0))).clamp(0.0, 1.0) as f32;
            let temps = Temperatures {
                hotend: Some(Heater {
                    actual: 25.0 + (HOTEND_TARGET - 25.0) * k + noise(rng, 0.5),
                    target: HOTEND_TARGET,
                }),
                bed: Some(Heater {
                    actual: 25.0 + (BED_TARGET - 25.0) * k.sqrt() + noise(rng, 0.2),
                    target: BED_TARGET,
                }),
            };
            let job = PrintJob {
                file: self.file.clone(),
                layer_count: Some(self.layer_count()),
                progress: Some(0.0),
                file_size: Some(self.file_size),
                ..Default::default()
            };
            return PrinterStatus { state: PrinterState::Heating { job: Some(job) }, temps, at };
        }
        let temps = Temperatures {
            hotend: Some(Heater { actual: HOTEND_TARGET + noise(rng, 0.4), target: HOTEND_TARGET }),
            bed: Some(Heater { actual: BED_TARGET + noise(rng, 0.15), target: BED_TARGET }),
        };
        let li = self.layer_at(t) as usize;
        let (index, z, start, end) = self.layers[li];
        let done = t >= self.total_s;
        let t0 = self.layer_start_s[li];
        let t1 = self.layer_start_s.get(li + 1).copied().unwrap_or(self.total_s);
        let f = if done { 1.0 } else { ((t - t0) / (t1 - t0).max(1e-3)).clamp(0.0, 1.0) };
        let pos = start + ((end - start) as f64 * f) as u64;
        let job = PrintJob {
            file: self.file.clone(),
            layer: Some(index),
            layer_count: Some(self.layer_count()),
            z: Some(z),
            progress: Some((t / self.total_s).clamp(0.0, 1.0) as f32),
            file_position: Some(if done { self.file_size } else { pos }),
            file_size: Some(self.file_size),
            elapsed: Some(Duration::from_secs_f64(t.min(self.total_s).max(0.0))),
            feature: if done { None } else { self.feature_at(pos) },
        };
        let state = if done { PrinterState::Finished { job } } else { PrinterState::Printing { job } };
        PrinterStatus { state, temps, at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sliced_file_becomes_an_advancing_status_stream() {
        let mut g = String::from(";FLAVOR:Marlin\n;LAYER_COUNT:3\nM83\n");
        for (i, z) in [0.2f32, 0.4, 0.6].iter().enumerate() {
            g.push_str(&format!(
                ";LAYER:{i}\n;TYPE:WALL-OUTER\nG1 Z{z} F600\nG1 X10 Y0 E1 F1200\nG1 X10 Y10 E1\nG1 X0 Y10 E1\n"
            ));
        }
        let a = crate::gcode::analyze(g.as_bytes());
        let plan = PrintPlan::new(&a, "cube.gcode").unwrap();
        assert_eq!(plan.layer_count(), 3);
        let mut rng = Rng::new(1);
        let heating = plan.status(-5.0, 30.0, Timestamp(0), &mut rng);
        assert_eq!(heating.state.name(), "heating");
        let mut last_layer = 0;
        let mut last_pos = 0;
        for k in 0..20 {
            let t = plan.total_s * k as f64 / 20.0;
            let s = plan.status(t, 30.0, Timestamp(0), &mut rng);
            let job = s.state.job().unwrap();
            assert!(job.layer.unwrap() >= last_layer && job.file_position.unwrap() >= last_pos);
            last_layer = job.layer.unwrap();
            last_pos = job.file_position.unwrap();
        }
        assert_eq!(last_layer, 2);
        assert_eq!(plan.status(plan.total_s + 1.0, 30.0, Timestamp(0), &mut rng).state.name(), "finished");
    }
}
