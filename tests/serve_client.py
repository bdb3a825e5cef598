#!/usr/bin/env python3
"""A client of `x86wow serve DLL --listen ADDR` (docs/serve.md) using only the
standard library, run by tests/library_serve.rs against testdata/win32/interop.dll.

    python3 tests/serve_client.py 127.0.0.1:PORT
    python3 tests/serve_client.py unix:/tmp/x.sock

Two client threads, each on its own connection, make CALLS `counter_next` calls
interleaved with arithmetic calls and check every result; the counter values both saw
together must be exactly 1..2*CALLS with no duplicates, which holds only if the server
runs one call at a time. Meanwhile other clients disconnect mid-request (after a long
call was sent, and in the middle of a line) and must not disturb them. Exits non-zero
on any failure.
"""

import json
import socket
import sys
import threading

CALLS = 200
TIMEOUT = 120.0


def connect(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(addr[len("unix:"):])
    else:
        host, _, port = addr.rpartition(":")
        s = socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(TIMEOUT)
    return s


class Client:
    def __init__(self, addr):
        self.sock = connect(addr)
        self.reader = self.sock.makefile("rb")
        self.next_id = 0

    def request(self, req):
        self.next_id += 1
        req = dict(req, id=self.next_id)
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        line = self.reader.readline()
        if not line:
            raise RuntimeError("the server closed the connection")
        resp = json.loads(line)
        if resp.get("id") != self.next_id:
            raise RuntimeError(f"response {resp} does not echo id {self.next_id}")
        return resp

    def call(self, export, args=(), conv="stdcall", ret="i32", **extra):
        resp = self.request(dict(op="call", export=export, conv=conv, ret=ret, args=list(args), **extra))
        if not resp.get("ok"):
            raise RuntimeError(f"{export} failed: {resp}")
        return resp

    def close(self):
        self.reader.close()
        self.sock.close()


def i32(v):
    return {"type": "i32", "value": v}


def worker(addr, seed, counters, errors):
    try:
        c = Client(addr)
        hello = c.request({"op": "hello"})
        assert hello["ok"] and hello["server"] == "x86wow", hello
        for k in range(CALLS):
            counters.append(c.call("counter_next")["value"])
            a, b = seed * 1000 + k, -k
            got = c.call("add_stdcall", [i32(a), i32(b)])["value"]
            assert got == a + b, ("add_stdcall", a, b, got)
            if k % 10 == 0:
                got = c.call("add_fastcall", [i32(a), i32(b), i32(seed)], conv="fastcall")["value"]
                assert got == a + b + seed, ("add_fastcall", got)
                x = (1 << 32) + k
                got = c.call("mul_u64", [{"type": "u64", "value": x}, {"type": "u64", "value": 3}],
                             conv="cdecl", ret="u64")["value"]
                assert got == 3 * x, ("mul_u64", got)
                got = c.call("handle_echo", [{"type": "handle", "value": -1}], ret="handle")["value"]
                assert got == -1, ("handle_echo", got)
        c.close()
    except Exception as e:  # noqa: BLE001 - any failure fails the run
        errors.append(f"client {seed}: {e!r}")


def rude_clients(addr, errors):
    """Clients that go away mid-request: the server must carry on for the others."""
    try:
        for _ in range(3):
            s = connect(addr)
            s.sendall(json.dumps({"op": "call", "export": "spin", "ret": "void", "budget": 200000}).encode()
                      + b"\n")
            s.close()
            s = connect(addr)
            s.sendall(b'{"op":"call","export":"add_std')
            s.close()
    except Exception as e:  # noqa: BLE001
        errors.append(f"rude client: {e!r}")


def main():
    if len(sys.argv) != 2:
        print("usage: serve_client.py HOST:PORT|unix:PATH", file=sys.stderr)
        return 2
    addr = sys.argv[1]
    counters, errors = [], []
    threads = [threading.Thread(target=worker, args=(addr, n, counters, errors), daemon=True) for n in (1, 2)]
    threads.append(threading.Thread(target=rude_clients, args=(addr, errors), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        if t.is_alive():
            errors.append(f"{t.name} did not finish in {TIMEOUT} s")
    if not errors:
        want = list(range(1, 2 * CALLS + 1))
        if sorted(counters) != want:
            dups = sorted({v for v in counters if counters.count(v) > 1})
            errors.append(f"counter values are not exactly 1..{2 * CALLS}: {len(counters)} values, duplicates {dups}")
    if not errors:
        # The library is still sound after the rude clients.
        c = Client(addr)
        got = c.call("add_cdecl", [i32(40), i32(2)], conv="cdecl")["value"]
        if got != 42:
            errors.append(f"add_cdecl after the run gave {got}")
        c.close()
    for e in errors:
        print(f"serve_client: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"serve_client: {addr}: {2 * CALLS} counter values, all distinct; arithmetic correct")
    return 0


if __name__ == "__main__":
    sys.exit(main())
