#!/usr/bin/env python3
"""Slowloris against a running gateway: memory and service while it lasts, memory after it ends (issue 13).

Opens CONNECTIONS connections that each send a request line and then one header byte every INTERVAL seconds
(never the blank line that ends the head), for DURATION seconds; meanwhile samples the gateway's VmRSS / VmHWM
(/proc/PID/status) and times a fresh request from another address (PROBE_FROM) every second. Then closes every connection, samples RSS for SETTLE
seconds, sends 200 ordinary requests and samples RSS again. Standard library only. Prints one JSON object.
"""
import argparse
import asyncio
import json
import time


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    return out


async def attacker(host, port, interval, stop, state):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        state["refused"] += 1
        return
    state["open"] += 1
    closed = asyncio.ensure_future(reader.read(1))
    try:
        writer.write(b"GET /x HTTP/1.1\r\nHost: gw\r\n")
        await writer.drain()
        while not stop.is_set():
            done, _ = await asyncio.wait({closed}, timeout=interval)
            if done:
                state["closed_by_server"] += 1
                return
            writer.write(b"X")
            await writer.drain()
    except OSError:
        state["closed_by_server"] += 1
    finally:
        state["open"] -= 1
        closed.cancel()
        writer.close()


async def probe(host, port, source, timeout):
    """Seconds until a fresh client from `source` gets a response (None: no answer within `timeout`)."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(source, 0)), timeout
        )
        writer.write(b"GET /probe HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        writer.close()
        return round(time.monotonic() - started, 3) if line.startswith(b"HTTP/1.1 ") else None
    except (OSError, asyncio.TimeoutError):
        return None


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--connections", type=int, default=5000)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--settle", type=float, default=30.0)
    p.add_argument("--probe-from", default="127.0.0.2", help="address of the client timed during the attack")
    a = p.parse_args()

    before = status(a.pid)
    state = {"open": 0, "refused": 0, "closed_by_server": 0}
    stop = asyncio.Event()
    tasks = []
    for i in range(a.connections):
        tasks.append(asyncio.ensure_future(attacker(a.host, a.port, a.interval, stop, state)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    peak_open, probes, samples = 0, [], []
    started = time.monotonic()
    while time.monotonic() - started < a.duration:
        peak_open = max(peak_open, state["open"])
        probes.append(await probe(a.host, a.port, a.probe_from, 2.0))
        samples.append(status(a.pid)["VmRSS"])
        await asyncio.sleep(1.0)
    during = status(a.pid)
    open_at_end = state["open"]
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    ended = time.monotonic()
    after = []
    while time.monotonic() - ended < a.settle:
        await asyncio.sleep(1.0)
        after.append(status(a.pid)["VmRSS"])
    rss_after = after[-1] if after else None
    # Some allocator work after the attack (freed memory is often returned lazily, on the next allocations).
    for _ in range(200):
        await probe(a.host, a.port, a.probe_from, 2.0)
    await asyncio.sleep(1.0)
    rss_after_traffic = status(a.pid)["VmRSS"]
    answered = [x for x in probes if x is not None]
    print(json.dumps({
        "connections": a.connections,
        "interval_s": a.interval,
        "duration_s": a.duration,
        "rss_before_kib": before["VmRSS"],
        "peak_open_connections": peak_open,
        "open_at_end_of_attack": open_at_end,
        "closed_by_server": state["closed_by_server"],
        "refused_at_connect": state["refused"],
        "peak_rss_during_kib": max(samples) if samples else None,
        "vmhwm_kib": during["VmHWM"],
        "threads": during["Threads"],
        "probes_answered": f"{len(answered)}/{len(probes)}",
        "probe_max_s": max(answered) if answered else None,
        "rss_after_kib": rss_after,
        "settle_s": a.settle,
        "rss_after_200_requests_kib": rss_after_traffic,
    }, indent=2))


asyncio.run(main())
