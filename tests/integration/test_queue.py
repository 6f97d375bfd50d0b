"""Store-and-forward ([delivery] mode = queue): spool, retries, DSNs.

Real peers on loopback: scriptable aiosmtpd destinations, dnsmasq for MX
lookups, and the relay's own Maildir for the sender's notices.
"""
import email
import email.policy
import os
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from conftest import Relay, wait_port

RETRY = """[retry]
first = 1s
factor = 2
max_interval = 8s
jitter = 0.2
lifetime = %s

[delivery]
mode = queue

[outbound]
tls = none
%s
"""


def relay_conf(dest_routes, lifetime="60s", extra=""):
    def build(mail):
        routes = {"sender@example.test": "maildir:%s/sender" % mail}
        routes.update(dest_routes)
        return routes
    return build, RETRY % (lifetime, extra)


def start_relay(make_relay, tmpdir_path, routes, lifetime="60s", extra=""):
    mail = os.path.join(tmpdir_path, "mail")
    full = {"sender@example.test": "maildir:%s/sender" % mail}
    full.update(routes)
    r = make_relay(routes=full, extra=RETRY % (lifetime, extra))
    r.mail = mail
    return r


def send(relay, rcpts, subject="test", sender="sender@example.test", body=b"hello\r\n"):
    msg = b"From: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@sender.test>\r\n\r\n" % (
        sender.encode(), subject.encode(), subject.encode()) + body
    with smtplib.SMTP(relay.host, relay.port, timeout=30) as s:
        s.sendmail(sender, rcpts, msg)


def wait_until(pred, timeout=20.0, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError("condition not met in %.0fs" % timeout)


def notices(relay):
    return [email.message_from_bytes(raw.replace(b"\n", b"\r\n"),
                                     policy=email.policy.default)
            for raw in relay.maildir_messages("sender")]


def status_fields(msg):
    """The per-recipient fields of a message/delivery-status part."""
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            return [dict(b.items()) for b in blocks[1:]], dict(blocks[0].items())
    raise AssertionError("no delivery-status part")


def queue_files(relay):
    q = os.path.join(relay.queue, "queue")
    return sorted(os.listdir(q)) if os.path.isdir(q) else []


def test_delivered_and_removed(make_relay, tmpdir_path, destination):
    dest = destination()
    relay = start_relay(make_relay, tmpdir_path,
                        {"bob@example.test": "smtp://127.0.0.1:%d" % dest.port})
    send(relay, ["bob@example.test"], "one")
    msgs = dest.wait_messages(1)
    assert msgs[0].rcpts == ["bob@example.test"]
    assert msgs[0].mail_from == "sender@example.test"
    assert b"Subject: one" in msgs[0].data and b"Received: from" in msgs[0].data
    wait_until(lambda: queue_files(relay) == [])
    assert "status=sent" in relay.log_text()


def test_4xx_twice_then_250_follows_backoff(make_relay, tmpdir_path, destination):
    dest = destination(rules={"rcpt": {"bob@example.test": [
        "451 4.2.1 try later", "451 4.2.1 try later", "250 2.1.5 ok"]}})
    relay = start_relay(make_relay, tmpdir_path,
                        {"bob@example.test": "smtp://127.0.0.1:%d" % dest.port})
    send(relay, ["bob@example.test"], "retry")
    dest.wait_messages(1, timeout=30)
    times = [c.time for c in dest.rcpt_attempts("bob@example.test")]
    assert len(times) == 3
    gap1, gap2 = times[1] - times[0], times[2] - times[1]
    # first = 1s, factor 2 (jitter rounds away at this scale), counted from
    # the next whole second: gap 1 in [1, 2), gap 2 in [2, 3).
    assert 0.95 <= gap1 < 2.2, times
    assert 1.95 <= gap2 < 3.2, times
    time.sleep(1)
    assert len(dest.messages) == 1          # delivered once
    wait_until(lambda: queue_files(relay) == [])
    assert relay.log_text().count("status=deferred") == 2


def test_5xx_sends_dsn_to_sender(make_relay, tmpdir_path, destination):
    dest = destination(rules={"rcpt": {"bob@example.test": "550 5.1.1 no such user here"}})
    relay = start_relay(make_relay, tmpdir_path,
                        {"bob@example.test": "smtp://127.0.0.1:%d" % dest.port})
    send(relay, ["bob@example.test"], "bounce")
    n = wait_until(lambda: notices(relay))
    msg = n[0]
    assert msg["To"].addresses[0].addr_spec == "sender@example.test"
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    rcpts, per_msg = status_fields(msg)
    assert per_msg["Reporting-MTA"].endswith("relay.example.test")
    assert rcpts[0]["Final-Recipient"].lower().endswith("bob@example.test")
    assert rcpts[0]["Action"] == "failed"
    assert rcpts[0]["Status"] == "5.1.1"
    assert "no such user here" in rcpts[0]["Diagnostic-Code"]
    assert "smtp;" in rcpts[0]["Diagnostic-Code"].replace(" ", "")
    assert "550 550" not in rcpts[0]["Diagnostic-Code"]
    # The human-readable part explains it (bounce classifier) with a fix.
    text = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    body = text.get_content()
    assert "does not exist" in body and "What to do:" in body
    # The notice came from the null sender and quotes the original.
    raw = relay.maildir_messages("sender")[0]
    assert raw.startswith(b"Return-Path: <>\n")
    assert b"Subject: bounce" in raw
    wait_until(lambda: queue_files(relay) == [])


def test_lifetime_over_sends_dsn(make_relay, tmpdir_path, destination):
    dest = destination(rules={"rcpt": {"*": "450 4.2.2 mailbox busy"}})
    relay = start_relay(make_relay, tmpdir_path,
                        {"bob@example.test": "smtp://127.0.0.1:%d" % dest.port},
                        lifetime="4s")
    send(relay, ["bob@example.test"], "expire")
    n = wait_until(lambda: notices(relay), timeout=30)
    rcpts, _ = status_fields(n[0])
    assert rcpts[0]["Action"] == "failed"
    assert rcpts[0]["Status"].startswith("4.")   # the last 4xx status kept
    assert "mailbox busy" in rcpts[0]["Diagnostic-Code"]
    assert len(dest.rcpt_attempts("bob@example.test")) >= 2
    assert dest.messages == []


def test_null_sender_failure_is_not_bounced(make_relay, tmpdir_path, destination):
    dest = destination(rules={"rcpt": {"*": "550 5.1.1 nope"}})
    relay = start_relay(make_relay, tmpdir_path,
                        {"bob@example.test": "smtp://127.0.0.1:%d" % dest.port})
    with smtplib.SMTP(relay.host, relay.port, timeout=30) as s:
        s.sendmail("", ["bob@example.test"], b"Subject: dsn\r\n\r\nx\r\n")
    wait_until(lambda: "never bounced" in relay.log_text())
    wait_until(lambda: queue_files(relay) == [])
    assert notices(relay) == []


def test_restart_with_deferred_mail(make_relay, tmpdir_path, destination):
    dest = destination(rules={"rcpt": {"*": "451 4.3.0 down"}})
    relay = start_relay(make_relay, tmpdir_path,
                        {"bob@example.test": "smtp://127.0.0.1:%d" % dest.port})
    send(relay, ["bob@example.test"], "restart")
    wait_until(lambda: "status=deferred" in relay.log_text())
    assert relay.stop() == 0
    assert len(queue_files(relay)) == 2        # ID.env and ID.msg survive
    dest.set_rules({}, reset_counts=True)
    relay.start()
    dest.wait_messages(1, timeout=30)
    assert "recovered" in relay.log_text()
    wait_until(lambda: queue_files(relay) == [])


def test_forward_via_mx(make_relay, tmpdir_path, destination, dns_server):
    dest = destination()
    dns = dns_server(mx={"dest.test": [("mx.dest.test", 10)]},
                     hosts={"mx.dest.test": "127.0.0.1"},
                     null_mx=["nullmx.test"])
    relay = start_relay(make_relay, tmpdir_path, {
        "fwd@example.test": "carol@dest.test",
        "null@example.test": "x@nullmx.test",
        "nx@example.test": "x@nowhere.test",
    }, extra="mx_port = %d\n\n[dns]\nresolver = %s\n" % (dest.port, dns.resolver))
    send(relay, ["fwd@example.test"], "fwd")
    msgs = dest.wait_messages(1)
    assert msgs[0].rcpts == ["carol@dest.test"]
    # ORCPT tells the next hop who the original recipient was (RFC 3461).
    assert "ORCPT=rfc822;fwd@example.test" in msgs[0].rcpt_args["carol@dest.test"]
    send(relay, ["null@example.test"], "nullmx")
    send(relay, ["nx@example.test"], "nxdomain")
    n = wait_until(lambda: len(notices(relay)) >= 2 and notices(relay))
    statuses = sorted(status_fields(m)[0][0]["Status"] for m in n)
    assert statuses == ["5.1.10", "5.1.2"]


def test_dns_servfail_defers(make_relay, tmpdir_path, destination, dns_server):
    dest = destination()
    dns = dns_server(servfail=["broken.test"])
    relay = start_relay(make_relay, tmpdir_path, {
        "fwd@example.test": "x@broken.test",
    }, extra="mx_port = %d\n\n[dns]\nresolver = %s\n" % (dest.port, dns.resolver))
    send(relay, ["fwd@example.test"], "servfail")
    wait_until(lambda: "status=deferred" in relay.log_text(), timeout=30)
    assert notices(relay) == []
    assert len(queue_files(relay)) == 2


def test_queue_cli(make_relay, tmpdir_path, destination):
    dest = destination(rules={"rcpt": {"*": "451 4.3.0 later"}})
    relay = start_relay(make_relay, tmpdir_path,
                        {"bob@example.test": "smtp://127.0.0.1:%d" % dest.port})
    send(relay, ["bob@example.test"], "cli")
    wait_until(lambda: "status=deferred" in relay.log_text())
    bin_ = os.environ.get("RELAY_BIN")
    out = subprocess.run([bin_, "queue", "list", "--config", relay.conf],
                         capture_output=True, text=True, check=True).stdout
    assert "<sender@example.test>" in out and "bob@example.test" in out
    assert "451" in out
    qid = out.split()[0]
    out = subprocess.run([bin_, "queue", "show", qid, "--config", relay.conf],
                         capture_output=True, text=True, check=True).stdout
    assert "Subject: cli" in out
    # retry: attempt now, then delete with a notice to the sender.
    before = len(dest.rcpt_attempts("bob@example.test"))
    subprocess.run([bin_, "queue", "retry", qid, "--config", relay.conf], check=True)
    wait_until(lambda: len(dest.rcpt_attempts("bob@example.test")) > before)
    subprocess.run([bin_, "queue", "delete", qid, "--config", relay.conf], check=True)
    n = wait_until(lambda: notices(relay))
    rcpts, _ = status_fields(n[0])
    assert rcpts[0]["Status"] == "5.0.0"
    out = subprocess.run([bin_, "queue", "list", "--config", relay.conf],
                         capture_output=True, text=True, check=True).stdout
    wait_until(lambda: "empty" in subprocess.run(
        [bin_, "queue", "list", "--config", relay.conf],
        capture_output=True, text=True).stdout)


def test_kill9_under_load_loses_nothing(make_relay, tmpdir_path, destination):
    """kill -9 while 1,000 messages arrive for a 4xx destination; restart
    with the destination fixed: every message that got a 250 is delivered,
    at most twice (only those in flight at the kill)."""
    dest = destination(rules={"rcpt": {"*": "451 4.3.0 not now"}})
    relay = start_relay(make_relay, tmpdir_path,
                        {"bob@example.test": "smtp://127.0.0.1:%d" % dest.port})
    accepted = set()
    lock = threading.Lock()
    stop = threading.Event()

    def sender(k):
        i = 0
        while not stop.is_set() and i < 100:
            subj = "m%d-%d" % (k, i)
            try:
                with smtplib.SMTP(relay.host, relay.port, timeout=10) as s:
                    s.sendmail("sender@example.test", ["bob@example.test"],
                               b"Subject: " + subj.encode() + b"\r\n\r\nx\r\n")
                with lock:
                    accepted.add(subj)
            except (OSError, smtplib.SMTPException):
                return
            i += 1

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    wait_until(lambda: len(accepted) >= 300, timeout=120)
    relay.proc.send_signal(signal.SIGKILL)
    relay.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(accepted) >= 300
    dest.set_rules({}, reset_counts=True)
    relay.start()
    got = {}

    def all_delivered():
        got.clear()
        for m in dest.messages:
            for line in m.data.split(b"\r\n"):
                if line.startswith(b"Subject: "):
                    s = line[9:].decode()
                    got[s] = got.get(s, 0) + 1
        return accepted <= set(got)

    wait_until(all_delivered, timeout=180, step=0.5)
    missing = accepted - set(got)
    assert not missing
    assert max(got.values()) <= 2
    # Duplicates only for messages in flight at the kill (a handful).
    assert sum(1 for v in got.values() if v > 1) <= 20


def _small_filesystem(path):
    """A 256 KB tmpfs at path; None when this machine forbids mounting."""
    os.makedirs(path)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", path],
                       capture_output=True)
    return r.returncode == 0


def test_disk_full_gives_452_and_recovers(tmpdir_path, destination):
    """A full disk while receiving -> 452 4.3.1, nothing half-stored, and
    the relay goes on once there is room again.  The full disk is a small
    tmpfs; where mounting is not allowed, a file-size limit on the relay
    (EFBIG, handled exactly like ENOSPC) stands in for it."""
    dest = destination(rules={"rcpt": {"*": "451 4.3.0 hold"}})
    mnt = os.path.join(tmpdir_path, "small")
    mounted = _small_filesystem(mnt)
    rdir = os.path.join(tmpdir_path, "r")
    os.makedirs(rdir)
    r = Relay(rdir, routes={"bob@example.test": "smtp://127.0.0.1:%d" % dest.port},
              extra=RETRY % ("60s", ""))
    r.queue = mnt
    r.write_config(open(r.conf).read().replace("dir = %s/queue" % r.dir,
                                               "dir = %s" % mnt))
    if not mounted:
        r.wrap = ["prlimit", "--fsize=200000:unlimited", "--"]
    try:
        r.start()
        try:
            big = b"x" * 900 + b"\r\n"
            codes = []
            for i in range(40):
                try:
                    with smtplib.SMTP(r.host, r.port, timeout=30) as s:
                        s.sendmail("s@sender.test", ["bob@example.test"],
                                   b"Subject: f%d\r\n\r\n" % i + big * (20 if mounted else 250))
                    codes.append(250)
                except smtplib.SMTPDataError as e:
                    codes.append(e.smtp_code)
                    assert e.smtp_code == 452 and b"4.3.1" in e.smtp_error
                    break
            assert 452 in codes, codes
            # Nothing half-stored: every envelope has its data file.
            files = os.listdir(os.path.join(mnt, "queue"))
            envs = {f[:-4] for f in files if f.endswith(".env")}
            msgs = {f[:-4] for f in files if f.endswith(".msg")}
            assert envs == msgs
            assert os.listdir(os.path.join(mnt, "tmp")) == []
            # Let the destination take everything: the queue drains.
            dest.set_rules({}, reset_counts=True)
            subprocess.run([os.environ["RELAY_BIN"], "queue", "retry", "--all",
                            "--config", r.conf], check=True, capture_output=True)
            wait_until(lambda: len(dest.messages) >= len(envs), timeout=60)
            wait_until(lambda: not [f for f in os.listdir(os.path.join(mnt, "queue"))
                                    if f.endswith(".env")], timeout=30)
            with smtplib.SMTP(r.host, r.port, timeout=30) as s:
                s.sendmail("s@sender.test", ["bob@example.test"], b"Subject: after\r\n\r\nok\r\n")
        finally:
            assert r.stop() == 0, r.log_text()
    finally:
        if mounted:
            subprocess.run(["umount", "-l", mnt])


def test_stale_pid_file_signals_nobody(make_relay, tmpdir_path):
    """A relay.pid left by a dead relay must not make the CLI signal
    whatever process now has that pid."""
    relay = start_relay(make_relay, tmpdir_path, {})
    assert relay.stop() == 0
    assert not os.path.exists(os.path.join(relay.queue, "relay.pid"))
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        with open(os.path.join(relay.queue, "relay.pid"), "w") as f:
            f.write("%d\n" % bystander.pid)
        r = subprocess.run([os.environ["RELAY_BIN"], "queue", "retry", "--all",
                            "--config", relay.conf], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "not running" in r.stdout
        time.sleep(0.2)
        assert bystander.poll() is None      # still alive
    finally:
        bystander.kill()
        bystander.wait()
