"""Every configured limit, checked against the running relay."""
import socket
import threading
import time

from test_data import start_data


def test_command_line_too_long(relay):
    c = relay.connect()
    c.reply()
    code, text = c.cmd("NOOP " + "x" * 600)
    assert code == 500 and "5.5.2" in text
    code, text = c.cmd("NOOP " + "x" * 20000)   # past the hard buffer cap
    assert code == 500 and "5.5.2" in text
    assert c.cmd("NOOP")[0] == 250          # still in sync


def test_max_recipients(make_relay):
    relay = make_relay(limits={"max_recipients": 3})
    c = relay.connect()
    c.reply()
    c.cmd("EHLO x.test")
    c.cmd("MAIL FROM:<s@sender.test>")
    for _ in range(3):
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    code, text = c.cmd("RCPT TO:<alice@example.test>")
    assert code == 452 and "4.5.3" in text


def test_size_parameter_over_limit(make_relay):
    relay = make_relay(limits={"max_message_size": "10K", "max_header_size": "4K"})
    c = relay.connect()
    c.reply()
    text = c.cmd("EHLO x.test")[1]
    assert "SIZE 10240" in text
    code, text = c.cmd("MAIL FROM:<s@sender.test> SIZE=10241")
    assert code == 552 and "5.3.4" in text
    assert c.cmd("MAIL FROM:<s@sender.test> SIZE=10240")[0] == 250


def test_message_over_size_limit(make_relay):
    relay = make_relay(limits={"max_message_size": "10K", "max_header_size": "4K"})
    c = relay.connect()
    start_data(c)
    c.send(b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 12 + b".\r\n")
    code, text = c.reply()
    assert code == 552 and "5.3.4" in text
    assert relay.maildir_messages("alice") == []


def test_data_line_too_long(relay):
    c = relay.connect()
    start_data(c)
    c.send(b"Subject: long\r\n\r\n" + b"z" * 999 + b"\r\n.\r\n")
    code, text = c.reply()
    assert code >= 500 and ("5.6.0" in text or "5.5.2" in text or "5.3.4" in text), text
    # Exactly 1000 octets with CRLF is allowed.
    c.cmd("MAIL FROM:<s@sender.test>")
    c.cmd("RCPT TO:<alice@example.test>")
    c.cmd("DATA")
    c.send(b"Subject: ok\r\n\r\n" + b"z" * 998 + b"\r\n.\r\n")
    assert c.reply()[0] == 250


def test_max_line_length_configurable(make_relay):
    relay = make_relay(limits={"max_line_length": "4K"})
    c = relay.connect()
    start_data(c)
    c.send(b"Subject: long\r\n\r\n" + b"z" * 3000 + b"\r\n.\r\n")
    assert c.reply()[0] == 250


def test_too_many_received_headers(make_relay):
    relay = make_relay(limits={"max_received_headers": 5})
    c = relay.connect()
    start_data(c)
    c.send(b"Received: from a by b; Thu, 1 Jan 2026 00:00:00 +0000\r\n" * 6 +
           b"Subject: loop\r\n\r\nx\r\n.\r\n")
    code, text = c.reply()
    assert code == 554 and "5.4.6" in text
    c.cmd("MAIL FROM:<s@sender.test>")
    c.cmd("RCPT TO:<alice@example.test>")
    c.cmd("DATA")
    c.send(b"Received: from a by b; Thu, 1 Jan 2026 00:00:00 +0000\r\n" * 5 +
           b"Subject: ok\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250


def test_header_section_too_big(make_relay):
    relay = make_relay(limits={"max_header_size": "2K"})
    c = relay.connect()
    start_data(c)
    c.send(b"X-Filler: " + b"h" * 900 + b"\r\n" + b"X-More: " + b"h" * 900 + b"\r\n" +
           b"X-Last: " + b"h" * 900 + b"\r\n\r\nbody\r\n.\r\n")
    code, text = c.reply()
    assert code == 552 and "5.3.4" in text


def test_max_connections_per_ip(make_relay):
    relay = make_relay(limits={"max_connections_per_ip": 2})
    a, b = relay.connect(), relay.connect()
    assert a.reply()[0] == 220 and b.reply()[0] == 220
    c = relay.connect()
    code, text = c.reply()
    assert code == 421 and "4.7.0" in text
    a.cmd("QUIT")
    a.closed()
    time.sleep(0.2)
    d = relay.connect()
    assert d.reply()[0] == 220


def test_max_connections_total(make_relay):
    relay = make_relay(limits={"max_connections": 3, "max_connections_per_ip": 3})
    conns = [relay.connect() for _ in range(3)]
    for c in conns:
        assert c.reply()[0] == 220
    extra = relay.connect()
    code, text = extra.reply()
    assert code == 421 and "4.7.0" in text


def test_command_timeout(make_relay):
    relay = make_relay(limits={"command_timeout": "1s"})
    c = relay.connect()
    c.reply()
    t0 = time.time()
    code, text = c.reply()
    assert code == 421 and "4.4.2" in text
    assert time.time() - t0 < 5
    assert c.closed()


def test_data_timeout(make_relay):
    relay = make_relay(limits={"data_timeout": "1s"})
    c = relay.connect()
    start_data(c)
    c.send(b"Subject: slow\r\n")
    code, text = c.reply()
    assert code == 421
    assert relay.maildir_messages("alice") == []


def test_200_parallel_sessions(make_relay):
    relay = make_relay(limits={"max_connections_per_ip": 250})
    results = []
    lock = threading.Lock()

    def one(i):
        import smtplib
        try:
            with smtplib.SMTP(relay.host, relay.port, timeout=60) as s:
                s.sendmail("s%d@sender.test" % i, ["alice@example.test"],
                           b"Subject: n%d\r\n\r\nbody %d\r\n" % (i, i))
            ok = True
        except Exception as e:  # noqa: BLE001 - record any failure
            ok = repr(e)
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 200, [r for r in results if r is not True][:5]
    assert len(relay.maildir_messages("alice")) == 200
