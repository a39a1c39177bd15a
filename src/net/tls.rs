//! The TLS provider: reqwest is built with `rustls-no-provider` (ring builds
//! far faster than the default aws-lc), so rustls' `ring` provider must be the
//! process default before any client is built, or building one panics.

use std::sync::Once;

/// Installs rustls' `ring` crypto provider as the process default. Idempotent
/// and cheap after the first call; if another provider was installed first,
/// that one stays.
pub fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err means another thread installed one in between: fine either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_provider_is_installed_once_and_stays() {
        super::install_tls_provider();
        super::install_tls_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
