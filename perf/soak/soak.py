#!/usr/bin/env python3
"""The soak test's helpers (perf/soak.sh runs them).

  soak.py sample   --pid P [--gen-pid G] --metrics URL --csv FILE --seconds S [--every 10]
      every 10 s, one CSV row: the relay's resident memory, the packet
      pool's buffers in use, sessions, drops (all, and the malformed,
      policed, neighbor_unresolved and tx_full ones), packets in and out,
      and the frames the kernel dropped on the relay's and the generator's
      packet sockets (full receive rings: a process that did not poll)
  soak.py barrage  --iface IF --dst-mac MAC --src IP --dst IP --pps N --seconds S
      malformed frames (runts, broken IPv4/IPv6/UDP/ARP/ICMP headers,
      fragments, UDP to closed ports) sent on a kernel interface, round-robin
  soak.py verdict  --csv FILE --png FILE --warmup S --rtpgen JSON --churn JSON
      draws the plot and says whether memory or buffers grew after warm-up or
      a call packet was lost; exit status 1 if so

Only addresses of 198.18.0.0/15 and interfaces of namespaces the caller made.
"""

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request

COLUMNS = [
    "t_s",
    "rss_kib",
    "mbufs_in_use",
    "sessions",
    "drops",
    "drops_malformed",
    "drops_policed",
    "drops_unknown_flow",
    "rx_packets",
    "tx_packets",
    "slow_path_drops",
    "drops_neighbor_unresolved",
    "drops_tx_full",
    "relay_socket_drops",
    "gen_socket_drops",
]

MALFORMED = {"runt", "bad_ipv4", "bad_ipv6", "bad_udp", "bad_rtp", "fragment", "not_udp", "unsupported_ethertype"}


def metrics(url):
    """Prometheus text to {(name, frozenset(labels)): value}."""
    out = {}
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if not line or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            name, _, labels = head.partition("{")
            pairs = []
            for item in labels.rstrip("}").split(",") if labels else []:
                k, _, v = item.partition("=")
                pairs.append((k, v.strip('"')))
            out[(name, frozenset(pairs))] = float(value)
    return out


def total(m, name, **want):
    return sum(v for (n, labels), v in m.items() if n == name and all((k, w) in labels for k, w in want.items()))


def by_label(m, name, label):
    res = {}
    for (n, labels), v in m.items():
        if n == name:
            for k, val in labels:
                if k == label:
                    res[val] = res.get(val, 0) + v
    return res


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def socket_drops(pid):
    """Frames the kernel dropped on the packet sockets of process `pid`
    (skmem d: a full receive ring), or -1 when unknown."""
    if not pid:
        return -1
    try:
        out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ss", "-0", "-n", "-m", "-p"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return -1
    drops = 0
    for line in out.splitlines():
        if f"pid={pid}," in line and "skmem:(" in line:
            mem = line.split("skmem:(", 1)[1].split(")", 1)[0]
            drops += sum(int(f[1:]) for f in mem.split(",") if f.startswith("d"))
    return drops


def sample(a):
    start = time.monotonic()
    with open(a.csv, "w") as out:
        out.write(",".join(COLUMNS) + "\n")
        out.flush()
        n = 0
        while time.monotonic() - start <= a.seconds:
            try:
                m = metrics(a.metrics)
                drops = by_label(m, "mediafwd_dropped_packets_total", "reason")
                row = [
                    round(time.monotonic() - start),
                    rss_kib(a.pid),
                    int(total(m, "mediafwd_mbufs_in_use")),
                    int(total(m, "mediafwd_sessions")),
                    int(sum(drops.values())),
                    int(sum(v for r, v in drops.items() if r in MALFORMED)),
                    int(sum(v for r, v in drops.items() if r.startswith("policed"))),
                    int(drops.get("unknown_flow", 0)),
                    int(total(m, "mediafwd_worker_rx_packets_total")),
                    int(total(m, "mediafwd_worker_tx_packets_total")),
                    int(total(m, "mediafwd_slowpath_dropped_packets_total")),
                    int(drops.get("neighbor_unresolved", 0)),
                    int(drops.get("tx_full", 0)),
                    socket_drops(a.pid),
                    socket_drops(a.gen_pid),
                ]
                out.write(",".join(str(x) for x in row) + "\n")
                out.flush()
            except (OSError, ValueError) as e:
                print(f"soak: sample failed: {e}", file=sys.stderr)
                if not os.path.exists(f"/proc/{a.pid}"):
                    return 1
            n += 1
            time.sleep(max(0.0, start + n * a.every - time.monotonic()))
    return 0


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ihl=5, version=4, flags_frag=0, length=None, bad_sum=False):
    total_len = 20 + len(payload) if length is None else length
    h = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total_len, 0x4242, flags_frag, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    c = csum(h) ^ (0x5555 if bad_sum else 0)
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def udp(sport, dport, payload, length=None):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload) if length is None else length, 0) + payload


def frames(dst_mac, src_mac, src, dst):
    """One of every kind of broken frame, as the relay might receive them."""
    eth = lambda et: dst_mac + src_mac + struct.pack("!H", et)  # noqa: E731
    rtp_v0 = bytes([0x00, 0x00]) + bytes(170)
    rtp = bytes([0x80, 0x00, 0, 1]) + bytes(168)
    ipv6_hdr = lambda plen, nh: (struct.pack("!IHBB", 6 << 28, plen, nh, 64)  # noqa: E731
                                 + socket.inet_pton(socket.AF_INET6, "2001:db8::99")
                                 + socket.inet_pton(socket.AF_INET6, "2001:db8::1"))
    return [
        dst_mac + src_mac[:4],  # runt
        eth(0x0800) + ipv4(src, dst, 17, udp(4000, 30000, rtp))[:30],  # truncated IPv4 header
        eth(0x0800) + ipv4(src, dst, 17, udp(4000, 30000, rtp), bad_sum=True),
        eth(0x0800) + ipv4(src, dst, 17, udp(4000, 30000, rtp), ihl=4),
        eth(0x0800) + ipv4(src, dst, 17, udp(4000, 30000, rtp), version=5),
        eth(0x0800) + ipv4(src, dst, 17, udp(4000, 30000, rtp), length=1400),
        eth(0x0800) + ipv4(src, dst, 17, udp(4000, 30000, rtp), flags_frag=0x2000),
        eth(0x0800) + ipv4(src, dst, 17, udp(4000, 30000, rtp, length=4)),
        eth(0x0800) + ipv4(src, dst, 17, udp(4000, 30000, rtp, length=900)),
        eth(0x0800) + ipv4(src, dst, 17, udp(4000, 9, rtp)),  # closed port
        eth(0x0800) + ipv4(src, dst, 17, udp(4000, 9, rtp_v0)),
        eth(0x0800) + ipv4(src, dst, 6, bytes(40)),  # TCP
        eth(0x0800) + ipv4(src, dst, 1, bytes([8, 0])),  # truncated ICMP
        eth(0x0800) + ipv4(src, dst, 1, bytes([8, 0, 0, 0]) + bytes(60)),  # echo, bad checksum
        eth(0x0806) + bytes([0, 1, 8, 0, 7, 3]) + bytes(22),  # ARP, odd address lengths
        eth(0x0806) + bytes(10),  # truncated ARP
        eth(0x86DD) + ipv6_hdr(400, 17)[:30],  # truncated IPv6
        eth(0x86DD) + ipv6_hdr(400, 58) + bytes([135, 0, 0, 0]) + bytes(20),  # NS, length mismatch
        eth(0x86DD) + ipv6_hdr(8, 44) + bytes(8),  # fragment header
        eth(0x8100) + struct.pack("!HH", 100, 0x8100) + struct.pack("!HH", 200, 0x0800) + bytes(46),  # QinQ
        eth(0x88B5) + os.urandom(46),  # local experimental EtherType
        eth(0x0800) + os.urandom(60),  # random bytes as IPv4
    ]


def barrage(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    dst_mac = bytes.fromhex(a.dst_mac.replace(":", ""))
    with open(f"/sys/class/net/{a.iface}/address") as f:
        src_mac = bytes.fromhex(f.read().strip().replace(":", ""))
    start = time.monotonic()
    sent = 0
    batch = frames(dst_mac, src_mac, a.src, a.dst)
    while time.monotonic() - start < a.seconds:
        f = batch[sent % len(batch)]
        if sent % len(batch) == len(batch) - 1:
            batch = frames(dst_mac, src_mac, a.src, a.dst)
        try:
            s.send(f.ljust(14, b"\0") if len(f) < 14 and sent % 2 else f)
        except OSError:
            pass
        sent += 1
        delay = start + sent / a.pps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(json.dumps({"barrage_frames": sent, "seconds": round(time.monotonic() - start, 1)}))
    return 0


def read_csv(path):
    with open(path) as f:
        head = f.readline().strip().split(",")
        rows = [dict(zip(head, map(float, line.strip().split(",")))) for line in f if line.strip()]
    return rows


def growth(rows, key, warmup):
    """Mean of the last quarter after warm-up minus mean of its first quarter."""
    after = [r[key] for r in rows if r["t_s"] >= warmup]
    if len(after) < 8:
        return None
    q = len(after) // 4
    return sum(after[-q:]) / q - sum(after[:q]) / q


def verdict(a):
    rows = read_csv(a.csv)
    problems = []
    if not rows:
        problems.append("no samples")
    rss = growth(rows, "rss_kib", a.warmup) if rows else None
    mbufs = growth(rows, "mbufs_in_use", a.warmup) if rows else None
    if rss is None or mbufs is None:
        problems.append(f"too few samples after the {a.warmup} s warm-up to judge growth")
    else:
        if rss > a.max_rss_growth_kib:
            problems.append(f"resident memory grew {rss:.0f} KiB after warm-up (limit {a.max_rss_growth_kib})")
        if mbufs > a.max_mbuf_growth:
            problems.append(f"mbufs in use grew {mbufs:.0f} after warm-up (limit {a.max_mbuf_growth})")
    calls = {}
    if a.rtpgen and os.path.exists(a.rtpgen) and os.path.getsize(a.rtpgen) > 0:
        report = json.load(open(a.rtpgen))
        s = report.get("result") or {}
        s = s.get("summary", s)
        calls = {k: s.get(k) for k in ("sent", "received", "lost", "duplicates", "reordered", "auth_failures")}
        calls["latency_max_us"] = (s.get("latency_us") or {}).get("max")
        if s.get("lost", 1) != 0 or s.get("sent", 0) == 0:
            problems.append(f"call packets lost: {s.get('lost')} of {s.get('sent')}")
    else:
        problems.append("no rtpgen report")
    if a.relay_exit and a.relay_exit != "running":
        problems.append(f"the relay {a.relay_exit}")
    churn = json.load(open(a.churn)) if a.churn and os.path.exists(a.churn) and os.path.getsize(a.churn) else {}
    summary = {
        "samples": len(rows),
        "seconds": rows[-1]["t_s"] if rows else 0,
        "rss_kib_first": rows[0]["rss_kib"] if rows else None,
        "rss_kib_last": rows[-1]["rss_kib"] if rows else None,
        "rss_growth_after_warmup_kib": rss,
        "mbufs_in_use_min_max": [min(r["mbufs_in_use"] for r in rows), max(r["mbufs_in_use"] for r in rows)]
        if rows else None,
        "mbufs_growth_after_warmup": mbufs,
        "drops": rows[-1]["drops"] if rows else None,
        "drops_malformed": rows[-1]["drops_malformed"] if rows else None,
        "drops_neighbor_unresolved": rows[-1].get("drops_neighbor_unresolved") if rows else None,
        "drops_tx_full": rows[-1].get("drops_tx_full") if rows else None,
        "relay_socket_drops": rows[-1].get("relay_socket_drops") if rows else None,
        "gen_socket_drops": rows[-1].get("gen_socket_drops") if rows else None,
        "relay": a.relay_exit,
        "calls": calls,
        "churn": {k: churn.get(k) for k in ("setups", "errors", "ng_setups", "ng_errors")},
        "problems": problems,
    }
    print(json.dumps(summary))
    if a.png and rows:
        plot(rows, a.png, a.warmup)
    return 1 if problems else 0


def plot(rows, png, warmup):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["t_s"] / 60 for r in rows]
    fig, ax = plt.subplots(4, 1, figsize=(9, 10), sharex=True)
    ax[0].plot(t, [r["rss_kib"] / 1024 for r in rows])
    ax[0].set_ylabel("resident MiB")
    ax[1].plot(t, [r["mbufs_in_use"] for r in rows])
    ax[1].set_ylabel("mbufs in use")
    ax[2].plot(t, [r["sessions"] for r in rows])
    ax[2].set_ylabel("sessions")
    rate = lambda k: [0] + [  # noqa: E731
        max(0, (b[k] - a[k]) / max(1, b["t_s"] - a["t_s"])) for a, b in zip(rows, rows[1:])
    ]
    for k, label in [("drops", "all drops"), ("drops_malformed", "malformed"), ("rx_packets", "received"),
                     ("relay_socket_drops", "relay RX ring full"), ("gen_socket_drops", "generator RX ring full")]:
        if k in rows[0] and rows[-1][k] >= 0:
            ax[3].plot(t, rate(k), label=label)
    ax[3].set_ylabel("per second")
    ax[3].set_yscale("symlog")
    ax[3].legend(loc="upper left", fontsize=8)
    ax[3].set_xlabel("minutes")
    for x in ax:
        x.axvline(warmup / 60, color="grey", linestyle=":", linewidth=1)
        x.grid(alpha=0.3)
    fig.suptitle("mediafwd soak: calls, session churn and a malformed-frame barrage")
    fig.tight_layout()
    fig.savefig(png, dpi=90)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--gen-pid", type=int, default=0)
    s.add_argument("--metrics", required=True)
    s.add_argument("--csv", required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--every", type=float, default=10.0)
    b = sub.add_parser("barrage")
    b.add_argument("--iface", required=True)
    b.add_argument("--dst-mac", required=True)
    b.add_argument("--src", required=True)
    b.add_argument("--dst", required=True)
    b.add_argument("--pps", type=float, default=500)
    b.add_argument("--seconds", type=float, required=True)
    v = sub.add_parser("verdict")
    v.add_argument("--csv", required=True)
    v.add_argument("--png")
    v.add_argument("--warmup", type=float, default=120)
    v.add_argument("--rtpgen")
    v.add_argument("--churn")
    v.add_argument("--relay-exit", help='"running", or how the relay ended')
    v.add_argument("--max-rss-growth-kib", type=float, default=4096)
    v.add_argument("--max-mbuf-growth", type=float, default=256)
    a = p.parse_args()
    for d in ("src", "dst"):
        if hasattr(a, d) and not getattr(a, d).startswith(("198.18.", "198.19.")):
            p.error(f"--{d} must be in 198.18.0.0/15")
    return {"sample": sample, "barrage": barrage, "verdict": verdict}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
