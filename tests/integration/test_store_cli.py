"""The store's operator commands against the real binary and a SQLite
store: suppress list/show/add/remove/expire, bounces report (events
written straight into the database, as the relay would record them), and
stored routes."""
import json
import os
import sqlite3
import subprocess
import time

import pytest

from conftest import RELAY_BIN


def run(conf, *args, rc=0):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    p = subprocess.run([RELAY_BIN, *args, "--config", conf], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == rc, (args, p.returncode, p.stdout, p.stderr)
    return p


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "relay.conf"
    path.write_text("[store]\npath = %s\n[suppression]\nttl = 30d\n"
                    "[routes]\nsource = store\n*@example.test = maildir:%s\n"
                    % (tmp_path / "state.db", tmp_path / "mail"))
    return str(path)


def test_suppress_commands(conf):
    assert "No suppressed destinations" in run(conf, "suppress", "list").stdout
    out = run(conf, "suppress", "add", "Gone@Partner.TEST", "--reason",
              "spamtrap").stdout
    assert out == "gone@partner.test: suppressed (spamtrap)\n"
    rows = json.loads(run(conf, "suppress", "list", "--json").stdout)
    assert len(rows) == 1
    row = rows[0]
    assert row["dest"] == "gone@partner.test"
    assert row["suppressed"] is True
    assert row["reason"] == "spamtrap"
    assert row["source"] == "operator"
    # ttl = 30d from the configuration
    assert row["expires_at"] - row["since"] == 30 * 86400
    show = run(conf, "suppress", "show", "GONE@partner.test").stdout
    assert "state:       suppressed" in show
    assert "550 5.1.1 destination suppressed since " in show
    assert "by the postmaster (spamtrap)" in show
    assert run(conf, "suppress", "remove", "gone@partner.test").stdout == \
        "gone@partner.test: removed\n"
    p = run(conf, "suppress", "remove", "gone@partner.test", rc=1)
    assert "not in the suppression list" in p.stderr
    run(conf, "suppress", "show", "gone@partner.test", rc=1)
    for bad in (["suppress"], ["suppress", "add"], ["suppress", "list", "x"],
                ["suppress", "remove", "a", "b"], ["suppress", "nope"],
                ["suppress", "list", "--reason", "x"]):
        run(conf, *bad, rc=2)


def test_bounces_report(conf, tmp_path):
    run(conf, "suppress", "list")          # creates and migrates the store
    now = int(time.time())
    db = sqlite3.connect(str(tmp_path / "state.db"))
    events = [
        (now - 3600, "a@one.test", "one.test", "5.1.1", 550, "userunknown", 1, "in-session"),
        (now - 7200, "b@one.test", "one.test", "4.2.2", 452, "mailboxfull", 0, "retry"),
        (now - 7300, "b@one.test", "one.test", "4.2.2", 452, "mailboxfull", 0, "retry"),
        (now - 7400, "c@two.test", "two.test", "5.7.1", 550, "blocked", 0, "returned-bounce"),
        (now - 20 * 86400, "old@three.test", "three.test", "5.1.1", 550, "userunknown", 1, "retry"),
    ]
    for t, dest, dom, st, reply, reason, hard, src in events:
        db.execute("INSERT INTO bounce_event (time, dest, domain, rcpt, status, "
                   "reply, reason, hard, source, text) VALUES "
                   "(?, ?, ?, 'x@hosted.test', ?, ?, ?, ?, ?, 'text')",
                   (t, dest, dom, st, reply, reason, hard, src))
    db.execute("INSERT INTO suppression (dest, suppressed, reason, status, "
               "hard, source, since) VALUES ('a@one.test', 1, 'userunknown', "
               "'5.1.1', 1, 'in-session', ?)", (now - 3600,))
    db.commit()
    db.close()

    rep = json.loads(run(conf, "bounces", "report", "--json").stdout)
    assert rep["total"] == 4
    assert rep["hard"] == 1
    assert rep["soft"] == 3
    assert rep["suppressed_now"] == 1
    assert rep["until"] - rep["since"] == 7 * 86400
    assert rep["by_reason"] == [{"reason": "mailboxfull", "count": 2},
                                {"reason": "blocked", "count": 1},
                                {"reason": "userunknown", "count": 1}]
    assert rep["by_domain"] == [{"domain": "one.test", "count": 3},
                                {"domain": "two.test", "count": 1}]
    assert {"source": "retry", "count": 2} in rep["by_source"]
    assert rep["top_suppressed"] == [{"dest": "a@one.test", "count": 1}]

    rep = json.loads(run(conf, "bounces", "report", "--since", "30d",
                         "--top", "1", "--json").stdout)
    assert rep["total"] == 5
    assert rep["by_reason"] == [{"reason": "mailboxfull", "count": 2}]

    text = run(conf, "bounces", "report").stdout
    assert "(hard 1, soft 3)" in text
    assert "Destinations suppressed now: 1" in text
    for bad in (["bounces"], ["bounces", "report", "--since", "7x"],
                ["bounces", "report", "--top", "0"], ["bounces", "list"]):
        run(conf, *bad, rc=2)


def test_route_commands(conf):
    out = run(conf, "route", "add", "Bob@Example.test", "smtp://10.0.0.5:25",
              "maildir:/srv/bob").stdout
    assert out == "bob@example.test = smtp://10.0.0.5:25, maildir:/srv/bob\n"
    p = run(conf, "route", "add", "x@example.test", "ftp://x", rc=1)
    assert "bad destination 'ftp://x'" in p.stderr
    run(conf, "route", "add", "not-an-address", "maildir:/x", rc=1)
    out = run(conf, "route", "list").stdout
    assert out == ("bob@example.test = smtp://10.0.0.5:25, maildir:/srv/bob\n"
                   "-- 1 stored route\n")
    assert run(conf, "route", "remove", "bob@example.test").stdout == \
        "bob@example.test: removed\n"
    run(conf, "route", "remove", "bob@example.test", rc=1)
    run(conf, "route", "add", "x@example.test", rc=2)


def test_serve_uses_stored_routes_and_reloads_them(make_relay, tmpdir_path):
    """[routes] source = store: the running relay routes by the store's
    entries too, and SIGHUP picks up routes added since."""
    import signal
    import smtplib
    db = os.path.join(tmpdir_path, "state.db")
    relay = make_relay(
        routes={"source": "store",
                "alice@example.test": "maildir:%s/alice" % tmpdir_path},
        extra="[store]\npath = %s\n" % db)
    run(relay.conf, "route", "add", "carol@example.test",
        "maildir:%s/carol" % tmpdir_path)
    with smtplib.SMTP(relay.host, relay.port, timeout=10) as s:
        s.ehlo("x.test")
        s.mail("s@sender.test")
        assert s.rcpt("carol@example.test")[0] == 550   # not loaded yet
    relay.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "and the store" not in relay.log_text() and time.time() < deadline:
        time.sleep(0.05)
    with smtplib.SMTP(relay.host, relay.port, timeout=10) as s:
        s.sendmail("s@sender.test", ["carol@example.test"], b"Subject: st\r\n\r\nx\r\n")
    new = os.path.join(tmpdir_path, "carol", "new")
    assert len(os.listdir(new)) == 1
