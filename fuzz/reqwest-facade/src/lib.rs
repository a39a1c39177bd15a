//! `reqwest::header` and `reqwest::Url` without reqwest: the same re-exports reqwest makes.

pub use http::header;
pub use url::Url;
