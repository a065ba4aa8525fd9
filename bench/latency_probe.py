#!/usr/bin/env python3
# bench/latency_probe.py — a client issuing GETs back to back on one
# connection until a stop file appears; prints the slowest reply and the
# count. Used by restart_snapshot.sh to see what a client feels during a
# BGSAVE (fork + copy-on-write).
#
# Usage: latency_probe.py PORT STOP_FILE [KEY]
# Creates STOP_FILE.ready once its first reply arrived (Python may take
# seconds to start on a loaded machine: wait for it before measuring).
import os
import socket
import sys
import time


def reply_complete(buf):
    """True once buf holds one whole RESP reply to GET."""
    if not buf.endswith(b"\r\n"):
        return False
    if not buf.startswith(b"$") or buf.startswith(b"$-1"):
        return True
    head, _, rest = buf.partition(b"\r\n")
    return len(rest) >= int(head[1:]) + 2


def main():
    port, stop = int(sys.argv[1]), sys.argv[2]
    key = (sys.argv[3] if len(sys.argv) > 3 else "key:000000123456").encode()
    req = b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)
    sock = socket.create_connection(("127.0.0.1", port))
    worst, count, deadline = 0.0, 0, time.time() + 600
    while time.time() < deadline and not os.path.exists(stop):
        t = time.perf_counter()
        sock.sendall(req)
        buf = b""
        while not reply_complete(buf):
            buf += sock.recv(65536)
        worst = max(worst, time.perf_counter() - t)
        count += 1
        if count == 1:
            open(stop + ".ready", "w").close()
    print(f"slowest reply {worst * 1000:.1f} ms of {count} GETs")


if __name__ == "__main__":
    main()
