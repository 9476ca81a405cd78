//! Cuttle's cryptography.
//!
//! - [`MasterKey`]: the 256-bit key of an instance (SPEC 2), written as one base64 line.
//! - [`Sealer`]: sensitive values at rest, AES-256-GCM-SIV under the master key with a random
//!   nonce, bound as associated data to the instance identity, the collection, the document and
//!   the field, so that ciphertexts cannot be swapped between rows or fields.
//!
//! Keys and plaintexts are zeroized after use; nothing here prints a key or a plaintext.

pub mod export;

use std::fmt;

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::{Zeroize, Zeroizing};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("a master key is one line of base64 holding 32 bytes")]
    MalformedKey,
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    #[error("a sealed value is not valid base64 or is too short")]
    Malformed,
    #[error(
        "a sealed value does not open under this master key at this place (wrong master key, or the value was tampered with or moved)"
    )]
    Tampered,
}

/// Fills `buf` from the operating system's generator.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Random(e.to_string()))
}

/// An instance's master key. `Debug` never shows it; it is wiped when dropped.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        random_bytes(key.as_mut())?;
        Ok(MasterKey(key))
    }

    /// Reads the key from its one-line form (surrounding white space is ignored).
    pub fn from_line(line: &str) -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new(
            STANDARD
                .decode(line.trim())
                .map_err(|_| CryptoError::MalformedKey)?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return Err(CryptoError::MalformedKey);
        }
        key.copy_from_slice(&bytes);
        bytes.zeroize();
        Ok(MasterKey(key))
    }

    /// The key's one-line form, as `instance master-key` prints it and key files hold it.
    pub fn to_line(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.as_ref()))
    }
}

/// The place a sealed value belongs to; it is authenticated along with the value.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub collection: &'a str,
    pub document: i64,
    /// The JSON pointer of the value inside the stored document.
    pub pointer: &'a str,
}

const NONCE_LEN: usize = 12;
const AD_PREFIX: &[u8] = b"cuttle sealed v1\0";

/// Seals and opens sensitive values of one instance.
pub struct Sealer {
    cipher: Aes256GcmSiv,
    identity: [u8; 16],
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    pub fn new(key: &MasterKey, identity: [u8; 16]) -> Self {
        let cipher = Aes256GcmSiv::new_from_slice(key.0.as_ref()).expect("a 32-byte key");
        Sealer { cipher, identity }
    }

    fn associated_data(&self, place: Place<'_>) -> Vec<u8> {
        let mut ad = Vec::with_capacity(
            AD_PREFIX.len() + 16 + place.collection.len() + 9 + place.pointer.len(),
        );
        ad.extend_from_slice(AD_PREFIX);
        ad.extend_from_slice(&self.identity);
        ad.extend_from_slice(place.collection.as_bytes());
        ad.push(0);
        ad.extend_from_slice(&place.document.to_be_bytes());
        ad.extend_from_slice(place.pointer.as_bytes());
        ad
    }

    /// Seals `plaintext` for `place`: base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plaintext: &[u8], place: Place<'_>) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let aad = self.associated_data(place);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("AES-GCM-SIV encryption of a bounded message cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a value sealed for `place`.
    pub fn open(&self, sealed: &str, place: Place<'_>) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| CryptoError::Malformed)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let aad = self.associated_data(place);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(document: i64, pointer: &str) -> Place<'_> {
        Place {
            collection: "accounts",
            document,
            pointer,
        }
    }

    #[test]
    fn seals_and_opens_only_at_the_same_place() {
        let key = MasterKey::generate().unwrap();
        let sealer = Sealer::new(&key, [7; 16]);
        let sealed = sealer
            .seal(b"sample-secret-x", place(1, "/credentials/password"))
            .unwrap();
        assert_eq!(
            &**sealer
                .open(&sealed, place(1, "/credentials/password"))
                .unwrap(),
            b"sample-secret-x"
        );
        assert!(matches!(
            sealer.open(&sealed, place(2, "/credentials/password")),
            Err(CryptoError::Tampered)
        ));
        assert!(matches!(
            sealer.open(&sealed, place(1, "/credentials/token")),
            Err(CryptoError::Tampered)
        ));
        let other_instance = Sealer::new(&key, [8; 16]);
        assert!(
            other_instance
                .open(&sealed, place(1, "/credentials/password"))
                .is_err()
        );
        let other_key = Sealer::new(&MasterKey::generate().unwrap(), [7; 16]);
        assert!(
            other_key
                .open(&sealed, place(1, "/credentials/password"))
                .is_err()
        );
    }

    #[test]
    fn random_nonces_make_equal_values_differ_at_rest() {
        let sealer = Sealer::new(&MasterKey::generate().unwrap(), [0; 16]);
        let a = sealer.seal(b"same", place(1, "/p")).unwrap();
        let b = sealer.seal(b"same", place(1, "/p")).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn key_line_round_trips_and_debug_is_redacted() {
        let key = MasterKey::generate().unwrap();
        let again = MasterKey::from_line(&format!("  {}\n", &*key.to_line())).unwrap();
        assert_eq!(key.0.as_ref(), again.0.as_ref());
        assert!(!format!("{key:?}").contains(&*key.to_line()));
        assert!(MasterKey::from_line("short").is_err());
    }
}
