"""The WebRTC side of scripts/webrtc-interop.sh: aiortc (ICE, DTLS-SRTP,
PCMU) sending a tone and receiving the other side's.

Offers (writes DIR/offer.sdp, then waits for DIR/answer.sdp) or, with
--answer, answers DIR/offer.sdp; streams for --seconds once connected and
writes DIR/peer.json: ice, dtls, the SRTP profile, packets sent and
received, and whether what arrived is the other side's tone.
"""

import argparse
import asyncio
import fractions
import json
import math
import os
import struct
import time

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from av import AudioFrame
from files import write

RATE = 8000
PTIME = 160


class Tone(MediaStreamTrack):
    """A sine of `freq` Hz, 20 ms frames of 16-bit mono at 8 kHz, in real time."""

    kind = "audio"

    def __init__(self, freq):
        super().__init__()
        self.freq = freq
        self.samples = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.samples / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        n = self.samples
        pcm = [int(8000 * math.sin(2 * math.pi * self.freq * (n + i) / RATE)) for i in range(PTIME)]
        frame = AudioFrame(format="s16", layout="mono", samples=PTIME)
        frame.planes[0].update(struct.pack(f"<{PTIME}h", *pcm))
        frame.sample_rate = RATE
        frame.pts = n
        frame.time_base = fractions.Fraction(1, RATE)
        self.samples += PTIME
        return frame


def frequency(pcm):
    """The frequency of a tone from its zero crossings, in Hz."""
    crossings = sum(1 for a, b in zip(pcm, pcm[1:]) if (a < 0) != (b < 0))
    return crossings * RATE / (2 * len(pcm))


async def wait_file(path, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {path} in {timeout} s")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)
    with open(path) as f:
        return f.read()


async def run(args):
    # No STUN or TURN server: host candidates only, nothing leaves the test's namespaces.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    result = {"ice": "fail", "dtls": "fail", "suite": "", "sent": 0, "received": 0, "tone_ok": False}
    got = {"frames": 0, "pcm": []}
    connected = asyncio.Event()
    failed = asyncio.Event()

    @pc.on("track")
    def on_track(track):
        async def read():
            while True:
                try:
                    frame = await track.recv()
                except Exception:
                    return
                got["frames"] += 1
                if len(got["pcm"]) < RATE * 4:
                    got["pcm"].extend(struct.unpack(f"<{frame.samples}h", bytes(frame.planes[0])[: 2 * frame.samples]))

        asyncio.ensure_future(read())

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState == "connected":
            connected.set()
        elif pc.connectionState == "failed":
            failed.set()

    @pc.on("iceconnectionstatechange")
    def on_ice():
        if pc.iceConnectionState in ("connected", "completed"):
            result["ice"] = "ok"

    def pcmu_only(transceiver):
        caps = RTCRtpSender.getCapabilities("audio").codecs
        transceiver.setCodecPreferences([c for c in caps if c.mimeType.lower() == "audio/pcmu"])

    tone = Tone(args.freq)
    if args.answer:
        offer = await wait_file(os.path.join(args.dir, "offer.sdp"), 20)
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        t = pc.getTransceivers()[0]
        t.sender.replaceTrack(tone)
        t.direction = "sendrecv"
        pcmu_only(t)
        await pc.setLocalDescription(await pc.createAnswer())
        write(os.path.join(args.dir, "answer.sdp"), pc.localDescription.sdp)
    else:
        t = pc.addTransceiver(tone, direction="sendrecv")
        pcmu_only(t)
        await pc.setLocalDescription(await pc.createOffer())
        write(os.path.join(args.dir, "offer.sdp"), pc.localDescription.sdp)
        answer = await wait_file(os.path.join(args.dir, "answer.sdp"), 20)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    done, _ = await asyncio.wait(
        [asyncio.ensure_future(connected.wait()), asyncio.ensure_future(failed.wait())],
        timeout=args.connect_timeout,
        return_when=asyncio.FIRST_COMPLETED,
    )
    if connected.is_set():
        result["ice"] = "ok"
        result["dtls"] = "ok"
        dtls = pc.getTransceivers()[0].sender.transport
        profile = dtls._ssl.get_selected_srtp_profile() if getattr(dtls, "_ssl", None) else b""
        result["suite"] = profile.decode() if profile else ""
        await asyncio.sleep(args.seconds)
        stats = await pc.getStats()
        for s in stats.values():
            if s.type == "outbound-rtp":
                result["sent"] = s.packetsSent
            elif s.type == "inbound-rtp":
                result["received"] = s.packetsReceived
        f = frequency(got["pcm"][RATE // 2 :]) if len(got["pcm"]) > RATE else 0.0
        result["tone_hz"] = round(f, 1)
        result["tone_ok"] = abs(f - args.expect) < 0.05 * args.expect
    await pc.close()
    write(os.path.join(args.dir, "peer.json"), json.dumps(result))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--answer", action="store_true", help="answer DIR/offer.sdp instead of offering")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--connect-timeout", type=float, default=15.0)
    p.add_argument("--freq", type=float, default=440.0, help="the tone sent")
    p.add_argument("--expect", type=float, default=1000.0, help="the tone expected back")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
