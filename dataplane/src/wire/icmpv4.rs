//! ICMP for IPv4 (RFC 792): echo, and the headers of error messages.

use super::{checksum, get_u16, set_u16, Result, WireError};

/// Length of the ICMP header: type, code, checksum and four bytes whose
/// meaning depends on the type (echo identifier and sequence number).
pub const HEADER_LEN: usize = 8;

/// ICMP message types (RFC 792).
pub mod msg_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable; code 4 carries the next-hop MTU (RFC 1191).
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded (TTL reached zero in transit when code is 0).
    pub const TIME_EXCEEDED: u8 = 11;
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
}

/// A view of an ICMP message; the buffer is the whole message (the IPv4
/// payload), since the checksum covers all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without validation; getters may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` after checking it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the buffer as [`Packet::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type, see [`msg_type`].
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Identifier of an echo request or reply.
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Sequence number of an echo request or reply.
    pub fn echo_seq(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQ)
    }

    /// The bytes after the 8-byte header: echo data, or the offending
    /// datagram's header of an error message.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the whole message verifies (RFC 792).
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type; the checksum is not updated.
    pub fn set_msg_type(&mut self, msg_type: u8) {
        self.buffer.as_mut()[field::TYPE] = msg_type;
    }

    /// Sets the code; the checksum is not updated.
    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the echo identifier; the checksum is not updated.
    pub fn set_echo_ident(&mut self, ident: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_IDENT, ident);
    }

    /// Sets the echo sequence number; the checksum is not updated.
    pub fn set_echo_seq(&mut self, seq: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_SEQ, seq);
    }

    /// The bytes after the 8-byte header, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let check = checksum::finish(checksum::sum(self.buffer.as_ref()));
        self.set_checksum(check);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{hex, ICMP_ECHO};
    use proptest::prelude::*;

    fn echo() -> Vec<u8> {
        hex(ICMP_ECHO)[34..].to_vec()
    }

    #[test]
    fn parse_echo_capture() {
        let b = echo();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), msg_type::ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x2e2b);
        assert_eq!(p.echo_ident(), 0x1f2e);
        assert_eq!(p.echo_seq(), 3);
        assert_eq!(p.payload(), b"abcdefghijklmnopqrstuvwabcdefghi");
        assert!(p.verify_checksum());
    }

    #[test]
    fn reply_in_place() {
        let mut b = echo();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        // The type shares its checksum word with the code.
        let c = checksum::update16(p.checksum(), 0x0800, 0x0000);
        p.set_msg_type(msg_type::ECHO_REPLY);
        p.set_checksum(c);
        assert!(p.verify_checksum());
        let expect = p.checksum();
        p.fill_checksum();
        assert_eq!(p.checksum(), expect);
        p.set_echo_seq(4);
        p.set_echo_ident(1);
        p.set_code(1);
        p.payload_mut()[0] = b'z';
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!((p.echo_ident(), p.echo_seq(), p.code()), (1, 4, 1));
    }

    #[test]
    fn truncated_at_every_length() {
        let b = echo();
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&b[..len]).unwrap_err(), WireError::Truncated);
        }
        assert!(Packet::new_checked(&b[..HEADER_LEN]).is_ok());
    }

    proptest! {
        #[test]
        fn checked_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.code(), p.checksum(), p.echo_ident(), p.echo_seq());
                let _ = (p.payload(), p.verify_checksum());
            }
        }

        #[test]
        fn fill_then_verify(mut data in proptest::collection::vec(any::<u8>(), 8..200)) {
            let mut p = Packet::new_checked(&mut data[..]).unwrap();
            p.fill_checksum();
            prop_assert!(p.verify_checksum());
        }
    }
}
