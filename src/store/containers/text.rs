//! [`Text`]: the string of one `STRARR`/`SSTRARR` slot, in 24 bytes.
//!
//! Owns: one string's bytes. A string of up to [`INLINE_BYTES`] bytes (a
//! 16-byte string among them) lives inside the slot itself, so a string
//! array of short strings is one contiguous allocation of 24-byte slots;
//! a longer one is a `Box<str>` of its own. The empty string, every new
//! slot's value, is inline and costs nothing more.
//!
//! Order and equality are those of the UTF-8 bytes, which is NemesisDB's
//! order for sorted string arrays (`"Apple" < "apple" < "é"`).

use std::cmp::Ordering;

/// The longest string kept inside the slot: 22 bytes, what fits beside a
/// length byte and the variant tag in the 24 bytes a `Box<str>` and its tag
/// take anyway.
pub const INLINE_BYTES: usize = 22;

/// A string, inline when short.
#[derive(Clone)]
pub enum Text {
    /// Up to [`INLINE_BYTES`] bytes of UTF-8, `len` of them used.
    Inline {
        /// How many of `bytes` are the string.
        len: u8,
        /// The string, then zeros.
        bytes: [u8; INLINE_BYTES],
    },
    /// A longer string.
    Heap(Box<str>),
}

impl Default for Text {
    fn default() -> Text {
        Text::Inline { len: 0, bytes: [0; INLINE_BYTES] }
    }
}

impl Text {
    /// `s`, inline if it fits.
    pub fn new(s: &str) -> Text {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE_BYTES => {
                let mut bytes = [0; INLINE_BYTES];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                Text::Inline { len, bytes }
            }
            _ => Text::Heap(s.into()),
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        match self {
            // Always valid: only `new` fills `bytes`, from a `&str`.
            Text::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            Text::Heap(s) => s,
        }
    }

    /// The string's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Text::Heap(s) => s.as_bytes(),
        }
    }

    /// The length of its heap allocation in bytes: 0 when inline.
    pub fn heap_len(&self) -> usize {
        match self {
            Text::Inline { .. } => 0,
            Text::Heap(s) => s.len(),
        }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Text>(), 24);
    }

    #[test]
    fn short_strings_are_inline_and_long_ones_on_the_heap() {
        for s in ["", "a", "0123456789abcdef", "żółw ☃ 𝄞", "0123456789012345678901"] {
            let text = Text::new(s);
            assert!(matches!(text, Text::Inline { .. }), "{s:?}");
            assert_eq!(text.as_str(), s);
            assert_eq!(text.heap_len(), 0);
        }
        let long = "01234567890123456789012";
        let text = Text::new(long);
        assert!(matches!(text, Text::Heap(_)));
        assert_eq!((text.as_str(), text.heap_len()), (long, 23));
    }

    #[test]
    fn order_is_byte_order_whatever_the_storage() {
        let mut texts: Vec<Text> =
            ["é", "apple", "Apple", "", "a very long string beyond inline", "a"].into_iter().map(Text::new).collect();
        texts.sort();
        let sorted: Vec<&str> = texts.iter().map(Text::as_str).collect();
        assert_eq!(sorted, ["", "Apple", "a", "a very long string beyond inline", "apple", "é"]);
        assert_eq!(Text::new("x"), Text::Heap("x".into()));
    }
}
