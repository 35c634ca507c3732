#!/usr/bin/env python3
"""Hostile inputs against a running release build: the status each gets and
the server's memory (VmRSS, and the peak VmHWM) after each.

    python3 benches/hostile_rss.py target/release/strata

Starts the binary on a fresh data directory with the limits an operator
would set for untrusted clients (the defaults plus max_active_series and an
ingestion rate), pushes a little normal data, then sends each hostile input
in turn. Prints a Markdown table. Needs `pip install python-snappy requests`.
"""

import concurrent.futures
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

import requests
import snappy

CONFIG = """
[distributor.limits.defaults]
max_active_series = 100000
ingestion_rate = 2000000
ingestion_burst = 4000000
"""


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def label(name, value):
    return field(1, field(1, name.encode()) + field(2, value.encode()))


def sample(t_ms, v):
    return field(2, b"\x09" + struct.pack("<d", v) + b"\x10" + varint(t_ms))


def series(labels, samples):
    body = b"".join(label(n, v) for n, v in sorted(labels.items()))
    body += b"".join(sample(t, v) for t, v in samples)
    return field(1, body)


def write_request(all_series):
    return snappy.compress(b"".join(all_series))


def mem(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) // 1024
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    binary = sys.argv[1]
    data = tempfile.mkdtemp(prefix="strata-hostile-")
    conf = os.path.join(data, "strata.toml")
    with open(conf, "w") as f:
        f.write(CONFIG)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [binary, "--data-dir", os.path.join(data, "d"), "--listen", f"127.0.0.1:{port}", "--config", conf],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                if requests.get(base + "/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        now = int(time.time() * 1000)
        push_headers = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}

        def push(body):
            r = requests.post(base + "/api/v1/push", data=body, headers=push_headers, timeout=120)
            return r.status_code, r.text

        def query(q, **params):
            r = requests.get(base + "/api/v1/query", params={"query": q, **params}, timeout=120)
            return r.status_code, r.text

        # Normal data: 1,000 series x 60 samples.
        for h in range(10):
            push(write_request([
                series({"__name__": "cpu", "host": f"h{h * 100 + i}", "job": "node"},
                       [(now - 600_000 + k * 10_000, float(k)) for k in range(60)])
                for i in range(100)
            ]))
        rows = [("normal data (1,000 series x 60 samples)", "204", "", mem(proc.pid))]

        def case(name, fn):
            t = time.time()
            status, text = fn()
            rows.append((name, str(status), f"{text.strip()[:110]} ({time.time() - t:.2f} s)", mem(proc.pid)))

        case("16 MB label value", lambda: push(write_request([series({"__name__": "x", "big": "a" * (16 << 20)}, [(now, 1.0)])])))
        case("200,000 labels on one series", lambda: push(write_request([series(
            {"__name__": "x", **{f"l{i}": "v" for i in range(200_000)}}, [(now, 1.0)])])))

        def many_series():
            last = (0, "")
            for p in range(20):  # 20 pushes x 100,000 new series = 2 M
                last = push(write_request([
                    series({"__name__": "churn", "id": str(p * 100_000 + i)}, [(now, 1.0)]) for i in range(100_000)
                ]))
            return last
        case("2 M new series in 20 pushes (last push)", many_series)
        case("5,000 samples a day apart in one push", lambda: push(write_request([
            series({"__name__": "sparse"}, [(now - d * 86_400_000, 1.0) for d in range(5000)])])))
        case("snappy bomb: 1 GB of zeros declared", lambda: push(varint(1 << 30) + b"\x00" * 64))
        case("abs() nested 2,000 deep", lambda: query("abs(" * 2000 + "vector(1)" + ")" * 2000))
        case("1+1+... 3,000 terms", lambda: query("+".join(["1"] * 3000)))
        case("5,000 unary minuses", lambda: query("-" * 5000 + "vector(1)"))
        case("count_over_time(cpu[30d:1ms])", lambda: query("count_over_time(cpu[30d:1ms])", time=now / 1000))
        case("count_over_time(vector(1)[1d:1ms])", lambda: query("count_over_time(vector(1)[1d:1ms])"))
        case("query POST body of 20 MB", lambda: (lambda r: (r.status_code, r.text))(requests.post(
            base + "/api/v1/query", data={"query": "x" * (20 << 20)}, timeout=120)))

        def concurrent_queries():
            q = "sum by (host) (rate(cpu[5m]))"
            with concurrent.futures.ThreadPoolExecutor(64) as ex:
                results = list(ex.map(lambda _: query(q, time=now / 1000), range(2000)))
            codes = {}
            for s, _ in results:
                codes[s] = codes.get(s, 0) + 1
            return ",".join(f"{k}x{v}" for k, v in sorted(codes.items())), ""
        case("2,000 queries from 64 clients at once", concurrent_queries)
        alive = requests.get(base + "/ready", timeout=5).status_code
        rows.append(("still ready afterwards", str(alive), "", mem(proc.pid)))

        print("| input | status | answer (first 110 characters) | RSS MiB | peak RSS MiB |")
        print("|---|---|---|---|---|")
        for name, status, text, m in rows:
            print(f"| {name} | {status} | {text.replace('|', '/')} | {m['VmRSS']} | {m['VmHWM']} |")
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
