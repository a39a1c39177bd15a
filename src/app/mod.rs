//! The daemon: builds every stage from `Config`, runs each as a task under one
//! cancellation token, restarts crashed stages within a budget, and shuts down
//! cleanly. The only module that may depend on every other one.
