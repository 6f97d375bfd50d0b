"""In-session delivery (issue 4): the relay asks the destination while the
sender is connected, and answers with the truth.

Real peers on loopback: scripted aiosmtpd destinations (peers.Destination),
dnsmasq for MX lookups, the relay binary.  The sender is a raw SMTP client
so replies, their order and their timing are visible.
"""
import email
import email.policy
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import Relay

SENDER = "alice@example.test"
BODY = "Subject: in-session test\r\n\r\nHello from the sender.\r\n"


def relay_conf(budget="2s", mode="in-session", rcpt_check="yes",
               split="no", max_per_host=None, dns=None, mx_port=None):
    lines = ["[retry]", "first = 1s", "factor = 1", "jitter = 0", "",
             "[outbound]", "tls = none"]
    if max_per_host:
        lines.append("max_per_host = %d" % max_per_host)
    if mx_port:
        lines.append("mx_port = %d" % mx_port)
    lines += ["", "[delivery]", "mode = %s" % mode,
              "rcpt_check = %s" % rcpt_check,
              "in_session_budget = %s" % budget,
              "split_by_destination = %s" % split, ""]
    if dns:
        lines += ["[dns]", "resolver = %s" % dns.resolver, ""]
    return "\n".join(lines)


class Sender:
    """One inbound session to the relay."""

    def __init__(self, relay, timeout=20):
        self.c = relay.connect(timeout=timeout)
        code, _ = self.c.reply()
        assert code == 220

    def ehlo(self):
        self.c.send("EHLO sender.test\r\n")
        code, text = self.c.reply()
        assert code == 250, text
        return text

    def cmd(self, line):
        return self.c.cmd(line)

    def timed(self, line):
        t = time.monotonic()
        code, text = self.c.cmd(line)
        return code, text, time.monotonic() - t

    def data(self, body=BODY):
        code, text = self.c.cmd("DATA")
        assert code == 354, text
        self.c.send(body + ".\r\n")
        return self.c.reply()

    def quit(self):
        try:
            self.c.cmd("QUIT")
        except (ConnectionError, OSError):
            pass
        self.c.close()


def send(relay, rcpts, body=BODY, sender=SENDER):
    """MAIL + RCPTs (+ DATA if any was accepted); returns (rcpt replies,
    data reply or None)."""
    s = Sender(relay)
    try:
        s.ehlo()
        code, text = s.cmd("MAIL FROM:<%s>" % sender)
        assert code == 250, text
        rr = [s.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        if not any(code == 250 for code, _ in rr):
            return rr, None
        return rr, s.data(body)
    finally:
        s.quit()


def queue_files(relay):
    q = os.path.join(relay.queue, "queue")
    return sorted(os.listdir(q)) if os.path.isdir(q) else []


def wait_until(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def dsn_of(raw):
    """(message, [per-recipient status fields]) of an RFC 3464 report."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1
    # message/delivery-status parses as a list of header blocks: the first
    # is per-message, the rest per recipient (RFC 3464 2.1).
    blocks = status[0].get_payload()
    return msg, blocks[1:]


@pytest.fixture
def relay_with(tmpdir_path):
    """relay_with(routes={addr: spec}, **conf) -> a started relay.  The
    sender's own domain is hosted with a Maildir, so its notices can be
    read back; "{mail}" in a spec is the relay's Maildir root."""
    started = []

    def factory(routes, **conf):
        sub = tempfile.mkdtemp(dir=tmpdir_path)
        mail = os.path.join(sub, "mail")
        full = {SENDER: "maildir:%s/alice" % mail,
                "postmaster@relay.example.test": "maildir:%s/postmaster" % mail}
        for k, v in routes.items():
            full[k] = v.replace("{mail}", mail)
        r = Relay(sub, extra=relay_conf(**conf), routes=full)
        started.append(r)
        return r.start()

    yield factory
    for r in started:
        rc = r.stop()
        # A clean SIGTERM exit is 0; ASan findings make it non-zero.
        assert rc == 0, "relay exited %s; log:\n%s" % (rc, r.log_text())


def alice_notices(relay):
    return relay.maildir_messages("alice")


# ---------------------------------------------------------------------------
# RCPT time
# ---------------------------------------------------------------------------

def test_rcpt_5xx_passes_through_with_enhanced_code(relay_with, destination,
                                                    dns_server):
    dest = destination(rules={"rcpt": {
        "bob@dest.test": "550 5.1.1 <bob@dest.test>: user unknown"}})
    dns = dns_server(mx={"dest.test": "mx.dest.test"},
                     hosts={"mx.dest.test": "127.0.0.1"})
    relay = relay_with({"bob@example.test": "bob@dest.test",
                        "carol@example.test": "carol@dest.test"},
                       dns=dns, mx_port=dest.port)
    rr, data = send(relay, ["bob@example.test", "carol@example.test"])
    code, text = rr[0]
    assert code == 550, text
    assert text == ("550 5.1.1 <bob@example.test>: mx.dest.test said: "
                    "5.1.1 <bob@dest.test>: user unknown")
    assert rr[1][0] == 250
    assert data[0] == 250, data
    assert "delivered" in data[1]
    msgs = dest.wait_messages(1)
    assert msgs[0].rcpts == ["carol@dest.test"]
    # The refused recipient is not part of the transaction at all.
    assert len(dest.messages) == 1
    assert queue_files(relay) == []
    time.sleep(0.3)
    assert alice_notices(relay) == []


def test_rcpt_mail_from_refused_passes_through(relay_with, destination):
    dest = destination(rules={"mail": {
        SENDER: "550 5.7.1 sender blocked by policy"}})
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address})
    rr, data = send(relay, ["bob@example.test"])
    assert rr[0][0] == 550
    assert rr[0][1] == ("550 5.7.1 <bob@example.test>: 127.0.0.1 said: "
                        "5.7.1 sender blocked by policy")
    assert data is None


def test_pipelined_replies_stay_in_order(relay_with, destination):
    slow = destination(rules={"rcpt": {"bob@example.test": "stall:1"}})
    fast = destination(rules={"rcpt": {
        "carol@example.test": "550 5.1.1 no such user here"}})
    relay = relay_with({"bob@example.test": "smtp://%s" % slow.address,
                        "carol@example.test": "smtp://%s" % fast.address,
                        "dave@example.test": "maildir:{mail}/dave"})
    s = Sender(relay)
    s.ehlo()
    # One write: MAIL, three RCPTs, DATA (RFC 2920).  carol's refusal
    # arrives first from its destination but must be sent third.
    s.c.send("MAIL FROM:<%s>\r\nRCPT TO:<bob@example.test>\r\n"
             "RCPT TO:<carol@example.test>\r\nRCPT TO:<dave@example.test>\r\n"
             "DATA\r\n" % SENDER)
    got = [s.c.reply() for _ in range(5)]
    assert [g[0] for g in got] == [250, 250, 550, 250, 354], got
    assert "127.0.0.1 said: 5.1.1 no such user here" in got[2][1]
    s.c.send(BODY + ".\r\n")
    code, text = s.c.reply()
    assert code == 250, text
    s.quit()
    assert slow.wait_messages(1)[0].rcpts == ["bob@example.test"]
    assert fast.messages == []
    assert len(relay.maildir_messages("dave")) == 1
    assert queue_files(relay) == []


# ---------------------------------------------------------------------------
# DATA time
# ---------------------------------------------------------------------------

def test_all_accepted_stores_nothing(relay_with, destination):
    dest = destination()
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address,
                        "carol@example.test": "smtp://%s" % dest.address})
    trace = os.path.join(relay.dir, "strace.out")
    st = subprocess.Popen(["strace", "-f", "-qq", "-o", trace, "-e",
                           "trace=fsync,fdatasync,rename,renameat,renameat2",
                           "-p", str(relay.proc.pid)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    traced = st.poll() is None
    try:
        rr, data = send(relay, ["bob@example.test", "carol@example.test"])
        assert [c for c, _ in rr] == [250, 250]
        assert data[0] == 250 and "delivered as" in data[1], data
        msgs = dest.wait_messages(1)
        assert msgs[0].rcpts == ["bob@example.test", "carol@example.test"]
        assert msgs[0].data.endswith(BODY.encode())
        assert b"Received: from sender.test" in msgs[0].data
        assert queue_files(relay) == []
        assert os.listdir(os.path.join(relay.queue, "tmp")) == []
    finally:
        if traced:
            st.send_signal(signal.SIGINT)
            st.wait(timeout=10)
    if traced:
        with open(trace) as f:
            calls = [l for l in f if "fsync" in l or "rename" in l]
        assert calls == [], calls
    else:
        pytest.skip("strace could not attach (ptrace not allowed): spool "
                    "contents checked only")


def test_data_5xx_passes_through_and_nothing_is_stored(relay_with, destination):
    dest = destination(rules={"data": "554 5.7.1 Message rejected as spam"})
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address})
    rr, data = send(relay, ["bob@example.test"])
    assert rr[0][0] == 250
    assert data == (554, "554 5.7.1 127.0.0.1 said: 5.7.1 Message rejected "
                         "as spam")
    assert len(dest.transactions) == 1 and dest.messages == []
    time.sleep(0.5)
    assert queue_files(relay) == []
    assert alice_notices(relay) == []   # the 5xx told the sender already
    log = relay.log_text()
    assert "status=bounced" in log


def test_4xx_is_queued_and_delivered_later(relay_with, destination):
    dest = destination(rules={"rcpt": {"bob@example.test": [
        "451 4.2.1 Mailbox busy, try later", "250 2.1.5 Ok"]}})
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address})
    rr, data = send(relay, ["bob@example.test"])
    assert rr[0][0] == 250          # temporary: the relay takes it on
    assert data[0] == 250 and "queued as" in data[1], data
    qid = data[1].split()[-1]
    assert "%s.env" % qid in queue_files(relay)
    with open(os.path.join(relay.queue, "queue", qid + ".env")) as f:
        env = f.read()
    assert "state pending" in env and "4.2.1" in env
    # The scheduler ([retry] first = 1s) delivers it.
    msgs = dest.wait_messages(1, timeout=15)
    assert msgs[0].rcpts == ["bob@example.test"]
    wait_until(lambda: queue_files(relay) == [], what="queue to empty")
    assert [c.code for c in dest.rcpt_attempts("bob@example.test")] == [451, 250]


def test_data_4xx_is_queued_and_delivered_later(relay_with, destination):
    dest = destination(rules={"data": ["451 4.3.0 Queue full, try again",
                                       "250 2.0.0 Ok"]})
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address})
    rr, data = send(relay, ["bob@example.test"])
    assert rr[0][0] == 250
    assert data[0] == 250 and "queued as" in data[1], data
    msgs = dest.wait_messages(1, timeout=15)
    assert msgs[0].rcpts == ["bob@example.test"]
    assert len(dest.transactions) == 2
    wait_until(lambda: queue_files(relay) == [], what="queue to empty")
    assert alice_notices(relay) == []


def test_forward_to_missing_domain_is_refused_at_rcpt(relay_with, dns_server):
    dns = dns_server()      # every name under .test but these: NXDOMAIN
    relay = relay_with({"x@example.test": "x@nowhere.test"}, dns=dns)
    rr, data = send(relay, ["x@example.test"])
    code, text = rr[0]
    assert code == 550, text
    assert text.startswith("550 5.1.2 <x@example.test>: ")
    assert "nowhere.test" in text
    assert data is None
    assert queue_files(relay) == []


def test_mixed_outcome_250_and_dsn(relay_with, destination):
    ok = destination()
    bad = destination(rules={"data": "550 5.7.1 Content refused by policy"})
    relay = relay_with({"bob@example.test": "smtp://%s" % ok.address,
                        "carol@example.test": "smtp://%s" % bad.address})
    rr, data = send(relay, ["bob@example.test", "carol@example.test"],
                    body="Subject: mixed\r\nMessage-ID: <m1@sender.test>\r\n"
                         "\r\nbody\r\n")
    assert [c for c, _ in rr] == [250, 250]
    assert data[0] == 250, data
    assert ok.wait_messages(1)[0].rcpts == ["bob@example.test"]
    notes = wait_until(lambda: alice_notices(relay), what="the DSN")
    assert len(notes) == 1
    msg, rcpts = dsn_of(notes[0])
    assert msg["From"].lower().startswith("mail delivery system") or \
        "relay.example.test" in msg["From"]
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Final-Recipient"].lower() == "rfc822; carol@example.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.7.1"
    assert "Content refused by policy" in r["Diagnostic-Code"]
    # The original's headers come back (RET not given: headers only).
    assert b"Message-ID: <m1@sender.test>" in notes[0]
    wait_until(lambda: queue_files(relay) == [], what="queue to empty")


def test_stall_past_budget_at_rcpt_is_queued(relay_with, destination):
    dest = destination(rules={"rcpt": {"bob@example.test": [
        "stall:4", "250 2.1.5 Ok"]}})
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address},
                       budget="2s")
    s = Sender(relay)
    s.ehlo()
    assert s.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250
    code, text, took = s.timed("RCPT TO:<bob@example.test>")
    assert code == 250, text
    assert 1.5 < took < 3.5, took     # the budget, not the stall
    code, text = s.data()
    assert code == 250 and "queued as" in text, text
    s.quit()
    msgs = dest.wait_messages(1, timeout=20)
    assert msgs[0].rcpts == ["bob@example.test"]
    wait_until(lambda: queue_files(relay) == [], what="queue to empty")


def test_stall_past_budget_at_data_is_queued(relay_with, destination):
    dest = destination(rules={"data": ["stall:4 451 4.4.2 too slow",
                                       "250 2.0.0 Ok"]})
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address},
                       budget="2s")
    s = Sender(relay)
    s.ehlo()
    assert s.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250
    assert s.cmd("RCPT TO:<bob@example.test>")[0] == 250
    t = time.monotonic()
    code, text = s.data()
    took = time.monotonic() - t
    assert code == 250 and "queued as" in text, text
    assert 1.5 < took < 3.5, took
    s.quit()
    msgs = dest.wait_messages(1, timeout=20)
    assert msgs[0].rcpts == ["bob@example.test"]
    wait_until(lambda: queue_files(relay) == [], what="queue to empty")


def test_sender_disconnect_mid_data_sends_nothing(relay_with, destination):
    dest = destination()
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address})
    s = Sender(relay)
    s.ehlo()
    assert s.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250
    assert s.cmd("RCPT TO:<bob@example.test>")[0] == 250
    assert s.cmd("DATA")[0] == 354
    s.c.send("Subject: half\r\n\r\nfirst line of a message that never ends\r\n")
    time.sleep(0.3)
    s.c.close()
    # The destination saw MAIL and RCPT, then RSET: never DATA.
    dest.wait_for(lambda: dest.commands_for("RSET"), timeout=10)
    time.sleep(0.5)
    assert dest.commands_for("DATA") == []
    assert dest.transactions == []
    assert queue_files(relay) == []
    # The pooled session is reused for the next sender.
    rr, data = send(relay, ["bob@example.test"])
    assert data[0] == 250
    assert len(dest.wait_messages(1)) == 1
    assert len(dest.connections) == 1


def test_sender_disconnect_while_rcpt_waits(relay_with, destination):
    dest = destination(rules={"rcpt": {"bob@example.test": ["stall:1", ""]}})
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address},
                       budget="5s")
    s = Sender(relay)
    s.ehlo()
    assert s.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250
    # Pipelined behind the waiting RCPT: must not run, the sender is gone.
    s.c.send("RCPT TO:<bob@example.test>\r\nDATA\r\n")
    time.sleep(0.2)
    s.c.close()
    time.sleep(1.5)
    assert dest.commands_for("DATA") == []
    assert dest.transactions == []
    # The relay is fine and the destination too.
    rr, data = send(relay, ["bob@example.test"])
    assert rr[0][0] == 250 and data[0] == 250, (rr, data)
    assert len(dest.wait_messages(1)) == 1
    assert queue_files(relay) == []


def test_failed_content_check_aborts_outbound(relay_with, destination):
    dest = destination()
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address})
    s = Sender(relay)
    s.ehlo()
    assert s.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250
    assert s.cmd("RCPT TO:<bob@example.test>")[0] == 250
    assert s.cmd("DATA")[0] == 354
    # 60 Received: headers: a mail loop (limits default 50) -> refused.
    hops = "".join("Received: from hop%d by x; Thu, 1 Jan 2024 00:00:00 "
                   "+0000\r\n" % i for i in range(60))
    s.c.send(hops + "Subject: loop\r\n\r\nx\r\n.\r\n")
    code, text = s.c.reply()
    assert code == 554 or code == 550, text
    s.quit()
    dest.wait_for(lambda: dest.commands_for("RSET"), timeout=10)
    assert dest.commands_for("DATA") == []
    assert dest.transactions == []


def test_fanout_one_destination_failing(relay_with, destination):
    d1 = destination()
    d2 = destination(rules={"rcpt": {
        "bob@example.test": "550 5.2.1 Mailbox disabled"}})
    relay = relay_with({"bob@example.test": "smtp://%s, smtp://%s"
                        % (d1.address, d2.address)})
    rr, data = send(relay, ["bob@example.test"])
    # Refused only if every destination refuses: one accepted.
    assert rr[0][0] == 250
    assert data[0] == 250, data
    assert d1.wait_messages(1)[0].rcpts == ["bob@example.test"]
    assert d2.transactions == []
    notes = wait_until(lambda: alice_notices(relay), what="the DSN")
    _, rcpts = dsn_of(notes[0])
    assert len(rcpts) == 1
    assert rcpts[0]["Final-Recipient"].lower() == "rfc822; bob@example.test"
    assert rcpts[0]["Status"] == "5.2.1"
    assert "Mailbox disabled" in rcpts[0]["Diagnostic-Code"]
    wait_until(lambda: queue_files(relay) == [], what="queue to empty")


def test_fanout_all_destinations_refuse(relay_with, destination):
    d1 = destination(rules={"rcpt": {"bob@example.test": "550 5.1.1 gone"}})
    d2 = destination(rules={"rcpt": {"bob@example.test": "553 5.1.3 bad"}})
    relay = relay_with({"bob@example.test": "smtp://%s, smtp://%s"
                        % (d1.address, d2.address)})
    rr, data = send(relay, ["bob@example.test"])
    assert rr[0][0] in (550, 553), rr
    assert "said:" in rr[0][1]
    assert data is None


def test_fanout_with_maildir_and_failing_smtp(relay_with, destination):
    d = destination(rules={"rcpt": {"bob@example.test": "550 5.1.1 gone"}})
    relay = relay_with({"bob@example.test": "maildir:{mail}/bob, smtp://%s"
                        % d.address})
    rr, data = send(relay, ["bob@example.test"])
    assert rr[0][0] == 250
    assert data[0] == 250
    assert len(relay.maildir_messages("bob")) == 1
    notes = wait_until(lambda: alice_notices(relay), what="the DSN")
    _, rcpts = dsn_of(notes[0])
    assert rcpts[0]["Status"] == "5.1.1"


def test_rcpt_check_off_reports_at_data(relay_with, destination):
    dest = destination(rules={"rcpt": {
        "bob@example.test": "550 5.1.1 user unknown"}})
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address},
                       rcpt_check="no")
    rr, data = send(relay, ["bob@example.test"])
    assert rr[0][0] == 250       # not asked to wait at RCPT
    assert data[0] == 550
    assert data[1] == ("550 5.1.1 <bob@example.test>: 127.0.0.1 said: "
                       "5.1.1 user unknown")
    assert queue_files(relay) == []


# ---------------------------------------------------------------------------
# split_by_destination, mode = queue
# ---------------------------------------------------------------------------

def test_split_by_destination(relay_with, destination):
    d1 = destination()
    d2 = destination()
    relay = relay_with({"bob@example.test": "smtp://%s" % d1.address,
                        "carol@example.test": "smtp://%s" % d2.address,
                        "dave@example.test": "smtp://%s" % d1.address},
                       split="yes")
    rr, data = send(relay, ["bob@example.test", "carol@example.test",
                            "dave@example.test"])
    assert [c for c, _ in rr] == [250, 452, 250]
    assert rr[1][1].startswith("452 4.5.3 ")
    assert data[0] == 250
    rr, data = send(relay, ["carol@example.test"])
    assert rr[0][0] == 250 and data[0] == 250
    assert d1.wait_messages(1)[0].rcpts == ["bob@example.test",
                                            "dave@example.test"]
    assert d2.wait_messages(1)[0].rcpts == ["carol@example.test"]


def test_queue_mode_keeps_store_and_forward(relay_with, destination):
    dest = destination(rules={"rcpt": {
        "bob@example.test": "550 5.1.1 user unknown"}})
    relay = relay_with({"bob@example.test": "smtp://%s" % dest.address},
                       mode="queue")
    rr, data = send(relay, ["bob@example.test"])
    assert rr[0][0] == 250                  # nobody asked at RCPT
    assert data[0] == 250 and "queued as" in data[1]
    # The queue manager bounces it: a DSN to the sender.
    notes = wait_until(lambda: alice_notices(relay), what="the DSN")
    _, rcpts = dsn_of(notes[0])
    assert rcpts[0]["Status"] == "5.1.1"
    # Destination asked only later, by the queue manager, once.
    assert len(dest.rcpt_attempts("bob@example.test")) == 1


# ---------------------------------------------------------------------------
# Under load: pool, caps, isolation
# ---------------------------------------------------------------------------

def max_overlap(conns):
    ev = []
    now = time.time()
    for c in conns:
        ev.append((c.time, 1))
        ev.append((c.closed or now, -1))
    ev.sort(key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def test_pool_reuses_sessions_and_holds_the_cap(relay_with, destination):
    dest = destination(rules={"rcpt": {"*": "stall:0.3"}})
    relay = relay_with({"*@example.test": "smtp://%s" % dest.address},
                       max_per_host=2, budget="10s")
    results = []

    def one(i):
        rr, data = send(relay, ["user%d@example.test" % i])
        results.append((rr[0][0], data[0] if data else None))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8
    assert all(r == (250, 250) for r in results), results
    dest.wait_messages(8, timeout=20)
    assert max_overlap(dest.connections) <= 2
    assert len(dest.connections) <= 2 + 1    # reused, not one per message
    assert queue_files(relay) == []


def test_pool_exhausted_queues_within_budget(relay_with, destination):
    dest = destination()
    relay = relay_with({"*@example.test": "smtp://%s" % dest.address},
                       max_per_host=1, budget="2s")
    # A holds the only connection (transaction open, no DATA yet).
    a = Sender(relay)
    a.ehlo()
    assert a.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250
    assert a.cmd("RCPT TO:<one@example.test>")[0] == 250
    b = Sender(relay)
    b.ehlo()
    assert b.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250
    code, text, took = b.timed("RCPT TO:<two@example.test>")
    assert code == 250, text
    assert 1.5 < took < 3.5, took          # waited the budget, no longer
    code, text = b.data()
    assert code == 250 and "queued as" in text, text
    b.quit()
    code, text = a.data()
    assert code == 250 and "delivered" in text, text
    a.quit()
    msgs = dest.wait_messages(2, timeout=20)
    assert sorted(m.rcpts[0] for m in msgs) == ["one@example.test",
                                                "two@example.test"]
    assert max_overlap(dest.connections) <= 1
    wait_until(lambda: queue_files(relay) == [], what="queue to empty")


def test_slow_destination_delays_only_its_senders(relay_with, destination):
    slow = destination(rules={"rcpt": {"*": "stall:2"}})
    fast = destination()
    relay = relay_with({"slow@example.test": "smtp://%s" % slow.address,
                        "fast@example.test": "smtp://%s" % fast.address},
                       budget="10s")
    out = {}

    def go(name):
        t = time.monotonic()
        rr, data = send(relay, ["%s@example.test" % name])
        out[name] = (rr[0][0], data[0] if data else None,
                     time.monotonic() - t)

    ts = threading.Thread(target=go, args=("slow",))
    ts.start()
    time.sleep(0.3)
    go("fast")
    assert out["fast"][:2] == (250, 250)
    assert out["fast"][2] < 1.0, out["fast"]
    ts.join(20)
    assert out["slow"][:2] == (250, 250)
    assert out["slow"][2] >= 2.0
