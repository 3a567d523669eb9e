//! WebRTC legs: ICE-lite (RFC 8445 §2.5) and DTLS-SRTP (RFC 5763, RFC 5764)
//! on a leg's relay port, run on the control side.
//!
//! The slow path answers the leg's ICE checks from the credentials set here
//! and hands over its nominations, losses of consent and DTLS records;
//! [`WebrtcLegs`] turns them into what the session needs: the leg latched
//! to the nominated pair, held when consent is lost, and programmed with
//! the SRTP keys its handshake exported ([`Action`]). The workers never see
//! DTLS; they see SRTP contexts, as for SDES keys.

mod legs;

pub use legs::{Action, WebrtcCounters, WebrtcEvent, WebrtcLegs, WebrtcSetup, WebrtcSnapshot, WebrtcView};
