#!/usr/bin/env python3
"""802.1Q tagging between two links, in user space, for tests on kernels
without VLAN support: frames from ACCESS leave TRUNK tagged with VID;
frames from TRUNK tagged VID leave ACCESS untagged. Exits after SECONDS.

usage: vlan_tagger.py TRUNK ACCESS VID SECONDS
"""
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 0x10
AUX = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata


def open_link(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((name, 0))
    return s


def receive(s):
    """One frame as it was on the wire (a tag the kernel moved aside is put back)."""
    data, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(AUX.size))
    if addr[2] == PACKET_OUTGOING:
        return None
    for level, kind, payload in anc:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= AUX.size:
            status, _, _, _, _, tci, tpid = AUX.unpack_from(payload)
            if status & TP_STATUS_VLAN_VALID:
                tag = struct.pack("!HH", tpid or 0x8100, tci)
                data = data[:12] + tag + data[12:]
    return data


def main():
    trunk_name, access_name, vid, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    trunk, access = open_link(trunk_name), open_link(access_name)
    deadline = time.monotonic() + seconds
    print("ready", flush=True)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([trunk, access], [], [], 0.2)
        for s in ready:
            frame = receive(s)
            if frame is None or len(frame) < 14:
                continue
            if s is access:
                trunk.send(frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:])
            elif frame[12:14] == b"\x81\x00" and struct.unpack("!H", frame[14:16])[0] & 0x0FFF == vid:
                access.send(frame[:12] + frame[16:])


if __name__ == "__main__":
    main()
