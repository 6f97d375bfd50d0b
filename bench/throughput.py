#!/usr/bin/python3
"""Throughput and latency of Cleanbox Relay against Postfix, in one run.

On loopback, with smtp-source (Postfix's load generator) sending 1 KB
messages from many concurrent sessions, and smtp-sink as the final
destination, it measures:

  (a) smtp-source straight into smtp-sink: the ceiling;
  (b) a private Postfix instance as store-and-forward relay into the sink;
  (c) the relay with [delivery] mode = queue;
  (d) the relay with [delivery] mode = in-session.

Throughput is messages per second from the start of smtp-source to the
moment the sink has counted all N messages (a store-and-forward relay may
still be delivering when smtp-source is done; that time counts).  Latency is
measured with a sequential Python client on one connection: the time from
MAIL to the 250 after the end of DATA ("reply"), and to the moment the sink
has counted the message ("delivered"); "added" is the difference to (a).

A system that does not work is reported as FAILED with the reason, and the
run goes on.  Every wait has a timeout; every process started is stopped.
Run as root (Postfix needs it):  /usr/bin/python3 bench/throughput.py
"""
import argparse
import os
import platform
import re
import smtplib
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (DEFAULT_RELAY, ROOT, Failed, RelayProcess, SmtpSink,  # noqa: E402
                    free_port, install_handlers, on_exit, run_cleanups,
                    stop_process, tail, wait_port, workdir)

SOURCE = "/usr/sbin/smtp-source"
SENDER = "sender@src.bench.test"
RCPT = "user@bench.test"


def make_message(size):
    """A message of exactly size bytes (CRLF lines), headers included."""
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: bench\r\n"
            "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
            "Message-ID: <bench@src.bench.test>\r\n\r\n" % (SENDER, RCPT))
    body = ""
    line = "The quick brown fox jumps over the lazy dog 0123456789 abcdefghij"
    while len(head) + len(body) + len(line) + 2 <= size:
        body += line + "\r\n"
    rest = size - len(head) - len(body)
    if rest >= 3:
        body += "x" * (rest - 2) + "\r\n"
    return (head + body).encode()


# --- systems -----------------------------------------------------------------

class Postfix:
    """A private Postfix instance: postfix -c DIR start, as root."""

    def __init__(self, work, port, sink_port, concurrency):
        self.dir = os.path.join(work, "postfix")
        self.port = port
        # Postfix creates spool/* and data/ itself, owned by postfix.
        os.makedirs(os.path.join(self.dir, "spool"))
        os.chmod(self.dir, 0o755)
        self.maillog = os.path.join(self.dir, "maillog")
        main = """\
compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
relay_domains = bench.test
relayhost = [127.0.0.1]:{sink}
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
biff = no
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
default_destination_concurrency_limit = {conc}
smtp_destination_concurrency_limit = {conc}
default_process_limit = 250
# short retries, so that a transient failure shows instead of stalling
minimal_backoff_time = 2s
maximal_backoff_time = 10s
queue_run_delay = 2s
maillog_file = {log}
""".format(d=self.dir, sink=sink_port, conc=concurrency, log=self.maillog)
        # chroot off (the jail would need copies of /etc files); smtpd's
        # process limit 250: it is also the listen backlog (NOTES.md).
        master = """\
127.0.0.1:{port} inet n - n - 250 smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
proxywrite unix - - n -     1 proxymap
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
local     unix  - n n -     - local
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
""".format(port=port)
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            f.write(main)
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.write(master)
        self.started = False

    def _postfix(self, *args, timeout=60):
        return subprocess.run(["postfix", "-c", self.dir] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        if os.geteuid() != 0:
            raise Failed("Postfix needs root (postfix -c DIR start)")
        if not os.path.exists("/usr/sbin/postfix"):
            raise Failed("postfix is not installed")
        on_exit(self.stop)
        self.started = True
        r = self._postfix("start")
        if r.returncode != 0:
            log = [ln for ln in tail(self.maillog, 20).splitlines()
                   if "fatal" in ln]
            raise Failed("postfix start exit %d: %s" % (
                r.returncode, (log[-1] if log else
                               (r.stdout + r.stderr).strip()[-200:])))
        wait_port("127.0.0.1", self.port, 30)
        return self

    def master_pid(self):
        try:
            with open(os.path.join(self.dir, "spool", "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        if not self.started:
            return
        self.started = False
        pid = self.master_pid()
        try:
            self._postfix("stop", timeout=60)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 20
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        if pid:
            try:
                self._postfix("abort", timeout=30)
                os.kill(pid, 9)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass

    def deferred(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().count(b"status=deferred")
        except OSError:
            return 0


class MaildirCounter:
    """Counts files in a Maildir's new/ like SmtpSink counts messages
    (count, last_change, wait_count), for the optional row (m)."""

    def __init__(self, path):
        self.new = os.path.join(path, "new")
        self.count = 0
        self.last_change = None
        self._mtime = None

    def _poll(self):
        try:
            st = os.stat(self.new)
        except FileNotFoundError:
            return
        if st.st_mtime_ns != self._mtime:
            self._mtime = st.st_mtime_ns
            c = len(os.listdir(self.new))
            if c != self.count:
                self.count = c
                self.last_change = time.monotonic()

    def wait_count(self, n, timeout=10.0, stall=None):
        deadline = time.monotonic() + timeout
        while True:
            self._poll()
            if self.count >= n:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)


# --- measurements ------------------------------------------------------------

def probe(port, sink, msg, timeout=15):
    """Send one message through port; Failed unless the sink gets it."""
    base = sink.count
    try:
        c = smtplib.SMTP("127.0.0.1", port, timeout=30)
        try:
            c.ehlo("probe.bench.test")
            c.sendmail(SENDER, [RCPT], msg)
        finally:
            try:
                c.quit()
            except smtplib.SMTPException:
                pass
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        raise Failed("probe: RCPT answered %d %s" % (code, text.decode(
            "utf-8", "replace")))
    except smtplib.SMTPResponseException as e:
        raise Failed("probe: %d %s" % (e.smtp_code, e.smtp_error.decode(
            "utf-8", "replace")))
    except (smtplib.SMTPException, OSError) as e:
        raise Failed("probe: %s" % e)
    if not sink.wait_count(base + 1, timeout):
        raise Failed("probe: accepted (250) but not delivered to the sink "
                     "within %ds" % timeout)


def run_load(port, sink, n, senders, msgfile, timeout, stall, work, name,
             reuse=False):
    """smtp-source -> port; wait until the sink has n more messages."""
    base = sink.count
    errpath = os.path.join(work, "smtp-source-%s.log" % name)
    err = open(errpath, "wb")
    t0 = time.monotonic()
    src = subprocess.Popen([SOURCE] + (["-d"] if reuse else []) +
                           ["-s", str(senders), "-m", str(n),
                            "-F", msgfile, "-f", SENDER, "-t", RCPT,
                            "-M", "client.bench.test",
                            "127.0.0.1:%d" % port],
                           stdout=err, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    err.close()
    try:
        t_src = None
        deadline = t0 + timeout
        while True:
            if sink.wait_count(base + n, timeout=0.5):
                break
            if isinstance(sink, MaildirCounter):
                sink._poll()
            now = time.monotonic()
            if t_src is None and src.poll() is not None:
                t_src = now
            got = sink.count - base
            if now > deadline:
                raise Failed("timeout after %ds: sink got %d/%d" %
                             (timeout, got, n))
            last = max(sink.last_change or t0, t0)
            if now - last > stall:
                why = ""
                if src.poll() is not None and src.returncode != 0:
                    why = "smtp-source exit %d: %s; " % (
                        src.returncode, tail(errpath, 1).strip()[-160:])
                raise Failed("%sno progress for %ds: sink got %d/%d" %
                             (why, stall, got, n))
        t_done = sink.last_change or time.monotonic()
        if t_src is None:
            try:
                src.wait(60)
            except subprocess.TimeoutExpired:
                raise Failed("sink has all messages but smtp-source did not "
                             "finish within 60 s")
            t_src = time.monotonic()
        if src.returncode != 0:
            raise Failed("smtp-source exit %d: %s" % (
                src.returncode, tail(errpath, 1).strip()[-160:]))
    finally:
        stop_process(src, 5)
    return {"delivered_rate": n / (t_done - t0),
            "accepted_rate": n / (t_src - t0),
            "order": name,
            "seconds": t_done - t0}


def pct(values, p):
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class LatencyClient:
    """One persistent smtplib connection to a system, with its counter."""

    def __init__(self, port, counter):
        self.counter = counter
        self.reply, self.deliv = [], []
        self.failed = None
        try:
            self.c = smtplib.SMTP("127.0.0.1", port, timeout=30)
            self.c.ehlo("latency.bench.test")
        except (smtplib.SMTPException, OSError) as e:
            self.c = None
            self.failed = "latency client: %s" % e

    def one(self, msg, keep):
        if self.failed:
            return
        sink = self.counter
        try:
            base = sink.count
            t0 = time.monotonic()
            self.c.sendmail(SENDER, [RCPT], msg)
            t1 = time.monotonic()
        except (smtplib.SMTPException, OSError) as e:
            self.failed = "latency client: %s" % e
            return
        if not sink.wait_count(base + 1, timeout=30):
            self.failed = "latency: message not delivered in 30 s"
            return
        t2 = sink.last_change
        if isinstance(sink, MaildirCounter):
            # The relay links the file into new/ before its 250; the time
            # to see it here is only the cost of listing new/.
            t2 = t1
        if keep:
            self.reply.append(t1 - t0)
            self.deliv.append(max(t2, t1) - t0)

    def close(self):
        if self.c is not None:
            try:
                self.c.quit()
            except (smtplib.SMTPException, OSError):
                pass

    def result(self):
        if self.failed:
            raise Failed(self.failed)
        r, d = self.reply, self.deliv
        return {"reply_med": statistics.median(r), "reply_p99": pct(r, 99),
                "deliv_med": statistics.median(d), "deliv_p99": pct(d, 99)}


def measure_latency(targets, msg, samples, warmup=20):
    """Sequential messages, one connection per system, the systems taken in
    turn for each sample (so a change in the machine's load hits all of
    them alike).  targets: {key: (port, counter)}; returns {key: result or
    Failed}."""
    clients = {k: LatencyClient(p, c) for k, (p, c) in targets.items()}
    try:
        for i in range(warmup + samples):
            for cl in clients.values():
                cl.one(msg, i >= warmup)
    finally:
        for cl in clients.values():
            cl.close()
    out = {}
    for k, cl in clients.items():
        try:
            out[k] = cl.result()
        except Failed as e:
            out[k] = e
    return out


# --- main --------------------------------------------------------------------

def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1).strip() if m else ""
    except OSError:
        pass
    return "%d cores, %s, Linux %s" % (os.cpu_count(), cpu, platform.release())


def git_rev():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def postfix_version():
    try:
        r = subprocess.run(["postconf", "-h", "mail_version"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--messages", type=int, default=20000)
    ap.add_argument("--quick", action="store_true",
                    help="2000 messages, 200 latency samples")
    ap.add_argument("-s", "--senders", type=int, default=50,
                    help="concurrent smtp-source sessions (default 50)")
    ap.add_argument("--size", type=int, default=1024,
                    help="message size in bytes, headers included")
    ap.add_argument("--outbound", type=int, default=None,
                    help="outbound connections to the sink allowed to Postfix "
                    "and the relay (default: = senders)")
    ap.add_argument("--reuse", action="store_true",
                    help="smtp-source -d: several messages per connection")
    ap.add_argument("--repeat", type=int, default=1,
                    help="load rounds per system, interleaved; the median "
                    "is reported (default 1)")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds of rest (after sync) before each run")
    ap.add_argument("--samples", type=int, default=500,
                    help="latency samples per system (default 500)")
    ap.add_argument("--relay-bin", default=os.environ.get("RELAY_BIN",
                                                           DEFAULT_RELAY))
    ap.add_argument("--systems", default="a,b,c,d",
                    help="which of a,b,c,d to run (default all); add m for "
                    "the relay delivering into a Maildir (inbound path and "
                    "local delivery only, counted in new/)")
    ap.add_argument("--timeout", type=int, default=600,
                    help="seconds allowed per load run (default 600)")
    ap.add_argument("--stall", type=int, default=30,
                    help="fail a run after this many seconds without a "
                    "message reaching the sink (default 30)")
    args = ap.parse_args()
    if args.quick:
        args.messages = 2000
        args.samples = min(args.samples, 200)
    outbound = args.outbound or args.senders
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]

    install_handlers()
    work = workdir("cbr-bench-")
    msg = make_message(args.size)
    msgfile = os.path.join(work, "message.eml")
    with open(msgfile, "wb") as f:
        # smtp-source -F adds CRLF to each line itself.
        f.write(msg.replace(b"\r\n", b"\n"))

    print("Cleanbox Relay throughput bench, %s" % time.strftime(
        "%Y-%m-%d %H:%M:%S %Z"))
    rev = git_rev() if os.path.abspath(args.relay_bin).startswith(
        ROOT + os.sep) else "built elsewhere"
    print("machine: %s; relay %s (%s); Postfix %s" % (
        machine(), rev, args.relay_bin, postfix_version()))
    print("load: %d messages of %d bytes, %d concurrent smtp-source sessions "
          "(%s); outbound concurrency %d; "
          "latency: %d sequential samples on one connection"
          % (args.messages, len(msg), args.senders,
             "connections reused, -d" if args.reuse else
             "one connection per message", outbound, args.samples))
    print("load average at start: %.2f %.2f %.2f (other work on the machine "
          "skews absolute figures; compare within one run)" % os.getloadavg())
    print("spools on %s" % work)
    sys.stdout.flush()

    sink = SmtpSink(backlog=4096, max_connections=4 * args.senders + 64)
    sink.start()
    on_exit(sink.stop)

    names = {"a": "(a) smtp-source -> smtp-sink (ceiling)",
             "b": "(b) Postfix store-and-forward",
             "c": "(c) relay, mode = queue",
             "d": "(d) relay, mode = in-session",
             "m": "(m) relay -> maildir (not a relay test)"}
    results = {}
    notes = []

    def relay_setup(mode):
        port = free_port()
        r = RelayProcess(args.relay_bin, work, "relay-" + mode, port,
                         {"delivery": {"mode": mode},
                          "outbound": {"tls": "none",
                                       "max_per_host": outbound},
                          "retry": {"first": "2s", "max_interval": "10s"}},
                         {"*@bench.test": "smtp://127.0.0.1:%d" % sink.port},
                         limits={"max_connections": 4 * args.senders + 100,
                                 "max_connections_per_ip":
                                     4 * args.senders + 100})
        r.start()
        return port, r

    handles = {}

    def fail(key, e):
        results[key]["failed"] = " ".join(str(e).split())
        print("   %s FAILED: %s" % (names[key], results[key]["failed"]))
        sys.stdout.flush()

    try:
        # 1. start every system and send one probe message through it
        for key in systems:
            results[key] = {"name": names[key], "rates": []}
            try:
                if key == "a":
                    port = sink.port
                elif key == "b":
                    handles[key] = Postfix(work, free_port(), sink.port,
                                           outbound)
                    port = handles[key].port
                    handles[key].start()
                elif key == "m":
                    port = free_port()
                    mdir = os.path.join(work, "maildir")
                    handles[key] = RelayProcess(
                        args.relay_bin, work, "relay-maildir", port, {},
                        {"*@bench.test": "maildir:%s" % mdir},
                        limits={"max_connections": 4 * args.senders + 100,
                                "max_connections_per_ip":
                                    4 * args.senders + 100}).start()
                    results[key]["counter"] = MaildirCounter(mdir)
                else:
                    port, handles[key] = relay_setup(
                        "queue" if key == "c" else "in-session")
                results[key]["port"] = port
                probe(port, results[key].get("counter", sink), msg)
            except Failed as e:
                fail(key, e)

        # 2. load rounds, interleaved so that a change in the machine's
        #    load hits every system alike
        for rnd in range(args.repeat):
            # Rotate the order each round, so that no system always runs
            # right after another one's disk writes.
            order = systems[rnd % len(systems):] + systems[:rnd % len(systems)]
            for key in order:
                res = results[key]
                if "failed" in res:
                    continue
                # Flush what the previous run left dirty (Postfix's queue
                # file removals, a relay's spool) and let the disk settle.
                os.sync()
                time.sleep(args.settle)
                try:
                    r = run_load(res["port"], res.get("counter", sink),
                                 args.messages,
                                 args.senders, msgfile, args.timeout,
                                 args.stall, work, key, args.reuse)
                except Failed as e:
                    fail(key, e)
                    continue
                res["rates"].append(r)
                print("   round %d %-38s %6.2f s: %6.0f msg/s delivered, "
                      "%6.0f msg/s accepted (load %.1f)" % (
                          rnd + 1, names[key], r["seconds"],
                          r["delivered_rate"], r["accepted_rate"],
                          os.getloadavg()[0]))
                sys.stdout.flush()
        for key in systems:
            res = results[key]
            if "failed" not in res and res["rates"]:
                res["delivered_rate"] = statistics.median(
                    r["delivered_rate"] for r in res["rates"])
                res["accepted_rate"] = statistics.median(
                    r["accepted_rate"] for r in res["rates"])

        # 3. latency, the systems taken in turn for each sample
        os.sync()
        time.sleep(args.settle)
        live = {k: (results[k]["port"], results[k].get("counter", sink))
                for k in systems if "failed" not in results[k]}
        for key, r in measure_latency(live, msg, args.samples).items():
            res = results[key]
            if isinstance(r, Failed):
                res["latency_failed"] = " ".join(str(r).split())
                print("   latency %s FAILED: %s" % (names[key],
                                                    res["latency_failed"]))
                continue
            res.update(r)
            print("   latency %-38s reply %.2f/%.2f ms, delivered "
                  "%.2f/%.2f ms (median/p99)" % (
                      names[key], res["reply_med"] * 1e3,
                      res["reply_p99"] * 1e3, res["deliv_med"] * 1e3,
                      res["deliv_p99"] * 1e3))
        sys.stdout.flush()
    finally:
        for key, handle in handles.items():
            name = names[key]
            if isinstance(handle, Postfix):
                d = handle.deferred()
                if d:
                    notes.append("%s: %d deliveries deferred (see %s)"
                                 % (name, d, handle.maillog))
                handle.stop()
            else:
                rc = handle.stop()
                left = handle.spool_files()
                try:
                    with open(handle.log, "rb") as f:
                        d = f.read().count(b"status=deferred")
                except OSError:
                    d = 0
                if d:
                    notes.append("%s: %d deliveries deferred" % (name, d))
                if rc not in (0, None):
                    notes.append("%s: relay exited with status %s on SIGTERM"
                                 " (log %s)" % (name, rc, handle.log))
                if left and "failed" not in results[key]:
                    notes.append("%s: %d files left in the spool after every "
                                 "message reached the sink" % (name, left))

    # --- table ---
    print("\nResults (%d x %d B messages, %d senders, median of %d "
          "round(s))" % (args.messages, len(msg), args.senders, args.repeat))
    hdr = "%-40s %11s %11s %21s %21s %15s" % (
        "system", "delivered/s", "accepted/s", "reply ms med/p99",
        "delivered ms med/p99", "added ms med/p99")
    print(hdr)
    print("-" * len(hdr))
    base = results.get("a")
    for key in systems:
        r = results[key]
        if "failed" in r:
            print("%-40s FAILED: %s" % (r["name"], r["failed"]))
            continue
        if "latency_failed" in r:
            notes.append("%s: latency FAILED: %s" % (r["name"],
                                                     r["latency_failed"]))
        line = "%-40s %11.0f %11.0f" % (r["name"], r["delivered_rate"],
                                        r["accepted_rate"])
        if "reply_med" in r:
            line += " %10.2f/%-10.2f %10.2f/%-10.2f" % (
                r["reply_med"] * 1e3, r["reply_p99"] * 1e3,
                r["deliv_med"] * 1e3, r["deliv_p99"] * 1e3)
            if base and "reply_med" in base and key != "a":
                line += " %7.2f/%-7.2f" % (
                    (r["deliv_med"] - base["deliv_med"]) * 1e3,
                    (r["deliv_p99"] - base["deliv_p99"]) * 1e3)
        print(line)

    def ratio(x, y):
        rx, ry = results.get(x), results.get(y)
        if not rx or not ry or "delivered_rate" not in rx \
                or "delivered_rate" not in ry:
            return "n/a"
        return "%.2f" % (rx["delivered_rate"] / ry["delivered_rate"])

    print("\nratios (delivered msg/s): (c)/(b) = %s   (d)/(b) = %s   "
          "(d)/(a) = %s" % (ratio("c", "b"), ratio("d", "b"), ratio("d", "a")))
    print("targets (issue 4): (d)/(b) >= 3.0 and (d)/(a) >= 0.5; "
          "(issue 3): (c)/(b) >= 1.0")
    print("added = delivered latency minus (a)'s; reply = MAIL to the 250 "
          "after DATA; delivered = MAIL to the sink counting the message")
    for n in notes:
        print("note: " + n)
    sink.stop()
    run_cleanups()
    failed = [k for k in systems if "failed" in results[k]]
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        print("\ninterrupted (%s); stopping everything" % e, file=sys.stderr)
        run_cleanups()
        sys.exit(130)
