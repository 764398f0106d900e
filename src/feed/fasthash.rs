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
        format!("{PREFIX}{:032x}", self.0.digest128())
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
