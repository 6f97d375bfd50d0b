"""Suppression wired into the relay, with real peers: outcomes of queued
delivery attempts recorded in a SQLite store, and RCPTs whose
destinations are all suppressed refused with the suppression text."""
import os
import smtplib
import subprocess
import time

from conftest import RELAY_BIN

CONF = """[retry]
first = 1s
factor = 2
max_interval = 1s
jitter = 0
lifetime = 120s

[delivery]
mode = queue

[outbound]
tls = none

[store]
path = %s

[suppression]
soft_threshold = 5
soft_window = %s
"""


def start(make_relay, tmpdir_path, dest, window="3d"):
    db = os.path.join(tmpdir_path, "state-%d.db" % time.time_ns())
    r = make_relay(routes={"bob@example.test": "smtp://127.0.0.1:%d" % dest.port},
                   extra=CONF % (db, window))
    r.db = db
    return r


def send(relay, rcpt="bob@example.test", subject="t"):
    msg = b"From: <s@sender.test>\r\nSubject: %s\r\n\r\nhello\r\n" % subject.encode()
    with smtplib.SMTP(relay.host, relay.port, timeout=30) as s:
        s.sendmail("s@sender.test", [rcpt], msg)


def rcpt_reply(relay, rcpt="bob@example.test"):
    with smtplib.SMTP(relay.host, relay.port, timeout=30) as s:
        s.ehlo("client.test")
        s.mail("s@sender.test")
        return s.rcpt(rcpt)


def suppress_list(relay):
    out = subprocess.run([RELAY_BIN, "suppress", "list", "--config", relay.conf],
                         capture_output=True, text=True, cwd=relay.dir)
    return out.stdout + out.stderr


def wait_until(pred, timeout=30.0, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError("condition not met in %.0fs" % timeout)


def test_hard_bounce_suppresses_and_next_rcpt_refused(make_relay, tmpdir_path, destination):
    dest = destination(rules={"rcpt": {"bob@example.test": "550 5.1.1 no such user here"}})
    relay = start(make_relay, tmpdir_path, dest)
    assert rcpt_reply(relay)[0] == 250          # nothing known yet
    send(relay)
    wait_until(lambda: "suppressed after" in relay.log_text())
    code, text = rcpt_reply(relay)
    assert code == 550
    assert b"5.1.1" in text and b"suppressed since" in text and b"userunknown" in text
    assert "bob@example.test via smtp://127.0.0.1:%d" % dest.port in suppress_list(relay)


def test_four_soft_then_success_not_suppressed(make_relay, tmpdir_path, destination):
    dest = destination(rules={"rcpt": {"bob@example.test": ["452 4.2.2 mailbox full"] * 4
                                       + ["250 2.1.5 ok"]}})
    relay = start(make_relay, tmpdir_path, dest, window="1s")
    send(relay)
    dest.wait_messages(1, timeout=40)
    assert len(dest.rcpt_attempts("bob@example.test")) == 5
    time.sleep(0.5)     # the outcome is recorded by the persist job
    assert rcpt_reply(relay)[0] == 250
    assert "suppressed after" not in relay.log_text()


def test_five_soft_over_window_suppress(make_relay, tmpdir_path, destination):
    dest = destination(rules={"rcpt": {"bob@example.test": "452 4.2.2 mailbox full"}})
    relay = start(make_relay, tmpdir_path, dest, window="2s")
    send(relay)
    wait_until(lambda: "suppressed after" in relay.log_text(), timeout=40)
    assert len(dest.rcpt_attempts("bob@example.test")) >= 5
    code, text = rcpt_reply(relay)
    assert code == 550 and b"suppressed since" in text


INSESSION = """[delivery]
mode = in-session
rcpt_check = yes

[outbound]
tls = none

[store]
path = %s
"""


def test_in_session_refusal_suppresses(make_relay, tmpdir_path, destination):
    dest = destination(rules={"rcpt": {"bob@example.test": "550 5.1.1 no such user here"}})
    db = os.path.join(tmpdir_path, "state-ins.db")
    relay = make_relay(routes={"bob@example.test": "smtp://127.0.0.1:%d" % dest.port},
                       extra=INSESSION % db)
    code, text = rcpt_reply(relay)
    assert code == 550 and b"no such user here" in text     # the destination's word
    wait_until(lambda: "suppressed after" in relay.log_text())
    n = len(dest.rcpt_attempts("bob@example.test"))
    code, text = rcpt_reply(relay)
    assert code == 550 and b"suppressed since" in text
    assert len(dest.rcpt_attempts("bob@example.test")) == n   # not asked again


def test_fan_out_skips_suppressed_destination(make_relay, tmpdir_path, destination):
    dead = destination(rules={"rcpt": {"bob@example.test": "550 5.1.1 no such user here"}})
    live = destination()
    db = os.path.join(tmpdir_path, "state-fan.db")
    relay = make_relay(routes={"bob@example.test": "smtp://127.0.0.1:%d, smtp://127.0.0.1:%d"
                               % (dead.port, live.port)},
                       extra=CONF % (db, "3d"))
    send(relay, subject="one")
    live.wait_messages(1)
    wait_until(lambda: "suppressed after" in relay.log_text())
    n = len(dead.rcpt_attempts("bob@example.test"))
    send(relay, subject="two")
    live.wait_messages(2)
    time.sleep(1)
    assert len(dead.rcpt_attempts("bob@example.test")) == n
    assert "skipping suppressed destination" in relay.log_text()
