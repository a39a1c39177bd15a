//! The objects of the print as the printer links see them: finding the one a
//! user names (`PrinterLink::cancel_object`), the errors every link gives for
//! a name that is not there or for the last object left, and the list the
//! dashboard shows (`GET /api/objects`) with each object's state.
//!
//! Names are the file's (`Analysis::objects`, `PrintObject::name`) and match
//! without regard to case, as Klipper's `exclude_object` does (it upper-cases
//! them). Pure except [`list`], which reads a link's published state.

use serde::Serialize;

use super::PrinterError;
use crate::gcode::Analysis;

/// The command name every link reports for a per-object cancel.
pub const CANCEL_OBJECT: &str = "cancel_object";

/// Where one object of the current print stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectState {
    /// Its first layer is still to come.
    Pending,
    Printing,
    /// Its last layer is behind (or the print ended).
    Done,
    Cancelled,
}

/// One object of the current print, for the dashboard and the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectView {
    /// Index in the file's object list.
    pub index: u32,
    pub name: String,
    pub state: ObjectState,
    /// `[min_x, min_y, max_x, max_y]` of what it deposits, bed mm.
    pub bbox: Option<[f32; 4]>,
    /// Declared center (Klipper `CENTER=`), else the box's.
    pub center: Option<[f32; 2]>,
    pub first_layer: Option<u32>,
    pub last_layer: Option<u32>,
}

/// The current print's objects, as `GET /api/objects` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ObjectList {
    /// The printing file; unset when nothing prints.
    pub file: Option<String>,
    /// The layer being printed (0-based).
    pub layer: Option<u32>,
    /// Empty when nothing prints, the file is not analysed yet, or it labels no objects.
    pub objects: Vec<ObjectView>,
}

/// What `link` knows of the current print's objects: its analysis of the
/// printing file, the job's layer, and the objects it cancelled.
pub async fn list(link: &dyn super::PrinterLink) -> ObjectList {
    let state = link.status().borrow().state.clone();
    let Some(job) = state.job().cloned() else { return ObjectList::default() };
    let fa = link.analysis().borrow().clone().filter(|fa| fa.matches(&job));
    let ended = !state.print_running();
    let objects = match fa {
        Some(fa) => views(&fa.analysis, job.layer, ended, &link.cancelled_objects().await),
        None => Vec::new(),
    };
    ObjectList { file: Some(job.file), layer: job.layer, objects }
}

/// The object called `name` (case-insensitive), or a `Rejected` error that lists the objects there are.
pub fn find(analysis: &Analysis, file: &str, name: &str) -> Result<u32, PrinterError> {
    let name = name.trim();
    analysis
        .objects
        .iter()
        .find(|o| o.name.eq_ignore_ascii_case(name))
        .map(|o| o.index)
        .ok_or_else(|| unknown(name, file, analysis.objects.iter().map(|o| o.name.as_str())))
}

/// "no object named …" with the names that exist (at most 20 listed).
pub fn unknown<'a>(name: &str, file: &str, known: impl Iterator<Item = &'a str>) -> PrinterError {
    let known: Vec<&str> = known.collect();
    let list = if known.is_empty() {
        "the file labels no objects (slicer option \"label objects\")".to_string()
    } else {
        let mut shown = known.iter().take(20).map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
        if known.len() > 20 {
            shown.push_str(&format!(" and {} more", known.len() - 20));
        }
        format!("its objects: {shown}")
    };
    PrinterError::Rejected { command: CANCEL_OBJECT, message: format!("no object named {name:?} in {file}; {list}") }
}

/// Refusal to cancel the only object still printing: that is cancelling the print.
pub fn last_object(name: &str) -> PrinterError {
    PrinterError::Rejected {
        command: CANCEL_OBJECT,
        message: format!("{name:?} is the last object still printing: cancel the print instead"),
    }
}

/// Refusal on a link that cannot cancel one object.
pub fn unsupported(why: &str) -> PrinterError {
    PrinterError::Rejected { command: CANCEL_OBJECT, message: format!("not supported by this printer: {why}") }
}

/// Whether cancelling object `index` leaves no object printing (all others cancelled or done).
pub fn would_be_last(analysis: &Analysis, index: u32, layer: Option<u32>, cancelled: &[String]) -> bool {
    !views(analysis, layer, false, cancelled)
        .iter()
        .any(|v| v.index != index && matches!(v.state, ObjectState::Pending | ObjectState::Printing))
}

/// Every object with its state: cancelled when its name is in `cancelled`
/// (any case), else by the current `layer` against its layer range; all done
/// once the print has `ended`.
pub fn views(analysis: &Analysis, layer: Option<u32>, ended: bool, cancelled: &[String]) -> Vec<ObjectView> {
    analysis
        .objects
        .iter()
        .map(|o| {
            let state = if cancelled.iter().any(|c| c.eq_ignore_ascii_case(&o.name)) {
                ObjectState::Cancelled
            } else if ended {
                ObjectState::Done
            } else {
                match (layer, o.first_layer, o.last_layer) {
                    (Some(l), Some(first), _) if l < first => ObjectState::Pending,
                    (Some(l), _, Some(last)) if l > last => ObjectState::Done,
                    _ => ObjectState::Printing,
                }
            };
            let bbox = o.bbox.map(|b| [b.min[0], b.min[1], b.max[0], b.max[1]]);
            ObjectView {
                index: o.index,
                name: o.name.clone(),
                state,
                bbox,
                center: o.center.or(bbox.map(|b| [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0])),
                first_layer: o.first_layer,
                last_layer: o.last_layer,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis() -> Analysis {
        crate::gcode::analyze(
            b"M83\n;LAYER_CHANGE\n;Z:0.2\nG1 Z0.2\n; printing object a id:0 copy 0\nG1 X1 Y1 E1\n\
              ; stop printing object a id:0 copy 0\n; printing object B id:1 copy 0\nG1 X20 Y1 E1\n\
              ; stop printing object B id:1 copy 0\n;LAYER_CHANGE\n;Z:0.4\nG1 Z0.4\n\
              ; printing object B id:1 copy 0\nG1 X21 Y1 E1\n; stop printing object B id:1 copy 0\n",
        )
    }

    #[test]
    fn names_match_without_case_and_unknown_names_list_the_objects() {
        let a = analysis();
        assert_eq!(find(&a, "f.gcode", "b id:1 COPY 0").unwrap(), 1);
        let e = find(&a, "f.gcode", "c").unwrap_err().to_string();
        assert_eq!(
            e,
            "cancel_object rejected: no object named \"c\" in f.gcode; \
             its objects: \"a id:0 copy 0\", \"B id:1 copy 0\""
        );
        let none = crate::gcode::analyze(b"G1 X1 E1\n");
        assert!(find(&none, "g", "x").unwrap_err().to_string().contains("labels no objects"), "");
    }

    #[test]
    fn states_follow_the_layer_and_the_last_object_is_refused() {
        let a = analysis();
        let states =
            |layer, ended, c: &[String]| views(&a, layer, ended, c).iter().map(|v| v.state).collect::<Vec<_>>();
        assert_eq!(states(Some(0), false, &[]), [ObjectState::Printing, ObjectState::Printing]);
        assert_eq!(states(Some(1), false, &[]), [ObjectState::Done, ObjectState::Printing]);
        assert_eq!(states(Some(1), false, &["b ID:1 copy 0".into()]), [ObjectState::Done, ObjectState::Cancelled]);
        assert_eq!(states(Some(1), true, &[]), [ObjectState::Done, ObjectState::Done]);
        assert!(!would_be_last(&a, 0, Some(0), &[]));
        assert!(would_be_last(&a, 1, Some(1), &[]), "a is done: B is the last one printing");
        assert!(would_be_last(&a, 0, Some(0), &["B id:1 copy 0".into()]));
    }
}
