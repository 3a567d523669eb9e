"""Files the sides of scripts/webrtc-interop.sh hand each other (SDP, results)."""

import os
import time


def wait_file(path, timeout):
    """The text of `path` once it exists (at most `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {path} in {timeout} s")
        time.sleep(0.05)
    with open(path) as f:
        return f.read()


def write(path, text):
    """Writes `path` whole (a reader never sees half of it)."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)
