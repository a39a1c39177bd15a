//! G-code understanding: a streaming parser that never panics on junk, and an
//! analyzer that knows every layer (Z, byte range, extrusion, footprint,
//! features, objects, progress) plus fast position → layer lookups.
//!
//! Pure: reads bytes, returns data. Used by every printer backend, by
//! decision (what should be on the bed) and by eval.
