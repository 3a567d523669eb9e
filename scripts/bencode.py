"""Bencode as the ng protocol carries it (Kamailio's and OpenSIPS's rtpengine
modules speak it to mediafwd): integers, byte strings, lists and
dictionaries. Shared by the ng clients of scripts/webrtc/ and the fuzz seed
writer."""


def encode(v, sort_keys=False):
    """Bencodes `v` (int, str, bytes, list, dict). Dictionaries keep the order
    given, as Kamailio sends them, unless `sort_keys` (the order the format
    specifies)."""
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(encode(x, sort_keys) for x in v) + b"e"
    if isinstance(v, dict):
        keys = sorted(v) if sort_keys else list(v)
        return b"d" + b"".join(encode(k, sort_keys) + encode(v[k], sort_keys) for k in keys) + b"e"
    raise TypeError(type(v))


def decode(b, i=0):
    """Decodes the value starting at `b[i]`; returns it (dictionary keys as
    str, strings as bytes) and the index after it."""
    c = b[i : i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1 : j]), j + 1
    if c in (b"l", b"d"):
        i += 1
        items = []
        while b[i : i + 1] != b"e":
            x, i = decode(b, i)
            items.append(x)
        if c == b"l":
            return items, i + 1
        return {items[k].decode(): items[k + 1] for k in range(0, len(items), 2)}, i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1 : j + 1 + n], j + 1 + n
