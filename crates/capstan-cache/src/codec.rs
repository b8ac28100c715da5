//! The stored form of a value: JSON, gzip-compressed, then sealed with ChaCha20-Poly1305.
//!
//! ```text
//! [format version: 1 byte][key id: 1 byte][nonce: 12 bytes][ciphertext ‖ 16-byte tag]
//! ```
//!
//! The associated data of the AEAD is the two header bytes followed by the Redis key name, so
//! a value copied under another key, or re-labelled with another format or key id, fails
//! authentication like any flipped bit. The nonce is random per value; at the volumes a
//! cache writes, 96 random bits do not repeat in practice.

use std::io::{Read, Write};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::{CacheError, EncryptionKey};

/// The current format: gzip'd JSON sealed with ChaCha20-Poly1305.
const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 2;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Refuses to inflate a value past this size. Values are authenticated, so only a holder of
/// the key could write such a value, but a bug must not take the process down.
const MAX_PLAIN_LEN: u64 = 512 * 1024 * 1024;

/// Encrypts and decrypts values with one key.
pub(crate) struct Codec {
    cipher: ChaCha20Poly1305,
    key_id: u8,
}

impl Codec {
    pub(crate) fn new(key: &EncryptionKey) -> Self {
        Codec {
            cipher: ChaCha20Poly1305::new(&Key::from(*key.as_bytes())),
            key_id: key.id(),
        }
    }

    /// Compresses and seals `json` for the Redis key `key_name`.
    pub(crate) fn seal(&self, key_name: &str, json: &[u8]) -> Result<Vec<u8>, CacheError> {
        let mut gz = GzEncoder::new(
            Vec::with_capacity(json.len() / 4 + 64),
            Compression::default(),
        );
        gz.write_all(json)
            .map_err(|_| CacheError::Corrupt("compression failed"))?;
        let compressed = gz
            .finish()
            .map_err(|_| CacheError::Corrupt("compression failed"))?;

        let header = [FORMAT_V1, self.key_id];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CacheError::Corrupt("no random nonce"))?;
        let aad = associated_data(header, key_name);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &compressed,
                    aad: &aad,
                },
            )
            .map_err(|_| CacheError::Corrupt("encryption failed"))?;

        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Authenticates, decrypts and inflates a stored value of the Redis key `key_name` back
    /// to its JSON.
    pub(crate) fn open(&self, key_name: &str, stored: &[u8]) -> Result<Vec<u8>, CacheError> {
        if stored.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(CacheError::Corrupt("value too short"));
        }
        let header = [stored[0], stored[1]];
        if header[0] != FORMAT_V1 {
            return Err(CacheError::Corrupt("unknown value format"));
        }
        if header[1] != self.key_id {
            return Err(CacheError::Corrupt("value written with another key"));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&stored[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
        let aad = associated_data(header, key_name);
        let compressed = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &stored[HEADER_LEN + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| CacheError::Corrupt("authentication failed (tampered or wrong key)"))?;

        let mut json = Vec::with_capacity(compressed.len() * 4);
        GzDecoder::new(compressed.as_slice())
            .take(MAX_PLAIN_LEN + 1)
            .read_to_end(&mut json)
            .map_err(|_| CacheError::Corrupt("decompression failed"))?;
        if json.len() as u64 > MAX_PLAIN_LEN {
            return Err(CacheError::Corrupt("value too large"));
        }
        Ok(json)
    }
}

fn associated_data(header: [u8; HEADER_LEN], key_name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + key_name.len());
    aad.extend_from_slice(&header);
    aad.extend_from_slice(key_name.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> Codec {
        Codec::new(&EncryptionKey::generate())
    }

    const SECRET_JSON: &[u8] =
        br#"{"kind":"Secret","data":{"password":"aHVudGVyMg=="},"stringData":{"token":"hunter2-very-secret"}}"#;

    #[test]
    fn round_trip() {
        let c = codec();
        for json in [&b"null"[..], b"[]", SECRET_JSON, &vec![b'x'; 1 << 20]] {
            let sealed = c.seal("capstan:v1:manifests:abc", json).unwrap();
            assert_eq!(c.open("capstan:v1:manifests:abc", &sealed).unwrap(), json);
        }
    }

    #[test]
    fn stored_form_hides_the_clear_text_and_varies() {
        let c = codec();
        let a = c.seal("k", SECRET_JSON).unwrap();
        let b = c.seal("k", SECRET_JSON).unwrap();
        assert_ne!(a, b, "a fresh nonce per value");
        for needle in [&b"hunter2"[..], b"Secret", b"password", b"aHVudGVyMg"] {
            assert!(!a.windows(needle.len()).any(|w| w == needle));
        }
        assert_eq!(a[0], FORMAT_V1);
        // Compression happened before encryption: repetitive input shrinks.
        let big = vec![b'a'; 100_000];
        assert!(c.seal("k", &big).unwrap().len() < 1_000);
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let c = codec();
        let sealed = c.seal("k", SECRET_JSON).unwrap();
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert!(c.open("k", &tampered).is_err(), "flip at byte {i} accepted");
        }
    }

    #[test]
    fn rejects_truncation_other_keys_and_other_names() {
        let c = codec();
        let sealed = c.seal("k1", SECRET_JSON).unwrap();
        let cases: Vec<(&str, Vec<u8>, &str, &Codec)> = vec![
            ("empty", vec![], "k1", &c),
            ("truncated", sealed[..sealed.len() - 1].to_vec(), "k1", &c),
            (
                "header only",
                sealed[..HEADER_LEN + NONCE_LEN].to_vec(),
                "k1",
                &c,
            ),
            ("extended", [sealed.clone(), vec![0]].concat(), "k1", &c),
            ("moved to another key name", sealed.clone(), "k2", &c),
        ];
        for (name, stored, key_name, codec) in cases {
            assert!(codec.open(key_name, &stored).is_err(), "{name} accepted");
        }
        let other = codec();
        assert!(
            matches!(other.open("k1", &sealed), Err(CacheError::Corrupt(_))),
            "another key"
        );
    }
}
