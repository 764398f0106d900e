//! Several strings of one record in one allocation.
//!
//! A page of 200,000 small entries holds 200,000 entries and then 200,000 items at once. As
//! separate `String`s, each entry's three or four short texts cost an allocation each (32 to
//! 48 bytes apiece, whatever their length) besides the 24 bytes of every `String` and
//! `Vec` field, whether set or not: about 300 bytes per entry for 30 bytes of text. A
//! [`Pack`] keeps a record's texts one after another in one `Box<str>`, with where each
//! ends: one allocation, and 4 bytes per field.
//!
//! A field is absent, a string, or a list of strings. A list is kept in its field as its
//! strings, each after its length in decimal digits and a `:`, so any text can be in it.
//!
//! Offsets are `u32`: a record's texts are cut where they would pass 4 GiB together (pages
//! are at most 1 GB, so only a selector that takes the same text many times over could get
//! there).

use std::fmt;

/// A field of a record to pack.
#[derive(Debug, Clone, Copy)]
pub enum Slot<'a> {
    Absent,
    Text(&'a str),
    List(&'a [String]),
    /// A list field of another pack, copied as it is kept.
    Packed(List<'a>),
}

impl<'a> From<Option<&'a str>> for Slot<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Slot::Absent, Slot::Text)
    }
}

/// `N` fields (at most 16) of text kept in one allocation; see the module's documentation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pack<const N: usize> {
    text: Box<str>,
    /// Where each field ends in `text` (each starts where the one before ends).
    ends: [u32; N],
    /// Bit `n`: field `n` is present (an absent field differs from an empty one).
    present: u16,
}

impl<const N: usize> Default for Pack<N> {
    fn default() -> Self {
        Pack {
            text: Box::default(),
            ends: [0; N],
            present: 0,
        }
    }
}

/// The room left under `u32::MAX` bytes after `used`.
fn room(used: usize) -> usize {
    usize::try_from(u32::MAX)
        .unwrap_or(usize::MAX)
        .saturating_sub(used)
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut at = max;
    while !s.is_char_boundary(at) {
        at = at.saturating_sub(1);
    }
    s.get(..at).unwrap_or("")
}

/// `n` in decimal and a `:`, onto `text` (without the formatting machinery: a list's every
/// string has one).
fn push_len(text: &mut String, n: usize) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut n = n;
    loop {
        at = at.saturating_sub(1);
        if let Some(d) = buf.get_mut(at) {
            *d = b'0' + u8::try_from(n % 10).unwrap_or(0);
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    for &d in buf.get(at..).unwrap_or(&[]) {
        text.push(char::from(d));
    }
    text.push(':');
}

/// The decimal digits of `n`.
fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

impl<const N: usize> Pack<N> {
    /// The fields, in order (fields past `N` are left out).
    pub fn new(fields: [Slot<'_>; N]) -> Self {
        let size = fields.iter().fold(0usize, |n, f| {
            n.saturating_add(match f {
                Slot::Absent => 0,
                Slot::Text(s) => s.len(),
                Slot::List(l) => l.iter().fold(0usize, |n, s| {
                    n.saturating_add(s.len())
                        .saturating_add(digits(s.len()))
                        .saturating_add(1)
                }),
                Slot::Packed(l) => l.rest.len(),
            })
        });
        let mut text = String::with_capacity(size.min(room(0)));
        let mut ends = [0u32; N];
        let mut present = 0u16;
        for (n, (f, end)) in fields.iter().zip(ends.iter_mut()).enumerate() {
            match f {
                Slot::Absent => {}
                Slot::Text(s) => {
                    text.push_str(cut(s, room(text.len())));
                    present |= bit(n);
                }
                Slot::List(l) => {
                    for s in *l {
                        let need = digits(s.len()).saturating_add(1).saturating_add(s.len());
                        if room(text.len()) < need {
                            break;
                        }
                        push_len(&mut text, s.len());
                        text.push_str(s);
                    }
                    present |= bit(n);
                }
                Slot::Packed(l) => {
                    // Whole strings only: each is in `l.rest` after its length.
                    let whole = room(text.len());
                    let mut keep = l.rest.len();
                    if keep > whole {
                        let mut fits = *l;
                        keep = 0;
                        while fits.next().is_some() {
                            let used = l.rest.len().saturating_sub(fits.rest.len());
                            if used > whole {
                                break;
                            }
                            keep = used;
                        }
                    }
                    text.push_str(l.rest.get(..keep).unwrap_or(""));
                    present |= bit(n);
                }
            }
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Pack {
            text: text.into_boxed_str(),
            ends,
            present,
        }
    }

    /// Where field `n` starts and ends.
    fn span(&self, n: usize) -> Option<(usize, usize)> {
        if self.present & bit(n) == 0 {
            return None;
        }
        let start = match n.checked_sub(1) {
            Some(p) => *self.ends.get(p)?,
            None => 0,
        };
        let end = *self.ends.get(n)?;
        Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
    }

    /// Field `n` as text (`None` when absent).
    pub fn text(&self, n: usize) -> Option<&str> {
        let (start, end) = self.span(n)?;
        self.text.get(start..end)
    }

    /// The strings of list field `n` (none when absent).
    pub fn list(&self, n: usize) -> List<'_> {
        List {
            rest: self.text(n).unwrap_or(""),
        }
    }

    /// The bytes of text held.
    #[cfg(test)]
    pub(crate) fn text_len(&self) -> usize {
        self.text.len()
    }
}

/// Bit `n` of a presence mask (none past 16 fields).
fn bit(n: usize) -> u16 {
    u32::try_from(n)
        .ok()
        .and_then(|n| 1u16.checked_shl(n))
        .unwrap_or(0)
}

/// The strings of a list field.
#[derive(Clone, Copy)]
pub struct List<'a> {
    rest: &'a str,
}

impl<'a> Iterator for List<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let (len, rest) = self.rest.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let item = rest.get(..len)?;
        self.rest = rest.get(len..).unwrap_or("");
        Some(item)
    }
}

impl List<'_> {
    /// The strings, owned.
    pub fn to_vec(&self) -> Vec<String> {
        (*self).map(str::to_string).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

impl fmt::Debug for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

impl PartialEq<Vec<String>> for List<'_> {
    fn eq(&self, other: &Vec<String>) -> bool {
        (*self).eq(other.iter().map(String::as_str))
    }
}

impl PartialEq<Vec<&str>> for List<'_> {
    fn eq(&self, other: &Vec<&str>) -> bool {
        (*self).eq(other.iter().copied())
    }
}

impl<const N: usize> fmt::Debug for Pack<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for n in 0..N {
            l.entry(&self.text(n));
        }
        l.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_back_as_they_went_in() {
        let authors = vec!["Ann".to_string(), String::new(), "12:3".to_string()];
        let p = Pack::<5>::new([
            Slot::Text("https://example.org/1"),
            Slot::Absent,
            Slot::Text(""),
            Slot::List(&authors),
            Slot::List(&[]),
        ]);
        assert_eq!(p.text(0), Some("https://example.org/1"));
        assert_eq!(p.text(1), None);
        assert_eq!(p.text(2), Some(""));
        assert_eq!(p.list(3).to_vec(), authors);
        assert!(p.list(4).is_empty());
        assert_eq!(p.list(1).count(), 0);
        assert_eq!(p.text(5), None);
        // One allocation, exactly the texts and the list's length prefixes.
        assert_eq!(p.text_len(), 21 + "3:Ann0:4:12:3".len());
    }

    #[test]
    fn absent_and_empty_differ_and_equal_fields_are_equal_packs() {
        let a = Pack::<2>::new([Slot::Text(""), Slot::Absent]);
        let b = Pack::<2>::new([Slot::Absent, Slot::Text("")]);
        assert_ne!(a, b);
        assert_eq!(a, Pack::<2>::new([Slot::Text(""), Slot::Absent]));
        assert_eq!(format!("{a:?}"), r#"[Some(""), None]"#);
    }

    #[test]
    fn a_packed_list_is_copied_as_it_is_kept() {
        let tags = vec!["a".to_string(), "1:b".to_string(), String::new()];
        let from = Pack::<2>::new([Slot::Text("x"), Slot::List(&tags)]);
        let to = Pack::<3>::new([
            Slot::Packed(from.list(1)),
            Slot::Absent,
            Slot::Packed(from.list(5)),
        ]);
        assert_eq!(to.list(0), tags);
        assert_eq!(to.text(1), None);
        assert_eq!(to.text(2), Some(""));
        assert!(to.list(2).is_empty());
        assert_eq!(push_len_of(0), "0:");
        assert_eq!(push_len_of(1234567890), "1234567890:");
    }

    fn push_len_of(n: usize) -> String {
        let mut s = String::new();
        push_len(&mut s, n);
        s
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("aé", 3), "aé");
        assert_eq!(cut("é", 0), "");
    }

    proptest::proptest! {
        #[test]
        fn any_texts_round_trip(
            a in proptest::option::of(".*"),
            list in proptest::collection::vec(".*", 0..5),
            b in proptest::option::of("[0-9:]*"),
        ) {
            let p = Pack::<3>::new([a.as_deref().into(), Slot::List(&list), b.as_deref().into()]);
            proptest::prop_assert_eq!(p.text(0), a.as_deref());
            proptest::prop_assert_eq!(p.list(1).to_vec(), list);
            proptest::prop_assert_eq!(p.text(2), b.as_deref());
        }
    }
}
