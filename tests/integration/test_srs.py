"""SRS: forwarded senders rewritten, SRS addresses verified at RCPT, and
returned bounces recorded and handed back to the original sender.

Real peers on loopback: an aiosmtpd destination reached by MX through
dnsmasq, the relay's own Maildir for the original sender.
"""
import os
import re
import smtplib
import subprocess
import time

import pytest

SECRET = "a-test-secret-of-some-length"
SRS_RE = re.compile(r"^SRS0=[^=]{4}=[^=]{2}=example\.test=sender@srs\.example\.test$",
                    re.IGNORECASE)


def wait_until(pred, timeout=20.0, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError("condition not met in %.0fs" % timeout)


def srs_relay(make_relay, tmpdir_path, dest, dns, mode="queue",
              secret=SECRET, store=True):
    mail = os.path.join(tmpdir_path, "mail")
    routes = {
        "sender@example.test": "maildir:%s/sender" % mail,
        "fwd@example.test": "carol@dest.test",
        "local@example.test": "maildir:%s/local" % mail,
        "smtpfwd@example.test": "smtp://127.0.0.1:%d" % dest.port,
    }
    lines = ["[retry]", "first = 1s", "factor = 2", "max_interval = 8s",
             "jitter = 0", "",
             "[delivery]", "mode = %s" % mode, "",
             "[outbound]", "tls = none", "mx_port = %d" % dest.port, "",
             "[dns]", "resolver = %s" % dns.resolver, "",
             "[srs]", "domain = srs.example.test", "secret = %s" % secret, ""]
    if store:
        lines += ["[store]", "backend = sqlite",
                  "path = %s" % os.path.join(tmpdir_path, "state.db"), ""]
    r = make_relay(routes=routes, extra="\n".join(lines))
    r.mail = mail
    return r


def send(relay, rcpts, subject="test", sender="sender@example.test",
         body=b"hello\r\n", raw=None):
    msg = raw if raw is not None else (
        b"From: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@sender.test>\r\n\r\n" % (
            sender.encode(), subject.encode(), subject.encode()) + body)
    with smtplib.SMTP(relay.host, relay.port, timeout=30) as s:
        s.sendmail(sender, rcpts, msg)


def rcpt_reply(relay, sender, rcpt):
    with smtplib.SMTP(relay.host, relay.port, timeout=30) as s:
        s.ehlo("client.test")
        s.mail(sender)
        return s.rcpt(rcpt)


@pytest.fixture
def peers(destination, dns_server):
    dest = destination()
    dns = dns_server(mx={"dest.test": [("mx.dest.test", 10)]},
                     hosts={"mx.dest.test": "127.0.0.1"})
    return dest, dns


@pytest.mark.parametrize("mode", ["queue", "in-session"])
def test_forward_sender_rewritten(make_relay, tmpdir_path, peers, mode):
    dest, dns = peers
    relay = srs_relay(make_relay, tmpdir_path, dest, dns, mode=mode)
    send(relay, ["fwd@example.test"], "fwd")
    msgs = dest.wait_messages(1)
    assert msgs[0].rcpts == ["carol@dest.test"]
    assert SRS_RE.match(msgs[0].mail_from), msgs[0].mail_from
    # smtp:// destinations keep the sender: the next hop is ours.
    send(relay, ["smtpfwd@example.test"], "smtp")
    msgs = dest.wait_messages(2)
    assert msgs[1].mail_from == "sender@example.test"
    # <> is never rewritten (RFC 5321 4.5.5).
    send(relay, ["fwd@example.test"], "null", sender="")
    msgs = dest.wait_messages(3)
    assert msgs[2].mail_from == ""
    assert msgs[2].rcpts == ["carol@dest.test"]
