"""DATA: byte-exact delivery, dot-stuffing, limits, smuggling, disconnects."""
import email
import os
import socket
import time

import pytest


def start_data(c, rcpts=("alice@example.test",), sender="s@sender.test"):
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<%s>" % sender)[0] == 250
    for r in rcpts:
        assert c.cmd("RCPT TO:<%s>" % r)[0] == 250
    assert c.cmd("DATA")[0] == 354


def split_delivered(raw):
    """Maildir file -> (our headers dict, Received header, original bytes)."""
    head, rest = raw.split(b"\n", 1)
    assert head.startswith(b"Return-Path: <")
    dto, rest = rest.split(b"\n", 1)
    assert dto.startswith(b"Delivered-To: ")
    assert rest.startswith(b"Received: from ")
    # Our Received header: first line plus continuation lines.
    lines = rest.split(b"\n")
    i = 1
    while lines[i].startswith((b"\t", b" ")):
        i += 1
    return head, dto, b"\n".join(lines[:i]), b"\n".join(lines[i:])


def test_byte_for_byte_with_dot_stuffing(relay):
    original = (b"From: a@sender.test\r\nTo: alice@example.test\r\n"
                b"Subject: dots\r\n\r\n"
                b".starts with a dot\r\n"
                b"..two dots\r\n"
                b".\tdot tab\r\n"
                b"middle . dot\r\n"
                b"8bit \xc3\xa9\xff bytes\r\n"
                b"last line\r\n")
    stuffed = b"\r\n".join(b"." + l if l.startswith(b".") else l
                           for l in original.split(b"\r\n"))
    c = relay.connect()
    start_data(c)
    c.send(stuffed + b".\r\n")
    code, text = c.reply()
    assert code == 250 and "2.0.0" in text
    msgs = relay.maildir_messages("alice")
    assert len(msgs) == 1
    rp, dto, received, body = split_delivered(msgs[0])
    assert rp == b"Return-Path: <s@sender.test>"
    assert dto == b"Delivered-To: alice@example.test"
    assert b"by relay.example.test" in received and b"with ESMTP id" in received
    # Maildir files use LF line ends (documented); compare modulo that.
    assert body == original.replace(b"\r\n", b"\n")


def test_null_sender_and_fanout(make_relay, tmpdir_path):
    relay = make_relay(routes={
        "list@example.test": "maildir:%s/a, maildir:%s/b" % (tmpdir_path, tmpdir_path),
    })
    c = relay.connect()
    start_data(c, rcpts=("list@example.test",), sender="")
    c.send(b"Subject: x\r\n\r\nfan\r\n.\r\n")
    assert c.reply()[0] == 250
    for box in ("a", "b"):
        new = os.path.join(tmpdir_path, box, "new")
        files = os.listdir(new)
        assert len(files) == 1
        with open(os.path.join(new, files[0]), "rb") as f:
            assert f.read().startswith(b"Return-Path: <>\n")


def test_plus_addressing_and_catch_all(make_relay, tmpdir_path):
    relay = make_relay(routes={
        "alice@example.test": "maildir:%s/alice" % tmpdir_path,
        "*@catch.test": "maildir:%s/all" % tmpdir_path,
    })
    c = relay.connect()
    c.reply()
    c.cmd("EHLO x.test")
    c.cmd("MAIL FROM:<s@sender.test>")
    assert c.cmd("RCPT TO:<alice+news@example.test>")[0] == 250
    assert c.cmd("RCPT TO:<anything@catch.test>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.test>")[0] == 550
    c.cmd("DATA")
    c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    assert len(os.listdir(os.path.join(tmpdir_path, "alice", "new"))) == 1
    assert len(os.listdir(os.path.join(tmpdir_path, "all", "new"))) == 1


def test_received_header_parses(relay):
    c = relay.connect()
    start_data(c)
    c.send(b"Subject: r\r\n\r\nx\r\n.\r\n")
    code, text = c.reply()
    qid = text.rsplit(" ", 1)[1]
    raw = relay.maildir_messages("alice")[0]
    msg = email.message_from_bytes(raw)
    rec = msg.get_all("Received")[0]
    assert "from client.test ([127.0.0.1])" in rec
    assert "id " + qid in rec and "for <alice@example.test>" in rec
    assert qid in relay.log_text()


SMUGGLING = [
    b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r\r\n", b"\r.\r\n",
    b"\n.\r", b"\r\n.\r", b"\r\n.\rX\r\n",
]


@pytest.mark.parametrize("seq", SMUGGLING, ids=[repr(s) for s in SMUGGLING])
def test_smuggling_sequences_never_end_data(relay, seq):
    c = relay.connect()
    start_data(c)
    # A smuggled second transaction hides behind the fake terminator.  Only
    # its own CRLF.CRLF really ends DATA, so the relay must answer exactly
    # once, rejecting the whole message, and never run the smuggled commands.
    smuggled = (b"MAIL FROM:<evil@sender.test>\r\nRCPT TO:<bob@example.test>\r\n"
                b"DATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n")
    c.send(b"Subject: first\r\n\r\nbody" + seq + smuggled)
    code, text = c.reply()
    assert code == 554 and "5.6.0" in text, text
    code, text = c.cmd("NOOP")
    assert code == 250, text   # in sync: no stray replies queued
    assert relay.maildir_messages("alice") == []
    assert relay.maildir_messages("bob") == []


def test_smuggling_wait_fix(relay):
    """The session stays usable after a rejected message."""
    c = relay.connect()
    start_data(c)
    c.send(b"Subject: x\r\n\r\nbare\nlf\r\n.\r\n")
    code, text = c.reply()
    assert code == 554 and "5.6.0" in text
    assert c.cmd("MAIL FROM:<s@sender.test>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: ok\r\n\r\nfine\r\n.\r\n")
    assert c.reply()[0] == 250
    assert len(relay.maildir_messages("alice")) == 1


def test_nul_in_data_rejected(relay):
    c = relay.connect()
    start_data(c)
    c.send(b"Subject: x\r\n\r\nnul\x00byte\r\n.\r\n")
    code, text = c.reply()
    assert code == 554 and "5.6.0" in text
    assert relay.maildir_messages("alice") == []


def test_empty_message(relay):
    c = relay.connect()
    start_data(c)
    c.send(b".\r\n")
    assert c.reply()[0] == 250


def test_disconnect_in_data_delivers_nothing(relay):
    c = relay.connect()
    start_data(c)
    c.send(b"Subject: cut\r\n\r\nhalf a message\r\n")
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    time.sleep(0.5)
    # The relay still serves, and nothing was delivered.
    c2 = relay.connect()
    assert c2.reply()[0] == 220
    assert relay.maildir_messages("alice") == []
    assert "in DATA; nothing delivered" in relay.log_text()


def test_rset_after_data_error_then_quit(relay):
    c = relay.connect()
    start_data(c)
    c.send(b"x\r\r\n.\r\n")
    assert c.reply()[0] == 554
    assert c.cmd("QUIT")[0] == 221
