"""SRS: forwarded senders rewritten, SRS addresses verified at RCPT, and
returned bounces recorded and handed back to the original sender.

Real peers on loopback: an aiosmtpd destination reached by MX through
dnsmasq, the relay's own Maildir for the original sender.
"""
import json
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


def srs0(local, host, secret=SECRET, days_ago=0, domain="srs.example.test"):
    """An SRS0 address made as src/srs.c makes it (to forge and age them)."""
    import base64
    import hashlib
    import hmac
    b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    day = (int(time.time()) // 86400 - days_ago) % 1024
    ts = b32[day >> 5] + b32[day & 31]
    data = b"\0".join(f.lower().encode() for f in (ts, host, local)) + b"\0"
    mac = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    h = base64.b64encode(mac)[:4].decode()
    return "SRS0=%s=%s=%s=%s@%s" % (h, ts, host, local, domain)


def test_srs_rcpt_verified(make_relay, tmpdir_path, peers):
    dest, dns = peers
    relay = srs_relay(make_relay, tmpdir_path, dest, dns)
    good = srs0("sender", "example.test")
    assert rcpt_reply(relay, "", good)[0] == 250
    # Case does not matter (some MTAs fold it).
    assert rcpt_reply(relay, "", good.upper())[0] == 250
    # A forged hash.
    h = good.split("=")[1]
    forged = good.replace("=" + h + "=", "=" + ("AAAA" if h != "AAAA" else "BBBB") + "=")
    code, text = rcpt_reply(relay, "", forged)
    assert code == 550 and text.startswith(b"5.7.1") and b"invalid SRS" in text
    # Made under another secret.
    code, text = rcpt_reply(relay, "", srs0("sender", "example.test",
                                             secret="some-other-secret-value"))
    assert code == 550 and text.startswith(b"5.7.1")
    # Signed right but older than max_age (21 days).
    code, text = rcpt_reply(relay, "", srs0("sender", "example.test", days_ago=30))
    assert code == 550 and text.startswith(b"5.7.1") and b"expired" in text
    # Not an SRS address at all.
    code, text = rcpt_reply(relay, "", "plain@srs.example.test")
    assert code == 550 and text.startswith(b"5.7.1")
    # Valid, but for a user of a hosted domain we do not have.
    code, _ = rcpt_reply(relay, "", srs0("nobody", "example.test"))
    assert code == 550


def dsn_bounce(srs_addr, rcpt="carol@dest.test"):
    return ("From: Mail Delivery System <MAILER-DAEMON@dest.test>\r\n"
            "To: <%s>\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status;"
            " boundary=\"BOUND\"\r\n\r\n"
            "--BOUND\r\nContent-Type: text/plain\r\n\r\n"
            "Your message could not be delivered.\r\n\r\n"
            "--BOUND\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.dest.test\r\n\r\n"
            "Final-Recipient: rfc822; %s\r\n"
            "Action: failed\r\n"
            "Status: 5.1.1\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
            "--BOUND\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            "From: <sender@example.test>\r\nSubject: fwd\r\n\r\n"
            "--BOUND--\r\n" % (srs_addr, rcpt)).encode()


@pytest.mark.parametrize("mode", ["queue", "in-session"])
def test_srs_round_trip(make_relay, tmpdir_path, peers, mode):
    dest, dns = peers
    relay = srs_relay(make_relay, tmpdir_path, dest, dns, mode=mode)
    send(relay, ["fwd@example.test"], "fwd")
    srs_addr = dest.wait_messages(1)[0].mail_from
    assert SRS_RE.match(srs_addr), srs_addr
    # Later, dest.test bounces it back to the SRS address.
    send(relay, [srs_addr], sender="", raw=dsn_bounce(srs_addr))
    got = wait_until(lambda: relay.maildir_messages("sender"))
    assert b"Final-Recipient: rfc822; carol@dest.test" in got[0]
    bin_ = os.environ.get("RELAY_BIN")

    def report():
        out = subprocess.run([bin_, "bounces", "report", "--json", "--config",
                              relay.conf], capture_output=True, text=True,
                             check=True).stdout
        return "returned-bounce" in out and out
    out = wait_until(report)
    rep = json.loads(out)
    assert rep["by_source"] == [{"source": "returned-bounce", "count": 1}]
    assert rep["by_reason"] == [{"reason": "userunknown", "count": 1}]
    assert rep["by_domain"] == [{"domain": "dest.test", "count": 1}]
    assert rep["hard"] == 1
    # A 5.1.1 hard bounce suppresses the forwarded destination.
    show = subprocess.run([bin_, "suppress", "show", "carol@dest.test",
                           "--config", relay.conf], capture_output=True,
                          text=True)
    assert show.returncode == 0 and "5.1.1" in show.stdout, show.stdout + show.stderr


@pytest.mark.parametrize("mode", ["queue", "in-session"])
def test_srs_bounce_to_foreign_sender(make_relay, tmpdir_path, destination,
                                      dns_server, mode):
    """The original sender is not ours: the bounce goes back to it by MX."""
    dest = destination()
    dns = dns_server(mx={"dest.test": [("mx.dest.test", 10)],
                         "far.test": [("mx.dest.test", 10)]},
                     hosts={"mx.dest.test": "127.0.0.1"})
    relay = srs_relay(make_relay, tmpdir_path, dest, dns, mode=mode)
    send(relay, ["fwd@example.test"], "fwd", sender="someone@far.test")
    srs_addr = dest.wait_messages(1)[0].mail_from
    assert re.match(r"^SRS0=[^=]{4}=[^=]{2}=far\.test=someone@srs\.example\.test$",
                    srs_addr, re.IGNORECASE), srs_addr
    send(relay, [srs_addr], sender="", raw=dsn_bounce(srs_addr))
    msgs = dest.wait_messages(2)
    assert msgs[1].rcpts == ["someone@far.test"]
    assert msgs[1].mail_from == ""
    assert b"Final-Recipient: rfc822; carol@dest.test" in msgs[1].data
    bin_ = os.environ.get("RELAY_BIN")

    def report():
        out = subprocess.run([bin_, "bounces", "report", "--json", "--config",
                              relay.conf], capture_output=True, text=True,
                             check=True).stdout
        return "returned-bounce" in out and out
    rep = json.loads(wait_until(report))
    assert rep["by_source"] == [{"source": "returned-bounce", "count": 1}]
