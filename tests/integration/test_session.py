"""The SMTP dialogue: commands, replies, sequencing and relay policy."""
import smtplib
import socket
import subprocess

import pytest


def ehlo(c):
    code, text = c.reply()
    assert code == 220
    code, text = c.cmd("EHLO client.test")
    assert code == 250
    return text


def test_greeting_and_ehlo_extensions(relay):
    c = relay.connect()
    text = ehlo(c)
    for ext in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN",
                "SMTPUTF8"):
        assert ext in text
    assert "STARTTLS" not in text  # no certificate configured
    assert c.cmd("QUIT")[0] == 221
    assert c.closed()


def test_helo_has_no_extensions(relay):
    c = relay.connect()
    c.reply()
    code, text = c.cmd("HELO client.test")
    assert code == 250 and "\n" not in text


def test_misc_commands(relay):
    c = relay.connect()
    ehlo(c)
    assert c.cmd("NOOP") == (250, "250 2.0.0 Ok")
    code, text = c.cmd("VRFY alice@example.test")
    assert code == 252 and "alice" not in text  # never reveals addresses
    assert c.cmd("HELP")[0] == 214
    assert c.cmd("EXPN list")[0] == 502
    assert c.cmd("RSET")[0] == 250
    code, text = c.cmd("FOOBAR")
    assert code == 500 and " 5.5.1 " in text


def test_out_of_sequence(relay):
    c = relay.connect()
    c.reply()
    assert c.cmd("MAIL FROM:<a@b.test>")[1].startswith("503 5.5.1")
    c.cmd("EHLO x.test")
    assert c.cmd("RCPT TO:<alice@example.test>")[1].startswith("503 5.5.1")
    assert c.cmd("DATA")[1].startswith("503 5.5.1")
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.test>")[1].startswith("503 5.5.1")
    assert c.cmd("DATA")[1].startswith("554 5.5.1")  # no recipients yet


def test_enhanced_codes_on_every_reply(relay):
    c = relay.connect()
    c.reply()
    c.cmd("EHLO x.test")
    for line in ("NOOP", "MAIL FROM:<>", "RCPT TO:<nobody@example.test>",
                 "RCPT TO:<x@elsewhere.test>", "RCPT TO:<alice@example.test>",
                 "RSET", "VRFY x", "BOGUS", "HELP"):
        code, text = c.cmd(line)
        assert text[4].isdigit() and text[5] == "." and text[4] == str(code)[0], text


@pytest.mark.parametrize("rcpt", [
    "<someone@elsewhere.test>",
    "<user%elsewhere.test@example.test>",
    "<\"user@elsewhere.test\"@example.test>",
    "<@example.test:user@elsewhere.test>",
    "<user@[127.0.0.1]>",
    "<user@[IPv6:::1]>",
    "<user@elsewhere.test.>",
])
def test_never_an_open_relay(relay, rcpt):
    c = relay.connect()
    ehlo(c)
    c.cmd("MAIL FROM:<spammer@bad.test>")
    code, text = c.cmd("RCPT TO:" + rcpt)
    # Refused one way or another: by policy (550) or as bad syntax (501).
    assert code in (550, 501), text
    assert " 5.7.1 " in text or " 5.1.1 " in text or " 5.1.3 " in text


def test_relay_denied_code(relay):
    c = relay.connect()
    ehlo(c)
    c.cmd("MAIL FROM:<a@b.test>")
    code, text = c.cmd("RCPT TO:<x@elsewhere.test>")
    assert text.startswith("550 5.7.1")


def test_unknown_user(relay):
    c = relay.connect()
    ehlo(c)
    c.cmd("MAIL FROM:<a@b.test>")
    assert c.cmd("RCPT TO:<nobody@example.test>")[1].startswith("550 5.1.1")
    assert c.cmd("RCPT TO:<ALICE@EXAMPLE.TEST>")[0] == 250


def test_postmaster_without_domain(relay):
    c = relay.connect()
    ehlo(c)
    c.cmd("MAIL FROM:<a@b.test>")
    assert c.cmd("RCPT TO:<Postmaster>")[0] == 250


def test_pipelining_reply_order(relay):
    c = relay.connect()
    ehlo(c)
    c.send("MAIL FROM:<s@sender.test>\r\nRCPT TO:<alice@example.test>\r\n"
           "RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
           "DATA\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[1].startswith("550 5.1.1")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 354
    # Message, end of data and the next commands in one packet.
    c.send("Subject: p\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    assert len(relay.maildir_messages("alice")) == 1
    assert len(relay.maildir_messages("bob")) == 1


def test_bare_lf_command_rejected(relay):
    c = relay.connect()
    c.reply()
    code, text = c.cmd("EHLO x.test")
    c.send("NOOP\n")
    code, text = c.reply()
    assert code == 500 and "5.5.2" in text


def test_nul_in_command_rejected(relay):
    c = relay.connect()
    ehlo(c)
    code, text = c.cmd("NOOP\x00 hidden")
    assert code == 500


def test_too_many_errors_closes(make_relay):
    relay = make_relay(limits={"max_errors": 3})
    c = relay.connect()
    c.reply()
    assert c.cmd("X1")[0] == 500
    assert c.cmd("X2")[0] == 500
    code, text = c.cmd("X3")
    assert code in (421, 500)
    if code == 500:
        code, text = c.reply()
    assert code == 421 and "4.7.0" in text
    assert c.closed()


def test_smtputf8_address(relay):
    c = relay.connect()
    ehlo(c)
    # Without SMTPUTF8 a UTF-8 address is refused with 5.6.7 (RFC 6531 3.5).
    code, text = c.cmd("MAIL FROM:<j\u00f6rg@sender.test>")
    assert code == 553 and "5.6.7" in text
    assert c.cmd("MAIL FROM:<j\u00f6rg@sender.test> SMTPUTF8")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250


def test_dsn_parameters_accepted(relay):
    c = relay.connect()
    ehlo(c)
    assert c.cmd("MAIL FROM:<s@sender.test> RET=HDRS ENVID=abc+2Bdef")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE "
                 "ORCPT=rfc822;alice@example.test")[0] == 250
    code, text = c.cmd("RCPT TO:<bob@example.test> NOTIFY=NEVER,SUCCESS")
    assert code == 501
    code, text = c.cmd("RCPT TO:<bob@example.test> FOO=BAR")
    assert code == 555


def test_dsn_long_lines_allowed(relay):
    """RFC 3461 4: MAIL/RCPT may exceed 512 octets with DSN parameters."""
    c = relay.connect()
    ehlo(c)
    envid = "E" * 100
    assert c.cmd("MAIL FROM:<%s@sender.test> RET=FULL ENVID=%s" % ("s" * 64, envid))[0] == 250
    orcpt = "rfc822;" + "o" * 60 + "@" + ("d" * 60 + ".") * 5 + "test"
    line = "RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=" + orcpt
    assert len(line) < 1000
    code, text = c.cmd(line)
    assert code == 250, text


def test_smtplib_send(relay):
    with smtplib.SMTP(relay.host, relay.port, timeout=10) as s:
        s.sendmail("sender@sender.test", ["alice@example.test"],
                   b"Subject: hi\r\n\r\nhello\r\n")
    assert len(relay.maildir_messages("alice")) == 1


def test_swaks_send(relay):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(relay.port),
                        "--from", "s@sender.test", "--to", "bob@example.test",
                        "--body", "from swaks", "--timeout", "10"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    msgs = relay.maildir_messages("bob")
    assert len(msgs) == 1 and b"from swaks" in msgs[0]


def test_ipv6_listener(make_relay):
    relay = make_relay(listen_v6=True)
    with smtplib.SMTP("::1", relay.port6, timeout=10) as s:
        s.sendmail("s@sender.test", ["alice@example.test"], b"Subject: v6\r\n\r\nx\r\n")
    assert len(relay.maildir_messages("alice")) == 1
