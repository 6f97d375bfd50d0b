"""Two relay processes sharing one PostgreSQL database see each other's
suppressions ([store] backend = postgres).

The test starts its own throw-away PostgreSQL 15 cluster (initdb into a
temporary directory, pg_ctl start on a free loopback port, trust auth, the
unix socket in the same directory; as root the tools run as the postgres
user through runuser) and stops and removes it at the end, even when the
test fails.  If the cluster cannot start, the test fails, unless
CLEANBOX_NO_PG=1, which skips it.
"""
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time

import pytest

from conftest import RELAY_BIN, free_port

PG_BINDIR = os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin")


def _as_postgres(argv):
    return (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + argv


def _tail(path, n=4000):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace")
    except OSError:
        return "(no %s)" % path


@pytest.fixture
def pg():
    """A running PostgreSQL cluster; yields its port."""
    no_pg = os.environ.get("CLEANBOX_NO_PG") == "1"
    if no_pg:
        pytest.skip("CLEANBOX_NO_PG=1: PostgreSQL test skipped")
    tmp = tempfile.mkdtemp(prefix="cbr-pg-")
    data = os.path.join(tmp, "data")
    logf = os.path.join(tmp, "postgres.log")
    ctl = os.path.join(PG_BINDIR, "pg_ctl")
    started = False
    try:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
        port = free_port()
        r = subprocess.run(_as_postgres([os.path.join(PG_BINDIR, "initdb"), "-D", data,
                                         "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                         "--locale=C", "--no-sync"]),
                           capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0:
            pytest.fail("initdb failed (set CLEANBOX_NO_PG=1 to skip):\n%s%s"
                        % (r.stdout, r.stderr))
        # fsync off: a throw-away cluster need not survive power loss.
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=50" % (port, tmp))
        started = True      # pg_ctl may have started it even if it fails
        r = subprocess.run(_as_postgres([ctl, "-D", data, "-l", logf, "-w", "-t", "60",
                                         "-o", opts, "start"]),
                           capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0:
            pytest.fail("pg_ctl start failed (set CLEANBOX_NO_PG=1 to skip):\n%s%s\n%s"
                        % (r.stdout, r.stderr, _tail(logf)))
        yield port
    finally:
        if started:
            subprocess.run(_as_postgres([ctl, "-D", data, "-m", "fast", "-w", "-t", "30",
                                         "stop"]),
                           capture_output=True, cwd=tmp)
        shutil.rmtree(tmp, ignore_errors=True)


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
backend = postgres
dsn = host=127.0.0.1 port=%d dbname=postgres user=postgres connect_timeout=10
"""


def rcpt_reply(relay, rcpt="bob@example.test"):
    with smtplib.SMTP(relay.host, relay.port, timeout=30) as s:
        s.ehlo("client.test")
        s.mail("s@sender.test")
        return s.rcpt(rcpt)


def send(relay, rcpt="bob@example.test"):
    msg = b"From: <s@sender.test>\r\nSubject: t\r\n\r\nhello\r\n"
    with smtplib.SMTP(relay.host, relay.port, timeout=30) as s:
        s.sendmail("s@sender.test", [rcpt], msg)


def cli(relay, *args):
    return subprocess.run([RELAY_BIN, "suppress"] + list(args) + ["--config", relay.conf],
                          capture_output=True, text=True, cwd=relay.dir)


def wait_until(pred, timeout=30.0, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError("condition not met in %.0fs" % timeout)


# pg comes first so that it is set up before, and torn down after, the relays.
def test_two_relays_share_suppressions(pg, make_relay, destination):
    dest = destination(rules={"rcpt": {"*": "550 5.1.1 no such user here"}})
    routes = {"bob@example.test": "smtp://127.0.0.1:%d" % dest.port}
    a = make_relay(routes=routes, extra=CONF % pg)
    b = make_relay(routes=routes, extra=CONF % pg)
    key = "bob@example.test via smtp://127.0.0.1:%d" % dest.port

    # Nothing is known yet: both accept (queue mode asks nobody at RCPT).
    assert rcpt_reply(a)[0] == 250
    assert rcpt_reply(b)[0] == 250
    assert key not in cli(b, "list").stdout

    send(a)
    wait_until(lambda: "suppressed after" in a.log_text(), timeout=40)
    assert len(dest.rcpt_attempts("bob@example.test")) >= 1
    assert key in cli(a, "list").stdout
    # B's CLI reads the same database.
    assert key in cli(b, "list").stdout

    # B refuses with A's suppression, without contacting the destination.
    n = len(dest.commands_for("RCPT"))
    conns = len(dest.connections)
    code, text = rcpt_reply(b)
    assert code == 550, text
    assert b"5.1.1" in text and b"suppressed since" in text and b"userunknown" in text
    time.sleep(0.5)
    assert len(dest.commands_for("RCPT")) == n
    assert len(dest.connections) == conns

    # Removing it through B lifts it for A.
    r = cli(b, "remove", key)
    assert r.returncode == 0, r.stderr
    assert r.stdout == key + ": removed\n"
    assert key not in cli(a, "list").stdout
    assert rcpt_reply(a)[0] == 250
    assert rcpt_reply(b)[0] == 250
    assert len(dest.commands_for("RCPT")) == n
