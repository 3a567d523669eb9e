//! ICMP for IPv4 (RFC 792): echo, and the headers of error messages.

use super::{checksum, Result, WireError};

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

view! {
    /// A view of an ICMP message; the buffer is the whole message (the IPv4
    /// payload), since the checksum covers all of it.
    pub struct Packet;
    /// Wraps `buffer` after checking it holds the 8-byte header.
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the buffer as [`Packet::new_checked`] does.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    icmp_fields!(get);

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
    icmp_fields!(set);

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
