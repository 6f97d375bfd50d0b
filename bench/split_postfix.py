#!/usr/bin/python3
"""What [delivery] split_by_destination costs when Postfix is the sender.

One message with two recipients whose routes lead to two different
destination hosts goes from a private Postfix instance (relayhost = the
relay) through the relay (mode = in-session) to two scripted destinations.
With split_by_destination = no both arrive at once; with yes the relay
answers the second RCPT 452 4.5.3, and this measures when Postfix sends
that recipient again.  Postfix keeps its default retry timing
(minimal_backoff_time 300s, queue_run_delay 300s) unless --backoff says
otherwise, because that default is what the README talks about.

Run as root (Postfix needs it), after `make build` (or --relay BIN):
  /usr/bin/python3 bench/split_postfix.py [--wait 420] [--backoff 300s]
"""
import argparse
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (DEFAULT_RELAY, Failed, RelayProcess, free_port,  # noqa: E402
                    install_handlers, run_cleanups, workdir)
from peers import Destination  # noqa: E402
from throughput import Postfix  # noqa: E402


def postfix_for(work, port, relay_port, backoff):
    pf = Postfix(work, port, relay_port, 10)
    main = os.path.join(pf.dir, "main.cf")
    with open(main) as f:
        text = f.read()
    text = text.replace("relay_domains = bench.test",
                        "relay_domains = split.test")
    # Back to Postfix's own retry timing (the throughput bench shortens it).
    keep = []
    for line in text.splitlines():
        if line.startswith(("minimal_backoff_time", "maximal_backoff_time",
                            "queue_run_delay")):
            continue
        keep.append(line)
    if backoff:
        keep += ["minimal_backoff_time = %s" % backoff,
                 "queue_run_delay = %s" % backoff]
    with open(main, "w") as f:
        f.write("\n".join(keep) + "\n")
    return pf


def one_run(args, split):
    work = workdir("cbr-split-")
    d1 = Destination(hostname="mx1.split.test").start()
    d2 = Destination(hostname="mx2.split.test").start()
    try:
        rport = free_port()
        relay = RelayProcess(args.relay, work, "relay", rport, {
            "delivery": {"mode": "in-session",
                         "split_by_destination": "yes" if split else "no"},
            "outbound": {"tls": "none"},
        }, {"one@split.test": "smtp://%s" % d1.address,
            "two@split.test": "smtp://%s" % d2.address}).start()
        pport = free_port()
        pf = postfix_for(work, pport, rport, args.backoff).start()
        t0 = time.monotonic()
        with smtplib.SMTP("127.0.0.1", pport, timeout=30) as c:
            c.sendmail("sender@src.split.test",
                       ["one@split.test", "two@split.test"],
                       b"Subject: split test\r\n\r\nhello\r\n")
        got = {}
        deadline = t0 + args.wait
        while time.monotonic() < deadline and len(got) < 2:
            for name, d in (("one", d1), ("two", d2)):
                if name not in got and d.messages:
                    got[name] = time.monotonic() - t0
            time.sleep(0.1)
        with open(pf.maillog, errors="replace") as f:
            log = [ln.rstrip() for ln in f if "split.test" in ln and
                   ("status=" in ln)]
        pf.stop()
        relay.stop()
        return got, log
    finally:
        d1.stop()
        d2.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--relay", default=DEFAULT_RELAY)
    ap.add_argument("--wait", type=float, default=420.0,
                    help="seconds to wait for the split recipient")
    ap.add_argument("--backoff", default="",
                    help="Postfix minimal_backoff_time and queue_run_delay "
                         "(default: Postfix's own, 300s)")
    args = ap.parse_args()
    install_handlers()
    try:
        for split in (False, True):
            got, log = one_run(args, split)
            print("split_by_destination = %s:" % ("yes" if split else "no"))
            for name in ("one", "two"):
                t = got.get(name)
                print("  %s@split.test: %s" % (
                    name, "delivered after %.1f s" % t if t is not None
                    else "not delivered within %.0f s" % args.wait))
            for ln in log:
                print("  postfix: %s" % ln[-200:])
    except Failed as e:
        print("FAILED: %s" % e)
        return 1
    finally:
        run_cleanups()
    return 0


if __name__ == "__main__":
    sys.exit(main())
