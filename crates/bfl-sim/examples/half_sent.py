#!/usr/bin/env python3
"""10 000 half-sent requests against `bfl sim` (release build): the connection limit holds.

Run after `cargo build --release`: `python3 crates/bfl-sim/examples/half_sent.py`. Each
connection sends the headers of a 100 kB POST and 20 kB of its body, then stalls; prints the
simulator's RSS idle and under the load, how many connections it held, and its `http` stats.
"""
import socket, subprocess, sys, time, re, resource, json
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
p = subprocess.Popen([sys.argv[1] if len(sys.argv) > 1 else "target/release/bfl", "sim", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                     preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000)))
line = p.stdout.readline()
port = int(re.search(r":(\d+)", line).group(1))
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"): return l.split()[1] + " kB"
time.sleep(0.3)
print("idle RSS", rss())
socks = []
for i in range(10000):
    s = socket.socket(); s.connect(("127.0.0.1", port))
    s.sendall(b"POST /v1/flux-2-pro HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"a" * 20000)
    socks.append(s)
time.sleep(2)
print("RSS with 10000 half-sent requests", rss())
alive = 0
for s in socks:
    s.setblocking(False)
    try:
        d = s.recv(1)
        if d == b"": pass
        else: alive += 1
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print("connections still held", alive)
for s in socks: s.close()
time.sleep(1)
s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET /__sim/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
buf = b""
while True:
    d = s.recv(65536)
    if not d: break
    buf += d
body = json.loads(buf.split(b"\r\n\r\n",1)[1])
print("http load", body["http"])
print("RSS after", rss())
p.terminate()
