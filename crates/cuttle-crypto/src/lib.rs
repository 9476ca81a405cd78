//! Cuttle's cryptography.
//!
//! - [`MasterKey`]: the 256-bit key of an instance (SPEC 2), written as one base64 line.
//! - [`Sealer`]: sensitive values at rest, AES-256-GCM-SIV under the master key with a random
//!   nonce, bound as associated data to the instance identity, the collection, the document and
//!   the field, so that ciphertexts cannot be swapped between rows or fields.
//! - [`BackupKeys`]: the key check and the integrity check of an instance backup (SPEC 7), keyed
//!   by keys derived from the master key.
//! - [`Fingerprints`]: 128-bit digests under a key drawn for one run, for holding many names in a
//!   set by digest alone.
//!
//! Keys and plaintexts are zeroized after use; nothing here prints a key or a plaintext.

pub mod export;

use std::fmt;

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
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

/// A 256-bit key from the operating system's generator, wiped when dropped.
fn random_key() -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut key = Zeroizing::new([0u8; 32]);
    random_bytes(key.as_mut())?;
    Ok(key)
}

/// Digests of 128 bits under a key drawn when made and never written anywhere: a set of them
/// stands for a set of names (hundreds of thousands of paths or identities) in far less memory,
/// and since the key is unknown outside the process, no name can be chosen to collide with
/// another's. SHA-256 of the key and of each part with its length, cut to 128 bits.
pub struct Fingerprints {
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for Fingerprints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprints([redacted])")
    }
}

impl Fingerprints {
    pub fn new() -> Result<Self, CryptoError> {
        Ok(Fingerprints { key: random_key()? })
    }

    /// The digest of `parts`, each taken whole (`["ab", "c"]` and `["a", "bc"]` differ).
    pub fn of<'a>(&self, parts: impl IntoIterator<Item = &'a [u8]>) -> u128 {
        let mut hasher = Sha256::new();
        hasher.update(self.key.as_ref());
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        u128::from_le_bytes(digest[..16].try_into().expect("32 bytes"))
    }
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
        Ok(MasterKey(random_key()?))
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
    /// The keys of this instance's backups.
    pub fn backup_keys(&self) -> BackupKeys {
        BackupKeys::new(self)
    }
}

/// HKDF info for the key of a backup's integrity check.
const BACKUP_INFO_INTEGRITY: &[u8] = b"cuttle backup integrity v1";
/// HKDF info for the key of a backup's master-key check.
const BACKUP_INFO_CHECK: &[u8] = b"cuttle backup key check v1";
/// The message a backup's key check authenticates.
const BACKUP_KEY_CHECK_MESSAGE: &[u8] = b"cuttle backup key check v1";

/// The keys of an instance backup (SPEC 7), derived from the master key with HKDF-SHA-256
/// *expand* (the master key is the pseudorandom key; no extract step): a 32-byte integrity key
/// (info `cuttle backup integrity v1`) and a 32-byte check key (info `cuttle backup key check v1`).
///
/// - The key check is HMAC-SHA-256(check key, `cuttle backup key check v1`), unpadded base64url:
///   it tells a wrong master key apart from a damaged file, and reveals nothing of the key.
/// - The integrity check is HMAC-SHA-256(integrity key, the bytes it covers), unpadded
///   base64url ([`BackupMac`]).
///
/// Both keys are wiped when dropped; `Debug` never shows them.
pub struct BackupKeys {
    integrity: Zeroizing<[u8; 32]>,
    check: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for BackupKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupKeys([redacted])")
    }
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length")
}

impl BackupKeys {
    fn new(master: &MasterKey) -> Self {
        let hkdf = Hkdf::<Sha256>::from_prk(master.0.as_ref())
            .expect("a 32-byte master key is long enough for HKDF-SHA-256");
        let mut integrity = Zeroizing::new([0u8; 32]);
        let mut check = Zeroizing::new([0u8; 32]);
        hkdf.expand(BACKUP_INFO_INTEGRITY, integrity.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        hkdf.expand(BACKUP_INFO_CHECK, check.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        BackupKeys { integrity, check }
    }

    fn check_bytes(&self) -> [u8; 32] {
        let mut mac = hmac_sha256(self.check.as_slice());
        mac.update(BACKUP_KEY_CHECK_MESSAGE);
        mac.finalize().into_bytes().into()
    }

    /// The backup's key check: unpadded base64url (43 characters).
    pub fn key_check(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.check_bytes())
    }

    /// Whether `key_check` (a backup's) was made with this master key, compared in constant
    /// time. Anything but the canonical encoding of 32 bytes is `false`.
    pub fn verify_key_check(&self, key_check: &str) -> bool {
        verify_mac(self.check_bytes(), key_check)
    }

    /// A fresh integrity check, to be fed every byte it covers.
    pub fn integrity(&self) -> BackupMac {
        BackupMac(hmac_sha256(self.integrity.as_slice()))
    }
}

fn verify_mac(computed: [u8; 32], given: &str) -> bool {
    match URL_SAFE_NO_PAD.decode(given) {
        Ok(given) if given.len() == 32 => computed.ct_eq(given.as_slice()).into(),
        _ => false,
    }
}

/// A backup's integrity check being computed: HMAC-SHA-256 under the integrity key.
#[derive(Clone)]
pub struct BackupMac(Hmac<Sha256>);

impl fmt::Debug for BackupMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupMac([redacted])")
    }
}

impl BackupMac {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The check of every byte fed: unpadded base64url (43 characters).
    pub fn finish(self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.finalize().into_bytes())
    }

    /// Whether `expected` is the check of every byte fed, compared in constant time.
    pub fn verify(self, expected: &str) -> bool {
        verify_mac(self.0.finalize().into_bytes().into(), expected)
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

    /// Pins the backup checks. The expected strings were cross-checked in Python with
    /// `cryptography` 48.0.0 (`HKDFExpand` with SHA-256, `hmac` with SHA-256). If this test
    /// fails, every backup already written no longer opens.
    #[test]
    fn backup_keys_known_answer() {
        let key = MasterKey::from_line("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let keys = key.backup_keys();
        let check = keys.key_check();
        assert_eq!(check, "O4iX2ukPqBmdt5cgwqDTSP22mhHsviPdFnoYbU4JjvA");
        assert!(keys.verify_key_check(&check));
        let mut mac = keys.integrity();
        mac.update(b"cuttle backup ");
        mac.update(b"known answer\n");
        let expected = "TjY1yxnuzDfxNnYs7rlxrvpCaUFv0-zQwK6DDUsFCmc";
        assert!(mac.clone().verify(expected));
        assert_eq!(mac.finish(), expected);
    }

    #[test]
    fn backup_checks_refuse_other_keys_and_bad_text() {
        let keys = MasterKey::generate().unwrap().backup_keys();
        let other = MasterKey::generate().unwrap().backup_keys();
        let check = keys.key_check();
        assert!(!other.verify_key_check(&check));
        for bad in ["", "not base64!", &check[..42], &format!("{check}A")] {
            assert!(!keys.verify_key_check(bad), "{bad:?}");
        }
        let mut mac = keys.integrity();
        mac.update(b"some bytes");
        let text = mac.clone().finish();
        let mut theirs = other.integrity();
        theirs.update(b"some bytes");
        assert!(!theirs.verify(&text));
        let mut changed = keys.integrity();
        changed.update(b"some bytez");
        assert!(!changed.verify(&text));
        assert!(mac.verify(&text));
        assert_eq!(format!("{keys:?}"), "BackupKeys([redacted])");
    }

    #[test]
    fn fingerprints_take_each_part_whole_and_differ_by_key() {
        let prints = Fingerprints::new().unwrap();
        let of = |parts: &[&str]| prints.of(parts.iter().map(|p| p.as_bytes()));
        assert_eq!(of(&["ab", "c"]), of(&["ab", "c"]));
        assert_ne!(of(&["ab", "c"]), of(&["a", "bc"]));
        assert_ne!(of(&["abc"]), of(&["ab", "c"]));
        assert_ne!(of(&[]), of(&[""]));
        let other = Fingerprints::new().unwrap();
        assert_ne!(prints.of([b"x".as_slice()]), other.of([b"x".as_slice()]));
        assert_eq!(format!("{prints:?}"), "Fingerprints([redacted])");
    }
}
