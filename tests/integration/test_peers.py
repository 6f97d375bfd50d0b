"""Self-tests of the test peers (peers.py), with smtplib and dig only.

These do not start the relay: they prove the peers behave as scripted, so
that a relay test failing against them points at the relay.
"""
import os
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from peers import Destination, dns_query


def dig(dns, qtype, name, tcp=False):
    args = ["dig", "@127.0.0.1", "-p", str(dns.port), "+tries=1", "+time=3",
            qtype, name]
    if tcp:
        args.insert(1, "+tcp")
    out = subprocess.run(args, capture_output=True, text=True, timeout=20).stdout
    status = None
    answers = []
    section = None
    for line in out.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
        if line.startswith(";; ANSWER SECTION"):
            section = "answer"
            continue
        if line.startswith(";;"):
            section = None
            continue
        if section == "answer" and line.strip():
            f = line.split()
            answers.append((f[3], " ".join(f[4:])))
    return status, answers, out


def send(dest, rcpts, sender="a@src.test", body=b"Subject: t\r\n\r\nhi\r\n"):
    """One transaction; returns (rcpt replies, data reply or None)."""
    c = smtplib.SMTP(dest.host, dest.port, timeout=10)
    try:
        c.ehlo("client.test")
        code, msg = c.mail(sender)
        assert code == 250, (code, msg)
        rr = [c.rcpt(r) for r in rcpts]
        if not any(code == 250 for code, _ in rr):
            return rr, None
        return rr, c.data(body)
    finally:
        try:
            c.quit()
        except smtplib.SMTPServerDisconnected:
            pass


# --- Destination ------------------------------------------------------------

def test_destination_scripted_rcpt_sequence(destination):
    d = destination(rules={"rcpt": {"bob@dest.test": [
        "451 4.2.1 try later", "451 4.2.1 try later", "250 2.1.5 OK"]}})
    got = []
    for _ in range(4):
        rr, data = send(d, ["bob@dest.test"])
        got.append(rr[0][0])
    # 451, 451, 250, then the last action repeats.
    assert got == [451, 451, 250, 250]
    attempts = d.rcpt_attempts("BOB@dest.test")
    assert [a.code for a in attempts] == [451, 451, 250, 250]
    assert attempts[0].reply == "451 4.2.1 try later"
    assert all(b.time >= a.time for a, b in zip(attempts, attempts[1:]))
    # Only the transactions whose RCPT got 250 reached DATA.
    assert len(d.messages) == 2
    assert d.messages[0].rcpts == ["bob@dest.test"]
    assert d.messages[0].mail_from == "a@src.test"
    assert d.messages[0].data == b"Subject: t\r\n\r\nhi\r\n"


def test_destination_other_recipients_default_and_star(destination):
    d = destination(rules={"rcpt": {"bad@dest.test": "550 5.1.1 no such user",
                                    "*": ["452 4.2.2 full", "250 2.1.5 ok"]}})
    rr, data = send(d, ["bad@dest.test", "x@dest.test", "y@dest.test"])
    assert [r[0] for r in rr] == [550, 452, 452]
    assert data is None
    rr, data = send(d, ["x@dest.test", "y@dest.test"])
    # "*" counts attempts per recipient address.
    assert [r[0] for r in rr] == [250, 250]
    assert data[0] == 250
    assert d.messages[-1].rcpts == ["x@dest.test", "y@dest.test"]


def test_destination_data_reply_per_recipient_and_message(destination):
    d = destination(rules={"data": {"carol@dest.test": [
        "554 5.7.1 carol refuses", "250 2.0.0 fine"],
        "*": ["452 4.3.1 out of space", "250 2.0.0 accepted"]}})
    _, data = send(d, ["dave@dest.test"])
    assert data == (452, b"4.3.1 out of space")
    _, data = send(d, ["dave@dest.test", "carol@dest.test"])
    assert data == (554, b"5.7.1 carol refuses")
    _, data = send(d, ["carol@dest.test"])
    assert data[0] == 250
    _, data = send(d, ["dave@dest.test"])
    assert data == (250, b"2.0.0 accepted")
    assert [m.reply[:3] for m in d.transactions] == ["452", "554", "250", "250"]
    assert len(d.messages) == 2
    assert d.messages_for("carol@dest.test")[0].rcpts == ["carol@dest.test"]


def test_destination_drop_closes_without_reply(destination):
    d = destination(rules={"rcpt": {"gone@dest.test": ["drop", "250 ok"]}})
    c = smtplib.SMTP(d.host, d.port, timeout=10)
    c.ehlo("client.test")
    c.mail("a@src.test")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        c.rcpt("gone@dest.test")
    c.close()
    assert d.rcpt_attempts("gone@dest.test")[0].reply == "drop"
    rr, data = send(d, ["gone@dest.test"])
    assert rr[0][0] == 250 and data[0] == 250
    d.wait_for(lambda: d.connections and d.connections[0].closed, 5)


def test_destination_drop_at_end_of_data_stores_nothing(destination):
    d = destination(rules={"data": ["drop"]})
    c = smtplib.SMTP(d.host, d.port, timeout=10)
    c.ehlo("client.test")
    c.mail("a@src.test")
    c.rcpt("b@dest.test")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        c.data(b"Subject: x\r\n\r\nbody\r\n")
    c.close()
    assert d.messages == []
    assert [t.reply for t in d.transactions] == ["drop"]


def test_destination_stall_is_asynchronous(destination):
    d = destination(rules={"rcpt": {"slow@dest.test": "stall:1.5 451 4.4.2 slow"}})
    result = {}

    def slow():
        t0 = time.monotonic()
        rr, _ = send(d, ["slow@dest.test"])
        result["slow"] = (rr[0][0], time.monotonic() - t0)

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    rr, data = send(d, ["fast@dest.test"])
    fast = time.monotonic() - t0
    th.join(10)
    assert rr[0][0] == 250 and data[0] == 250
    assert fast < 1.0, "the stall blocked another session"
    code, took = result["slow"]
    assert code == 451 and 1.4 < took < 5


def test_destination_connect_greeting_421(destination):
    d = destination(rules={"connect": ["421 4.3.2 busy", "default"]})
    with pytest.raises(smtplib.SMTPConnectError) as e:
        smtplib.SMTP(d.host, d.port, timeout=10)
    assert e.value.smtp_code == 421
    rr, data = send(d, ["b@dest.test"])
    assert data[0] == 250


def test_destination_ehlo_features(destination):
    d = destination(eightbitmime=False, smtputf8=False, dsn=False,
                    pipelining=False, size=1000)
    c = smtplib.SMTP(d.host, d.port, timeout=10)
    c.ehlo("client.test")
    for kw in ("8bitmime", "smtputf8", "dsn", "pipelining", "starttls", "auth"):
        assert not c.has_extn(kw), kw
    assert c.has_extn("size") and c.esmtp_features["size"] == "1000"
    assert c.has_extn("enhancedstatuscodes")
    assert c.docmd("MAIL FROM:<a@src.test> BODY=8BITMIME")[0] == 555
    assert c.docmd("MAIL FROM:<a@src.test> SMTPUTF8")[0] == 501
    assert c.docmd("MAIL FROM:<a@src.test> SIZE=2000")[0] == 552
    assert c.docmd("MAIL FROM:<a@src.test> RET=HDRS")[0] == 555
    assert c.docmd("MAIL FROM:<a@src.test>")[0] == 250
    assert c.docmd("RCPT TO:<b@dest.test> NOTIFY=NEVER")[0] == 555
    c.quit()

    d2 = destination()
    c = smtplib.SMTP(d2.host, d2.port, timeout=10)
    c.ehlo("client.test")
    for kw in ("8bitmime", "smtputf8", "dsn", "pipelining",
               "enhancedstatuscodes", "size"):
        assert c.has_extn(kw), kw
    c.quit()


def test_destination_dsn_params_recorded(destination):
    d = destination()
    c = smtplib.SMTP(d.host, d.port, timeout=10)
    c.ehlo("client.test")
    assert c.docmd("MAIL FROM:<a@src.test> RET=HDRS ENVID=Id+2Bx")[0] == 250
    assert c.docmd("RCPT TO:<b@dest.test> NOTIFY=FAILURE,DELAY "
                   "ORCPT=rfc822;B@dest.test")[0] == 250
    assert c.data(b"Subject: d\r\n\r\nx\r\n")[0] == 250
    c.quit()
    m = d.messages[0]
    assert m.mail_args == "FROM:<a@src.test> RET=HDRS ENVID=Id+2Bx"
    assert m.rcpt_args == {"b@dest.test":
                           "TO:<b@dest.test> NOTIFY=FAILURE,DELAY "
                           "ORCPT=rfc822;B@dest.test"}
    assert m.helo == "client.test"


def test_destination_null_sender_and_ehlo_refused(destination):
    d = destination(rules={"ehlo": "502 5.5.1 no EHLO here"})
    c = smtplib.SMTP(d.host, d.port, timeout=10)
    assert c.ehlo("client.test")[0] == 502
    assert c.helo("client.test")[0] == 250
    assert c.docmd("MAIL FROM:<>")[0] == 250
    assert c.docmd("RCPT TO:<b@dest.test>")[0] == 250
    assert c.data(b"Subject: bounce\r\n\r\nx\r\n")[0] == 250
    c.quit()
    assert d.messages[0].mail_from == ""
    assert d.messages[0].helo == "client.test"
    verbs = [x.verb for x in d.commands]
    assert verbs == ["EHLO", "HELO", "MAIL", "RCPT", "DATA", ".", "QUIT"]


def test_destination_set_rules_midway(destination):
    d = destination(rules={"rcpt": {"*": "451 4.3.0 down"}})
    assert send(d, ["b@dest.test"])[0][0][0] == 451
    d.set_rules({})
    assert send(d, ["b@dest.test"])[1][0] == 250
    assert len(d.messages) == 1


def test_destination_starttls(destination, tls_cert):
    d = destination(tls_cert=tls_cert, require_starttls=True)
    c = smtplib.SMTP(d.host, d.port, timeout=10)
    c.ehlo("client.test")
    assert c.has_extn("starttls")
    assert c.docmd("MAIL FROM:<a@src.test>")[0] == 530
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.starttls(context=ctx)
    c.ehlo("client.test")
    assert not c.has_extn("starttls")
    c.sendmail("a@src.test", ["b@dest.test"], b"Subject: tls\r\n\r\nx\r\n")
    c.quit()
    assert d.messages[0].tls is True
    mails = d.commands_for("MAIL")
    assert [(x.tls, x.code) for x in mails] == [(False, 530), (True, 250)]


def test_destination_starttls_refused(destination, tls_cert):
    d = destination(tls_cert=tls_cert, rules={"starttls": "454 4.7.0 no TLS now"})
    c = smtplib.SMTP(d.host, d.port, timeout=10)
    c.ehlo("client.test")
    assert c.docmd("STARTTLS")[0] == 454
    c.sendmail("a@src.test", ["b@dest.test"], b"Subject: plain\r\n\r\nx\r\n")
    c.quit()
    assert d.messages[0].tls is False


def test_destination_wait_messages_times_out(destination):
    d = destination()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        d.wait_messages(1, timeout=0.5)
    assert time.monotonic() - t0 < 2


def test_destination_ipv6(destination):
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    d = destination(host="::1")
    assert d.address.startswith("[::1]:")
    c = smtplib.SMTP("::1", d.port, timeout=10)
    c.sendmail("a@src.test", ["b@dest.test"], b"Subject: v6\r\n\r\nx\r\n")
    c.quit()
    assert d.messages[0].rcpts == ["b@dest.test"]


# --- DnsServer --------------------------------------------------------------

def test_dns_mx_hosts_nullmx_nxdomain(dns_server):
    dns = dns_server(mx={"dest.test": [("mx.dest.test", 10),
                                       ("mx2.dest.test", 20)]},
                     hosts={"mx.dest.test": "127.0.0.1",
                            "mx2.dest.test": ["127.0.0.2", "::1"],
                            "nomx.test": "127.0.0.1"},
                     null_mx=["nullmx.test"])
    assert dns.resolver == "127.0.0.1:%d" % dns.port
    status, ans, out = dig(dns, "MX", "dest.test")
    assert status == "NOERROR", out
    assert sorted(a[1] for a in ans if a[0] == "MX") == [
        "10 mx.dest.test.", "20 mx2.dest.test."]
    status, ans, out = dig(dns, "MX", "dest.test", tcp=True)
    assert status == "NOERROR" and len(ans) == 2, out
    status, ans, _ = dig(dns, "A", "mx.dest.test")
    assert ans == [("A", "127.0.0.1")]
    status, ans, _ = dig(dns, "AAAA", "mx2.dest.test")
    assert ans == [("AAAA", "::1")]
    status, ans, _ = dig(dns, "MX", "nullmx.test")
    assert status == "NOERROR" and ans == [("MX", "0 .")]
    # A host without MX: NOERROR and no answer (fall back to A).
    status, ans, _ = dig(dns, "MX", "nomx.test")
    assert status == "NOERROR" and ans == []
    status, ans, _ = dig(dns, "MX", "nosuch.test")
    assert status == "NXDOMAIN"
    status, ans, _ = dig(dns, "A", "mx.nosuch.test")
    assert status == "NXDOMAIN"
    assert ("MX", "dest.test") in dns.queries()


def test_dns_servfail_and_timeout(dns_server):
    dns = dns_server(servfail=["broken.test"], timeout=["slow.test"])
    status, ans, out = dig(dns, "MX", "x.broken.test")
    assert status == "SERVFAIL", out
    t0 = time.monotonic()
    assert dns_query(dns.port, "x.slow.test", "MX", timeout=1.0) is None
    assert time.monotonic() - t0 >= 0.9


def test_dns_stops(dns_server):
    dns = dns_server(mx={"dest.test": "mx.dest.test"})
    port = dns.port
    assert dns_query(port, "dest.test", "MX") == (0, 1)
    dns.stop()
    assert dns_query(port, "dest.test", "MX", timeout=0.5) is None


# --- SmtpSink -----------------------------------------------------------------

def test_smtp_sink_counts(smtp_sink):
    sink = smtp_sink()
    for i in range(3):
        c = smtplib.SMTP(sink.host, sink.port, timeout=10)
        c.sendmail("a@src.test", ["b@bench.test"], b"Subject: %d\r\n\r\nx\r\n" % i)
        c.quit()
    assert sink.wait_count(3, timeout=5)
    assert sink.count == 3
    assert not sink.wait_count(4, timeout=0.3)


def test_smtp_sink_soft_and_hard_reject(smtp_sink):
    soft = smtp_sink(soft_reject=["rcpt"])
    c = smtplib.SMTP(soft.host, soft.port, timeout=10)
    c.ehlo("client.test")
    c.mail("a@src.test")
    assert c.rcpt("b@bench.test")[0] == 450
    c.quit()
    hard = smtp_sink(hard_reject=["."])
    c = smtplib.SMTP(hard.host, hard.port, timeout=10)
    with pytest.raises(smtplib.SMTPDataError) as e:
        c.sendmail("a@src.test", ["b@bench.test"], b"Subject: h\r\n\r\nx\r\n")
    assert e.value.smtp_code == 500
    c.quit()
    # smtp-sink counts the end of DATA even when it refuses it.
    assert hard.wait_count(1, timeout=5)


def test_smtp_sink_dump(smtp_sink, tmpdir_path):
    os.chmod(tmpdir_path, 0o755)    # smtp-sink runs as nobody when root
    sink = smtp_sink(dump_dir=tmpdir_path + "/dump")
    c = smtplib.SMTP(sink.host, sink.port, timeout=10)
    c.sendmail("a@src.test", ["b@bench.test"], b"Subject: dumped\r\n\r\nbody\r\n")
    c.quit()
    assert sink.wait_count(1, timeout=5)
    deadline = time.monotonic() + 5
    while not sink.dumped() and time.monotonic() < deadline:
        time.sleep(0.05)
    d = sink.dumped()
    assert len(d) == 1
    assert b"X-Rcpt-Args: <b@bench.test>" in d[0]
    assert b"Subject: dumped" in d[0]
