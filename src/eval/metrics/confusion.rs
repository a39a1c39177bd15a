//! Multi-class confusion: true class (the dataset label mapped onto the
//! model's classes) against the model's top class, with per-class precision,
//! recall and F1, accuracy and macro-F1.

use serde::Serialize;

/// Precision, recall and F1 of one class (one-vs-rest).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub class: String,
    /// Images whose true class is this one.
    pub support: u64,
    /// Images the model gave this class.
    pub predicted: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

/// A confusion matrix: `matrix[true][predicted]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// Row names: the model's classes, then any true class the model does not have.
    pub rows: Vec<String>,
    /// Column names: the model's classes.
    pub columns: Vec<String>,
    pub matrix: Vec<Vec<u64>>,
}

impl Confusion {
    pub fn new(model_classes: &[String]) -> Confusion {
        Confusion {
            rows: model_classes.to_vec(),
            columns: model_classes.to_vec(),
            matrix: vec![vec![0; model_classes.len()]; model_classes.len()],
        }
    }

    /// Counts one image. A predicted class outside the columns is ignored.
    pub fn add(&mut self, truth: &str, predicted: &str) {
        let Some(c) = self.columns.iter().position(|x| x == predicted) else { return };
        let r = match self.rows.iter().position(|x| x == truth) {
            Some(r) => r,
            None => {
                self.rows.push(truth.to_string());
                self.matrix.push(vec![0; self.columns.len()]);
                self.rows.len() - 1
            }
        };
        self.matrix[r][c] += 1;
    }

    pub fn total(&self) -> u64 {
        self.matrix.iter().flatten().sum()
    }

    /// Share of images whose top class is their true class.
    pub fn accuracy(&self) -> Option<f64> {
        let total = self.total();
        let diag: u64 = self
            .columns
            .iter()
            .enumerate()
            .filter_map(|(c, name)| self.rows.iter().position(|r| r == name).map(|r| self.matrix[r][c]))
            .sum();
        (total > 0).then(|| diag as f64 / total as f64)
    }

    /// One entry per column class.
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        self.columns
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let row = self.rows.iter().position(|r| r == name);
                let tp = row.map(|r| self.matrix[r][c]).unwrap_or(0);
                let support: u64 = row.map(|r| self.matrix[r].iter().sum()).unwrap_or(0);
                let predicted: u64 = self.matrix.iter().map(|r| r[c]).sum();
                let precision = (predicted > 0).then(|| tp as f64 / predicted as f64);
                let recall = (support > 0).then(|| tp as f64 / support as f64);
                let f1 = match (precision, recall) {
                    (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
                    (Some(_), Some(_)) => Some(0.0),
                    (None, Some(_)) => Some(0.0),
                    _ => None,
                };
                ClassMetrics { class: name.clone(), support, predicted, precision, recall, f1 }
            })
            .collect()
    }

    /// Mean F1 over classes that have support.
    pub fn macro_f1(&self) -> Option<f64> {
        let f: Vec<f64> = self.per_class().iter().filter(|m| m.support > 0).filter_map(|m| m.f1).collect();
        super::stats::mean(&f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_per_class_numbers() {
        let classes: Vec<String> = ["normal", "spaghetti", "surface"].iter().map(|s| s.to_string()).collect();
        let mut c = Confusion::new(&classes);
        for (t, p) in [
            ("normal", "normal"),
            ("normal", "surface"),
            ("spaghetti", "spaghetti"),
            ("surface", "surface"),
            ("warping", "normal"),
        ] {
            c.add(t, p);
        }
        assert_eq!(c.rows.last().map(String::as_str), Some("warping"));
        assert_eq!(c.total(), 5);
        assert_eq!(c.accuracy(), Some(0.6));
        let pc = c.per_class();
        assert_eq!((pc[0].support, pc[0].predicted, pc[0].precision, pc[0].recall), (2, 2, Some(0.5), Some(0.5)));
        assert_eq!(pc[2].precision, Some(0.5));
        assert!((c.macro_f1().unwrap() - (0.5 + 1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-9);
    }
}
