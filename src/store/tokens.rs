//! Session tokens: unpredictable 64-bit numbers from the operating system's
//! CSPRNG.
//!
//! A token is the only thing protecting a session, so it must not be
//! guessable from other tokens or from the time: every token is 8 bytes
//! straight from `getrandom` (`getrandom(2)` on Linux), never a counter or a
//! seeded PRNG. To keep `SH_NEW` cheap the bytes are fetched a few KiB at a
//! time, and each byte is handed out once and then wiped from the buffer.
//!
//! Owns: the buffer. Knows nothing of sessions; the caller rejects 0 and
//! tokens already in use.

/// Random bytes fetched per system call: 512 tokens.
const BUFFER_BYTES: usize = 4 * 1024;

/// Hands out random `u64`s, refilling its buffer from the OS when it runs dry.
pub(crate) struct TokenSource {
    buf: Box<[u8; BUFFER_BYTES]>,
    /// Bytes before `pos` have been handed out (and zeroed).
    pos: usize,
}

impl TokenSource {
    /// An empty source; the first token triggers the first fetch.
    pub(crate) fn new() -> TokenSource {
        TokenSource { buf: Box::new([0; BUFFER_BYTES]), pos: BUFFER_BYTES }
    }

    /// The next random `u64` (possibly 0: the caller decides what is usable).
    ///
    /// # Errors
    /// The OS random source failed, which on Linux means it is not yet
    /// seeded or the call was refused; nothing was handed out.
    pub(crate) fn next(&mut self) -> Result<u64, getrandom::Error> {
        if self.pos + 8 > BUFFER_BYTES {
            getrandom::fill(&mut self.buf[..])?;
            self.pos = 0;
        }
        let bytes = &mut self.buf[self.pos..self.pos + 8];
        let mut token = [0; 8];
        token.copy_from_slice(bytes);
        bytes.fill(0);
        self.pos += 8;
        Ok(u64::from_le_bytes(token))
    }
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print bytes that are still to be handed out as tokens.
        f.debug_struct("TokenSource").field("left", &((BUFFER_BYTES - self.pos) / 8)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tokens_are_distinct_across_refills() {
        let mut source = TokenSource::new();
        let tokens: HashSet<u64> = (0..3 * BUFFER_BYTES / 8).map(|_| source.next().unwrap()).collect();
        // 1,536 draws from 2^64 values: a repeat would mean a broken source.
        assert_eq!(tokens.len(), 3 * BUFFER_BYTES / 8);
    }

    #[test]
    fn tokens_use_the_high_bits_too() {
        let mut source = TokenSource::new();
        let high = (0..256).filter(|_| source.next().unwrap() >= 1 << 63).count();
        // About half; the chance of falling outside 64..=192 is below 1e-14.
        assert!((64..=192).contains(&high), "{high} of 256 tokens were >= 2^63");
    }

    #[test]
    fn handed_out_bytes_are_wiped_and_debug_shows_none() {
        let mut source = TokenSource::new();
        source.next().unwrap();
        assert_eq!(&source.buf[..8], &[0; 8]);
        assert_eq!(format!("{source:?}"), format!("TokenSource {{ left: {} }}", BUFFER_BYTES / 8 - 1));
    }
}
