"""Signals: SIGHUP reloads routes without dropping sessions; SIGTERM stops."""
import os
import signal
import smtplib
import subprocess
import time

from conftest import RELAY_BIN


def test_sighup_reloads_routes(relay):
    c = relay.connect()          # a session open across the reload
    c.reply()
    c.cmd("EHLO x.test")
    with smtplib.SMTP(relay.host, relay.port, timeout=10) as s:
        s.ehlo("x.test")
        s.mail("s@sender.test")
        assert s.rcpt("carol@example.test")[0] == 550
    with open(relay.conf, "a") as f:
        f.write("carol@example.test = maildir:%s/carol\n" % relay.mail)
    relay.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "reload:" not in relay.log_text() and time.time() < deadline:
        time.sleep(0.05)
    with smtplib.SMTP(relay.host, relay.port, timeout=10) as s:
        s.sendmail("s@sender.test", ["carol@example.test"], b"Subject: r\r\n\r\nx\r\n")
    assert len(relay.maildir_messages("carol")) == 1
    # The old session survived the reload.
    assert c.cmd("NOOP")[0] == 250


def test_sighup_with_broken_config_keeps_routes(relay):
    with open(relay.conf, "a") as f:
        f.write("this line is not ini\n")
    relay.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert relay.proc.poll() is None
    with smtplib.SMTP(relay.host, relay.port, timeout=10) as s:
        s.sendmail("s@sender.test", ["alice@example.test"], b"Subject: r\r\n\r\nx\r\n")
    assert "keeping the old routes" in relay.log_text()


def test_sigterm_lets_session_finish(relay):
    c = relay.connect()
    c.reply()
    c.cmd("EHLO x.test")
    c.cmd("MAIL FROM:<s@sender.test>")
    c.cmd("RCPT TO:<alice@example.test>")
    idle = relay.connect()
    idle.reply()
    relay.proc.send_signal(signal.SIGTERM)
    # The idle session is told to go away; the busy one may finish.
    code, text = idle.reply()
    assert code == 421
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: last\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    assert relay.proc.wait(timeout=15) == 0
    assert len(relay.maildir_messages("alice")) == 1


def test_config_check(tmpdir_path):
    conf = os.path.join(tmpdir_path, "bad.conf")
    with open(conf, "w") as f:
        f.write("[server]\nlisten = 127.0.0.1:2525\nbogus_key = 1\n"
                "[limits]\nmax_recipients = lots\n[routes]\n"
                "a@example.test = ftp://nowhere\n")
    r = subprocess.run([RELAY_BIN, "config", "check", "--config", conf],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert conf + ":3:" in r.stderr
    assert conf + ":5:" in r.stderr
    assert conf + ":7:" in r.stderr


def test_config_check_ok(tmpdir_path):
    conf = os.path.join(tmpdir_path, "ok.conf")
    with open(conf, "w") as f:
        f.write("[server]\nlisten = 127.0.0.1:2525\n[routes]\n"
                "*@example.test = maildir:/tmp/x\n")
    r = subprocess.run([RELAY_BIN, "config", "check", "--config", conf],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_example_config_is_valid():
    here = os.path.dirname(os.path.abspath(__file__))
    conf = os.path.join(here, "..", "..", "examples", "relay.conf")
    r = subprocess.run([RELAY_BIN, "config", "check", "--config", conf],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
