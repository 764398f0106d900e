//! Hashes that only detect change (an item's content, a whole page): XXH3-128, a specified,
//! stable, non-cryptographic hash, about ten times faster than SHA-256 in software. Nothing
//! here may become an identifier a reader sees (GUIDs, Atom ids stay SHA-256 in
//! [`crate::feed::item::stable_hash`]): a change check needs no resistance to forgery.
//!
//! The hex digest carries the prefix [`PREFIX`], so a stored value tells its kind: a history
//! written by an older pagefeed holds bare SHA-256 hex, and the reader of such a value compares
//! it with the old hash instead (see `history`), so an upgrade marks nothing as changed.

use xxhash_rust::xxh3::Xxh3Default;

/// The prefix of every hash made here; SHA-256 hex never contains a `:`.
pub const PREFIX: &str = "x3:";

/// A change-detection hasher over length-prefixed fields.
pub struct ChangeHasher(Xxh3Default);

impl ChangeHasher {
    pub fn new() -> Self {
        ChangeHasher(Xxh3Default::new())
    }

    /// Adds one field, length first, so ("ab", "c") and ("a", "bc") differ.
    pub fn field(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// Adds raw bytes with no length (for the last or only part of a hash).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// `x3:` and 32 lowercase hex digits.
    pub fn finish(&self) -> String {
        self.digest().as_text().as_str().to_string()
    }

    /// The hash as 16 bytes: what [`Self::finish`] writes as text, held without an allocation.
    pub fn digest(&self) -> Digest {
        Digest(self.0.digest128().to_be_bytes())
    }
}

/// A change-detection hash as bytes (a page's items hold one each while they are merged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest([u8; 16]);

impl Digest {
    /// The stored form, `x3:` and 32 lowercase hex digits, without an allocation.
    pub fn as_text(&self) -> DigestText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; DIGEST_TEXT_LEN];
        out[..PREFIX.len()].copy_from_slice(PREFIX.as_bytes());
        for (pair, b) in out[PREFIX.len()..].chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0xf)];
        }
        DigestText(out)
    }
}

/// The length of a stored fast hash: `x3:` and 32 hex digits.
const DIGEST_TEXT_LEN: usize = PREFIX.len() + 32;

/// A [`Digest`] written as it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestText([u8; DIGEST_TEXT_LEN]);

impl DigestText {
    pub fn as_str(&self) -> &str {
        // Only ASCII was written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for ChangeHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a stored hash was made by [`ChangeHasher`] (else it is an older SHA-256 hex).
pub fn is_fast(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(fields: &[&str]) -> String {
        let mut h = ChangeHasher::new();
        for f in fields {
            h.field(f.as_bytes());
        }
        h.finish()
    }

    #[test]
    fn same_fields_same_hash_and_the_kind_shows() {
        let a = hash(&["title", "https://a.org/1"]);
        assert_eq!(a, hash(&["title", "https://a.org/1"]));
        assert!(is_fast(&a));
        assert_eq!(a.len(), PREFIX.len() + 32);
        assert!(!is_fast(&"0".repeat(64)));
    }

    #[test]
    fn field_boundaries_count() {
        assert_ne!(hash(&["ab", "c"]), hash(&["a", "bc"]));
        assert_ne!(hash(&["a"]), hash(&["a", ""]));
        assert_ne!(hash(&["title"]), hash(&["titlf"]));
    }

    #[test]
    fn the_text_of_a_digest_is_its_hex() {
        for input in [&b""[..], b"a", b"title", &[0u8, 255, 16, 1][..]] {
            let mut h = ChangeHasher::new();
            h.raw(input);
            let expected = format!("{PREFIX}{:032x}", xxhash_rust::xxh3::xxh3_128(input));
            assert_eq!(h.finish(), expected);
            assert_eq!(h.digest().as_text().as_str(), expected);
        }
    }

    #[test]
    fn the_digest_is_the_specified_xxh3_128() {
        // Stored hashes must not change between builds: pin one value of the algorithm.
        let mut h = ChangeHasher::new();
        h.raw(b"");
        assert_eq!(
            h.finish(),
            format!("{PREFIX}99aa06d3014798d86001c324468d497f")
        );
    }
}
