//! `crate::printer::octoprint`: the REST and push-socket JSON.

#[path = "../../../../src/printer/octoprint/model.rs"]
pub(crate) mod model;
