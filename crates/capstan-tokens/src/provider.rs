//! Selecting `jsonwebtoken`'s crypto backend.
//!
//! jsonwebtoken 11 delegates cryptography to a process-wide
//! `CryptoProvider`. With exactly one of its backend features on (this crate
//! asks for `rust_crypto`), it picks that backend by itself; but Cargo
//! features are additive, and should any other crate in a binary turn on
//! `aws_lc_rs` as well, jsonwebtoken can no longer choose and panics on first
//! use. So before every sign or verify this crate installs the RustCrypto
//! provider once, unless something in the process already installed one.
//! Nothing has to be installed at run time: the backend is pure Rust.

use std::sync::Once;

/// Installs the RustCrypto provider as the process default, once; a
/// provider installed earlier by someone else stays.
pub(crate) fn ensure() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An `Err` means a provider is already installed: keep it.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        );
    });
}
