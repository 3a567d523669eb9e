//! Every packet view on arbitrary bytes: once `new_checked` accepted a
//! buffer, every getter answers without panicking, and a `Repr` that parses
//! emits a header that parses back to the same `Repr`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mediafwd_dataplane::wire::icmpv6::NdRepr;
use mediafwd_dataplane::wire::{arp, ethernet, icmpv4, icmpv6, ipv4, ipv6, rtcp, rtp, udp};
use std::hint::black_box;

fuzz_target!(|data: &[u8]| {
    ethernet_frame(data);
    if let Ok(f) = ethernet::Frame::new_checked(data) {
        // What follows the Ethernet header, as the classifier reads it.
        network(f.payload());
    }
    network(data);
    transport(data);
});

fn ethernet_frame(data: &[u8]) {
    let Ok(f) = ethernet::Frame::new_checked(data) else { return };
    black_box((f.dst_addr(), f.src_addr(), f.vlan_id(), f.vlan_pcp(), f.ethertype(), f.header_len(), f.payload()));
    assert!(f.header_len() <= data.len());
    if let Ok(r) = ethernet::Repr::parse(&f) {
        let mut b = vec![0u8; r.header_len()];
        assert_eq!(r.emit(&mut b), r.header_len());
        let back = ethernet::Repr::parse(&ethernet::Frame::new_checked(&b[..]).expect("an emitted header checks"));
        assert_eq!(back, Ok(r));
    }
}

fn network(data: &[u8]) {
    if let Ok(p) = ipv4::Packet::new_checked(data) {
        black_box((p.version(), p.header_len(), p.dscp(), p.ecn(), p.total_len(), p.ident()));
        black_box((p.dont_frag(), p.more_frags(), p.frag_offset(), p.is_fragment(), p.ttl(), p.protocol()));
        black_box((p.checksum(), p.src_addr(), p.dst_addr(), p.verify_checksum(), p.payload()));
        if let Ok(r) = ipv4::Repr::parse(&p) {
            let mut b = vec![0u8; r.header_len() + r.payload_len];
            r.emit(&mut b);
            let back = ipv4::Repr::parse(&ipv4::Packet::new_checked(&b[..]).expect("an emitted header checks"));
            assert_eq!(back, Ok(r));
        }
        transport(p.payload());
    }
    if let Ok(p) = ipv6::Packet::new_checked(data) {
        black_box((p.version(), p.traffic_class(), p.flow_label(), p.payload_len(), p.next_header()));
        black_box((p.hop_limit(), p.src_addr(), p.dst_addr(), p.payload()));
        if let Ok(r) = ipv6::Repr::parse(&p) {
            let mut b = vec![0u8; r.header_len() + r.payload_len];
            r.emit(&mut b);
            let back = ipv6::Repr::parse(&ipv6::Packet::new_checked(&b[..]).expect("an emitted header checks"));
            assert_eq!(back, Ok(r));
        }
        icmp6(p.payload(), &p.src_addr(), &p.dst_addr());
        transport(p.payload());
    }
    if let Ok(p) = arp::Packet::new_checked(data) {
        black_box((
            p.operation(),
            p.sender_hardware_addr(),
            p.sender_protocol_addr(),
            p.target_hardware_addr(),
            p.target_protocol_addr(),
        ));
        if let Ok(r) = arp::Repr::parse(&p) {
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut b);
            let back = arp::Repr::parse(&arp::Packet::new_checked(&b[..]).expect("an emitted packet checks"));
            assert_eq!(back, Ok(r));
        }
    }
}

fn transport(data: &[u8]) {
    if let Ok(d) = udp::Datagram::new_checked(data) {
        black_box((d.src_port(), d.dst_port(), d.len(), d.is_empty(), d.checksum(), d.payload()));
        let a4 = core::net::Ipv4Addr::new(198, 18, 0, 1);
        let a6 = core::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        black_box((d.verify_checksum_v4(a4, a4), d.verify_checksum_v6(&a6, &a6)));
        if let Ok(r) = udp::Repr::parse(&d) {
            let mut b = vec![0u8; r.header_len() + r.payload_len];
            r.emit(&mut b);
            let back = udp::Repr::parse(&udp::Datagram::new_checked(&b[..]).expect("an emitted header checks"));
            assert_eq!(back, Ok(r));
        }
        media(d.payload());
    }
    if let Ok(p) = icmpv4::Packet::new_checked(data) {
        black_box((p.msg_type(), p.code(), p.checksum(), p.echo_ident(), p.echo_seq(), p.payload()));
        black_box(p.verify_checksum());
    }
    let a6 = core::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    icmp6(data, &a6, &a6);
    media(data);
}

fn icmp6(data: &[u8], src: &core::net::Ipv6Addr, dst: &core::net::Ipv6Addr) {
    let Ok(p) = icmpv6::Packet::new_checked(data) else { return };
    black_box((p.msg_type(), p.code(), p.checksum(), p.payload(), p.verify_checksum(src, dst)));
    // The getters of one message type, on messages of that type.
    match p.msg_type() {
        icmpv6::msg_type::ECHO_REQUEST | icmpv6::msg_type::ECHO_REPLY => {
            black_box((p.echo_ident(), p.echo_seq()));
        }
        icmpv6::msg_type::NEIGHBOR_SOLICIT | icmpv6::msg_type::NEIGHBOR_ADVERT => {
            black_box((p.nd_target(), p.router_flag(), p.solicited_flag(), p.override_flag()));
        }
        _ => {}
    }
    black_box((p.source_link_addr(), p.target_link_addr()));
    for o in p.options() {
        black_box((o.kind, o.data));
    }
    if let Ok(r) = NdRepr::parse(&p) {
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b);
        let back = NdRepr::parse(&icmpv6::Packet::new_checked(&b[..]).expect("an emitted message checks"));
        assert_eq!(back, Ok(r));
    }
}

fn media(data: &[u8]) {
    if let Ok(p) = rtp::Packet::new_checked(data) {
        black_box((p.version(), p.padding(), p.extension(), p.csrc_count(), p.marker(), p.payload_type()));
        black_box((p.sequence_number(), p.timestamp(), p.ssrc(), p.extension_profile(), p.extension_data()));
        for i in 0..=usize::from(p.csrc_count()) {
            black_box(p.csrc(i));
        }
        black_box((p.header_len(), p.padding_len(), p.payload()));
        assert!(p.header_len() + p.padding_len() <= data.len());
        if let Ok(r) = rtp::Repr::parse(&p) {
            let mut b = vec![0u8; r.header_len()];
            r.emit(&mut b);
            let back = rtp::Repr::parse(&rtp::Packet::new_checked(&b[..]).expect("an emitted header checks"));
            assert_eq!(back, Ok(r));
        }
    }
    black_box(rtcp::is_rtcp(data));
    // A compound packet, one packet at a time.
    let mut rest = data;
    while let Ok(p) = rtcp::Packet::new_checked(rest) {
        black_box((p.version(), p.padding(), p.count(), p.packet_type(), p.length_words(), p.packet_len()));
        black_box((p.sender_ssrc(), p.sender_info(), p.media_ssrc(), p.body()));
        assert_eq!(p.remainder().len(), rest.len() - p.packet_len());
        let next = &rest[p.packet_len()..];
        assert!(next.len() < rest.len());
        rest = next;
    }
}
