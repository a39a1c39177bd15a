//! One file per stage task. Each `run` function is one life of its stage: it
//! returns `Ok(StageExit)` when told to stop (or, for a finite source, when
//! done) and an error when it cannot go on, after which the supervisor
//! restarts it. Stages share only the channels and handles `daemon` gives them.

pub mod actions;
pub mod capture;
pub mod decision;
pub mod timelapse;
pub mod vision;
pub mod watchdog;
pub mod web;
