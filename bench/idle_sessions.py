#!/usr/bin/python3
"""Memory of the relay holding many idle inbound SMTP sessions.

Starts the relay (release build: make build -> build/cleanbox-relay) with a
config allowing N connections, reads its RSS (VmRSS in /proc/PID/status),
opens N sessions from this one process (non-blocking sockets and
selectors), waits until every one got its 220 greeting, reads the RSS
again, and prints the total and the cost per session.

  /usr/bin/python3 bench/idle_sessions.py            # 10000 sessions
  /usr/bin/python3 bench/idle_sessions.py -n 2000 --compare-asyncio

--compare-asyncio measures a minimal Python asyncio SMTP greeter holding the
same sessions, as a reference point on the same machine.
"""
import argparse
import errno
import os
import resource
import selectors
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (DEFAULT_RELAY, Failed, RelayProcess, free_port,  # noqa: E402
                    install_handlers, on_exit, run_cleanups, stop_process,
                    wait_port, workdir)

ASYNCIO_SERVER = r'''
import asyncio, sys
async def session(reader, writer):
    writer.write(b"220 asyncio.bench.test ESMTP\r\n")
    await writer.drain()
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(b"250 ok\r\n")
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()
async def main():
    srv = await asyncio.start_server(session, "127.0.0.1", int(sys.argv[1]),
                                     backlog=4096)
    async with srv:
        await srv.serve_forever()
asyncio.run(main())
'''


def status(pid):
    """{'VmRSS': kB, 'VmHWM': kB, 'Threads': n} from /proc/PID/status."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    return out


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft, hard
    new_hard = hard
    if hard != resource.RLIM_INFINITY and hard < need:
        new_hard = need             # needs CAP_SYS_RESOURCE (root)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, new_hard))
    except (ValueError, OSError) as e:
        raise SystemExit("cannot raise RLIMIT_NOFILE to %d (hard %d): %s"
                         % (need, hard, e))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def reply_done(buf):
    """The last line of a complete (multi-line) reply in buf, or None."""
    for line in buf.split(b"\r\n")[:-1]:
        if len(line) < 4 or line[3:4] != b"-":
            return line
    return None


def open_sessions(port, n, inflight, timeout, ehlo=False):
    """Open n connections; return (sockets, greeted, errors)."""
    sel = selectors.DefaultSelector()
    ehlo_sent = set()
    socks = []
    greeted = 0
    errors = {}
    pending = 0
    started = 0
    bufs = {}
    deadline = time.monotonic() + timeout

    def error(s, why):
        nonlocal pending
        errors[why] = errors.get(why, 0) + 1
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        pending -= 1

    while greeted + sum(errors.values()) < n:
        while started < n and pending < inflight:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", port))
            started += 1
            pending += 1
            if rc not in (0, errno.EINPROGRESS):
                error(s, errno.errorcode.get(rc, str(rc)))
                continue
            socks.append(s)
            bufs[s] = b""
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, ev in sel.select(min(left, 1.0)):
            s = key.fileobj
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                error(s, errno.errorcode.get(err, str(err)))
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(512)
                except OSError as e:
                    error(s, e.__class__.__name__)
                    continue
                if not data:
                    error(s, "closed before greeting")
                    continue
                bufs[s] += data
                done = reply_done(bufs[s])
                if done is None:
                    continue
                if ehlo and done.startswith(b"220"):
                    # Greeted; now EHLO and wait for its last 250 line.
                    s.send(b"EHLO idle.bench.test\r\n")
                    bufs[s] = b""
                    ehlo_sent.add(s)
                    continue
                sel.unregister(s)
                pending -= 1
                want = b"250" if s in ehlo_sent else b"220"
                if done.startswith(want):
                    greeted += 1
                else:
                    why = "reply " + done[:40].decode("ascii",
                                                      "replace").strip()
                    errors[why] = errors.get(why, 0) + 1
                bufs[s] = b""
            elif ev & selectors.EVENT_WRITE:
                # Connected; now wait for the greeting only.
                sel.modify(s, selectors.EVENT_READ)
    sel.close()
    if greeted + sum(errors.values()) < n:
        errors["no greeting within %ds" % timeout] = \
            n - greeted - sum(errors.values())
    live = [s for s in socks if s.fileno() >= 0]
    return live, greeted, errors


def measure(name, pid, port, n, inflight, timeout, settle, ehlo=False):
    time.sleep(settle)
    before = status(pid)
    fds_before = fd_count(pid)
    t0 = time.monotonic()
    socks, greeted, errors = open_sessions(port, n, inflight, timeout, ehlo)
    took = time.monotonic() - t0
    time.sleep(settle)
    after = status(pid)
    fds_after = fd_count(pid)
    still = sum(1 for _ in socks)
    res = {"name": name, "n": n, "greeted": greeted, "errors": errors,
           "before": before, "after": after, "took": took,
           "fds": (fds_before, fds_after), "open": still, "ehlo": ehlo}
    for s in socks:
        s.close()
    return res


def report(r):
    b, a = r["before"], r["after"]
    delta = a["VmRSS"] - b["VmRSS"]
    print("%s: %d/%d sessions %s in %.1f s; fds %d -> %d; threads %d"
          % (r["name"], r["greeted"], r["n"],
             "answered EHLO" if r.get("ehlo") else "greeted", r["took"],
             r["fds"][0],
             r["fds"][1], a.get("Threads", 0)))
    if r["errors"]:
        print("   errors: %s" % ", ".join("%s x%d" % kv
                                          for kv in r["errors"].items()))
    print("   RSS before %.1f MB, with sessions %.1f MB (peak %.1f MB): "
          "+%.1f MB, %.2f KB per session"
          % (b["VmRSS"] / 1024, a["VmRSS"] / 1024, a["VmHWM"] / 1024,
             delta / 1024, delta / max(r["greeted"], 1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--sessions", type=int, default=10000)
    ap.add_argument("--relay-bin", default=os.environ.get("RELAY_BIN",
                                                           DEFAULT_RELAY))
    ap.add_argument("--inflight", type=int, default=256,
                    help="connections being set up at once (default 256)")
    ap.add_argument("--timeout", type=int, default=300,
                    help="seconds allowed to open all sessions")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to wait before each RSS reading")
    ap.add_argument("--compare-asyncio", action="store_true",
                    help="also measure a minimal Python asyncio server")
    ap.add_argument("--ehlo", action="store_true",
                    help="send EHLO on each session and wait for its reply "
                    "before measuring (sessions idle after EHLO)")
    ap.add_argument("--no-relay", action="store_true",
                    help="skip the relay (with --compare-asyncio)")
    args = ap.parse_args()
    n = args.sessions

    install_handlers()
    soft, hard = raise_nofile(n + 1024)
    work = workdir("cbr-idle-")
    print("idle sessions bench, %s; %d cores; RLIMIT_NOFILE %d/%d"
          % (time.strftime("%Y-%m-%d %H:%M:%S %Z"), os.cpu_count(), soft,
             hard))
    results = []
    rc = 0
    if not args.no_relay:
        port = free_port()
        cap = min(100000, n + 100)
        relay = RelayProcess(
            args.relay_bin, work, "relay", port, {},
            {"*@bench.test": "maildir:%s/mail" % work},
            limits={"max_connections": cap, "max_connections_per_ip": cap,
                    "command_timeout": "1h"})
        try:
            relay.start()
            pid = relay.proc.pid
            with open("/proc/%d/limits" % pid) as f:
                lim = [ln for ln in f if ln.startswith("Max open files")]
            print("relay pid %d (%s); %s" % (pid, args.relay_bin,
                                             " ".join(lim[0].split()[3:5])
                                             if lim else "?"))
            r = measure("relay", pid, port, n, args.inflight, args.timeout,
                        args.settle, args.ehlo)
            if relay.proc.poll() is not None:
                raise Failed("relay exited with %s during the run"
                             % relay.proc.returncode)
            report(r)
            results.append(r)
            if r["greeted"] < n:
                rc = 1
        except Failed as e:
            print("relay: FAILED: %s" % " ".join(str(e).split()))
            rc = 1
        finally:
            st = relay.stop()
            if st not in (0, None):
                print("note: relay exited with status %s on SIGTERM (log %s)"
                      % (st, relay.log))
    if args.compare_asyncio:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", ASYNCIO_SERVER,
                                 str(port)], stdin=subprocess.DEVNULL)
        on_exit(lambda: stop_process(proc, 5))
        try:
            wait_port("127.0.0.1", port, 15, proc)
            r = measure("python asyncio", proc.pid, port, n, args.inflight,
                        args.timeout, args.settle, args.ehlo)
            report(r)
        except Failed as e:
            print("asyncio: FAILED: %s" % e)
        finally:
            stop_process(proc, 5)
    run_cleanups()
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        print("\ninterrupted (%s); stopping everything" % e, file=sys.stderr)
        run_cleanups()
        sys.exit(130)
