#!/usr/bin/env python3
"""bench/lagproxy.py - a TCP proxy on loopback that delays every chunk by a fixed time, so that
a round trip through it costs 2 x DELAY_MS, like a link to a database in another region.

    python3 bench/lagproxy.py LISTEN_PORT TARGET_PORT DELAY_MS [COUNTS_FILE]

Data keeps its order and chunks in flight overlap (a client that pipelines gains from it, as it
would on a real link). With COUNTS_FILE, every connection appends one line when it ends: the
number of round trips it made, counted as the times the client spoke after the server had (the
first client message counts; a lone Terminate message does not, it waits for no answer).
Prints "listening" on stderr once it accepts connections. Stops on SIGTERM or SIGINT.
"""
import signal
import socket
import sys
import threading
import time
from collections import deque

TERMINATE = b"X\x00\x00\x00\x04"


class Link:
    """One client connection and its server connection, with the round-trip count."""

    def __init__(self, client, server):
        self.client, self.server = client, server
        self.lock = threading.Lock()
        self.last = None
        self.turns = 0

    def saw(self, side, data):
        with self.lock:
            if side == "client" and self.last != "client" and data != TERMINATE:
                self.turns += 1
            self.last = side


def forward(link, src, dst, side, delay):
    """Reads from src and writes each chunk to dst delay seconds after it arrived."""
    queue, cv = deque(), threading.Condition()

    def writer():
        while True:
            with cv:
                while not queue:
                    cv.wait()
                due, data = queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if data:
            link.saw(side, data)
        with cv:
            queue.append((time.monotonic() + delay, data))
            cv.notify()
        if not data:
            break
    w.join()


def serve(client, target_port, delay, counts):
    try:
        server = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    link = Link(client, server)
    up = threading.Thread(target=forward, args=(link, client, server, "client", delay), daemon=True)
    up.start()
    forward(link, server, client, "server", delay)
    up.join()
    client.close()
    server.close()
    if counts:
        with open(counts, "a") as f:
            f.write("%d\n" % link.turns)


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: lagproxy.py LISTEN_PORT TARGET_PORT DELAY_MS [COUNTS_FILE]")
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    delay = float(sys.argv[3]) / 1000.0
    counts = sys.argv[4] if len(sys.argv) == 5 else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(64)
    print("listening", file=sys.stderr, flush=True)
    try:
        while True:
            client, _ = ls.accept()
            threading.Thread(target=serve, args=(client, target_port, delay, counts), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
