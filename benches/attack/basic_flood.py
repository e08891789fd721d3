#!/usr/bin/env python3
"""Memory of the gateway under a flood of concurrent wrong Basic logins (issue 13, item 2).

Starts the release binary in a temporary directory with one user whose hash comes from `authgate
hash-password` (the shipped argon2id parameters, m=19456 KiB), sends CONCURRENCY wrong logins at once over
loopback, and reports the gateway's peak RSS (VmHWM), its threads, the answers, and RSS after the attack.

Shapes:
  same       one user, one client address: what the lockout alone should already stop
  spread     a different unknown user from a different loopback address (127.0.x.y) for every request: what a
             botnet does, which no lockout counter stops; only the hashing bound keeps memory in check
  anonymous  as spread, without credentials (401 at once): what the connections alone cost

  python3 benches/attack/basic_flood.py [--binary target/release/authgate] [--shape same|spread|anonymous]
          [--concurrency 1000] [--settle 30] [--basic '{directory: users.yaml, hashing: {...}}']
          [--config-extra 'YAML lines appended to gateway.yaml']

The environment reaches the gateway (e.g. MIMALLOC_PURGE_DELAY=0 to see mimalloc purge at once).

Standard library only; every address is on loopback; the gateway is stopped at the end and its temporary
directory removed (kept, with the gateway's log, when something went wrong).
"""

import argparse
import asyncio
import base64
import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def kib(value):
    return int(value.split()[0])


async def login(port, user, password, source):
    authorization = ""
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        authorization = f"Authorization: Basic {token}\r\n"
    request = (
        f"GET /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Connection: close\r\n\r\n"
    ).encode()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0) if source else None)
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readline(), 120)
        writer.close()
        parts = head.split()
        return parts[1].decode() if len(parts) > 1 else "no-answer"
    except (OSError, asyncio.TimeoutError) as e:
        return type(e).__name__


async def flood(port, shape, concurrency, pid, samples):
    async def sample():
        while True:
            try:
                s = status_of(pid)
                samples.append((kib(s["VmRSS"]), int(s["Threads"])))
            except (OSError, KeyError):
                return
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    jobs = []
    for i in range(concurrency):
        if shape == "same":
            jobs.append(login(port, "alice", f"wrong-{i}", None))
        else:
            source = f"127.0.{1 + i // 250}.{1 + i % 250}"
            user = None if shape == "anonymous" else f"nobody{i}"
            jobs.append(login(port, user, f"wrong-{i}", source))
    started = time.monotonic()
    statuses = await asyncio.gather(*jobs)
    elapsed = time.monotonic() - started
    sampler.cancel()
    return collections.Counter(statuses), elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default="target/release/authgate")
    parser.add_argument("--shape", choices=["same", "spread", "anonymous"], default="same")
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--settle", type=int, default=30, help="seconds to watch RSS after the attack")
    parser.add_argument("--config-extra", default="", help="YAML lines appended to gateway.yaml")
    parser.add_argument("--basic", default="{directory: users.yaml}", help="the basic: section")
    args = parser.parse_args()

    binary = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="authgate-flood-")
    hashed = subprocess.run(
        [binary, "hash-password"], input=b"alice-pw", capture_output=True, check=True
    ).stdout.decode().strip()
    with open(os.path.join(work, "users.yaml"), "w") as f:
        f.write(f"users:\n  - {{name: alice, user_manager: ad, domain: CONTOSO, password_hash: '{hashed}'}}\n")
    port, admin = free_port(), free_port()
    with open(os.path.join(work, "gateway.yaml"), "w") as f:
        f.write(
            f"listeners: [{{address: \"127.0.0.1:{port}\"}}]\n"
            f"admin: {{address: \"127.0.0.1:{admin}\"}}\n"
            f"basic: {args.basic}\n"
            "user_managers: {ad: {fqn_prefix: \"K2:\", domain: CONTOSO}}\n"
            f"builtin: {{socket: \"{work}/api.sock\", database: \"{work}/db.sqlite\"}}\n"
            "routes:\n  - {name: api, prefix: /api, upstream: \"127.0.0.1:9\"}\n" + args.config_extra
        )
    log = open(os.path.join(work, "gateway.log"), "w")
    gateway = subprocess.Popen(
        [binary, "serve", "--config", os.path.join(work, "gateway.yaml")],
        stdout=log, stderr=log, env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or gateway.poll() is not None:
                sys.exit(f"gateway did not start; log in {work}/gateway.log")
            time.sleep(0.05)
        idle = kib(status_of(gateway.pid)["VmRSS"])
        samples = []
        statuses, elapsed = asyncio.run(flood(port, args.shape, args.concurrency, gateway.pid, samples))
        if gateway.poll() is not None:
            print(f"gateway DIED during the attack (exit {gateway.returncode})")
            return
        st = status_of(gateway.pid)
        peak_threads = max((t for _, t in samples), default=0)
        print(f"shape={args.shape} concurrency={args.concurrency} binary={args.binary}")
        print(f"answers: {dict(statuses)} in {elapsed:.1f}s")
        print(f"RSS idle before: {idle / 1024:.1f} MiB")
        print(f"peak RSS (VmHWM): {kib(st['VmHWM']) / 1024:.1f} MiB, peak threads: {peak_threads}")
        print(f"RSS right after: {kib(st['VmRSS']) / 1024:.1f} MiB, threads {st['Threads']}")
        for waited in range(1, args.settle + 1):
            time.sleep(1)
            if waited in (5, 10, 15, 20, 30, 45, 60) or waited == args.settle:
                st = status_of(gateway.pid)
                print(f"RSS {waited:>2}s after: {kib(st['VmRSS']) / 1024:.1f} MiB, threads {st['Threads']}")
    finally:
        gateway.send_signal(signal.SIGKILL)
        gateway.wait()
        log.close()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
