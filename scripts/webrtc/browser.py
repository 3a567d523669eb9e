"""The browser side of `scripts/webrtc-interop.sh --browser`: serves a small
page on 127.0.0.1 (inside the WebRTC namespace) that headless Chromium
loads. The page takes the fake microphone (a beep), offers, POSTs its offer
here (written as DIR/offer.sdp for the SIP side's ng requests), gets the
answer (DIR/answer.sdp), streams for a few seconds and POSTs its statistics,
written as DIR/peer.json in the shape of peer.py's.
"""

import argparse
import http.server
import json
import os
import time

from files import wait_file, write

PAGE = """<!doctype html>
<meta charset="utf-8"><title>mediafwd WebRTC</title>
<script>
const SECONDS = %(seconds)s;
async function post(path, body) {
  const r = await fetch(path, {method: "POST", body});
  return r.text();
}
async function main() {
  const result = {ice: "fail", dtls: "fail", suite: "", sent: 0, received: 0, tone_ok: false};
  try {
    const pc = new RTCPeerConnection({iceServers: []});
    const stream = await navigator.mediaDevices.getUserMedia({audio: true});
    for (const t of stream.getTracks()) pc.addTrack(t, stream);
    pc.ontrack = (e) => { const a = new Audio(); a.srcObject = e.streams[0] || new MediaStream([e.track]); a.play(); };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((ok) => {
      if (pc.iceGatheringState === "complete") return ok();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && ok();
      setTimeout(ok, 3000);
    });
    const answer = await post("/offer", pc.localDescription.sdp);
    await pc.setRemoteDescription({type: "answer", sdp: answer});
    const t0 = Date.now();
    while (pc.connectionState !== "connected" && Date.now() - t0 < 30000) {
      if (pc.connectionState === "failed") break;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    if (pc.connectionState === "connected") {
      await new Promise((ok) => setTimeout(ok, SECONDS * 1000));
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === "outbound-rtp" && s.kind === "audio") result.sent = s.packetsSent;
        if (s.type === "inbound-rtp" && s.kind === "audio") result.received = s.packetsReceived;
        if (s.type === "transport") {
          // A selected pair: ICE checks succeeded (mediafwd, lite, nominates nothing itself).
          result.ice = s.selectedCandidatePairId ? "ok" : "fail";
          result.dtls = s.dtlsState === "connected" ? "ok" : "fail";
          result.suite = s.srtpCipher || "";
        }
      });
    }
    pc.close();
  } catch (e) {
    result.error = String(e);
  }
  await post("/result", JSON.stringify(result));
}
main();
</script>
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=8088)
    p.add_argument("--seconds", type=float, default=3.0)
    a = p.parse_args()
    page = (PAGE % {"seconds": a.seconds}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, body, kind="text/plain"):
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.reply(page, "text/html")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            if self.path == "/offer":
                write(os.path.join(a.dir, "offer.sdp"), body)
                self.reply(wait_file(os.path.join(a.dir, "answer.sdp"), 30).encode())
            else:
                write(os.path.join(a.dir, "peer.json"), body)
                self.reply(b"ok")
                server.done = True

    server = http.server.HTTPServer(("127.0.0.1", a.port), Handler)
    server.done = False
    server.timeout = 0.5
    deadline = time.monotonic() + 230
    while not server.done and time.monotonic() < deadline:
        server.handle_request()


if __name__ == "__main__":
    main()
