//! Offline evaluation on recorded datasets with the daemon's own decision code.
//!
//! Must not depend on printer, actions or web.
