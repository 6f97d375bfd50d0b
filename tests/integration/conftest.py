"""Fixtures for integration tests: the real relay binary on loopback.

Every test gets its own temporary directory, config file and free port;
every process a fixture starts is stopped when the test ends.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

RELAY_BIN = os.environ.get(
    "RELAY_BIN",
    os.path.join(os.path.dirname(__file__), "..", "..", "build-asan", "cleanbox-relay"))


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=15.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited early with %s" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                # Say goodbye properly, so the probe is not still counted
                # against connection limits when the test starts.
                s.recv(1024)
                s.sendall(b"QUIT\r\n")
                while s.recv(1024):
                    pass
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %s:%d" % (host, port))


class Relay:
    """One relay process with its own config, maildirs and queue."""

    def __init__(self, tmp, extra="", routes=None, limits=None, tls=None,
                 listen_v6=False):
        self.dir = tmp
        self.port = free_port()
        self.host = "127.0.0.1"
        self.mail = os.path.join(tmp, "mail")
        self.queue = os.path.join(tmp, "queue")
        self.conf = os.path.join(tmp, "relay.conf")
        self.log = os.path.join(tmp, "relay.log")
        self.proc = None
        self.wrap = []          # e.g. ["prlimit", "--fsize=...", "--"]
        if routes is None:
            routes = {
                "alice@example.test": "maildir:%s/alice" % self.mail,
                "bob@example.test": "maildir:%s/bob" % self.mail,
                "postmaster@relay.example.test": "maildir:%s/postmaster" % self.mail,
            }
        listen = "127.0.0.1:%d" % self.port
        if listen_v6:
            self.port6 = free_port(socket.AF_INET6, "::1")
            listen += ", [::1]:%d" % self.port6
        lines = ["[server]", "listen = " + listen,
                 "hostname = relay.example.test", ""]
        if tls:
            lines += ["[tls]", "cert = %s" % tls[0], "key = %s" % tls[1], ""]
        lines += ["[limits]"]
        for k, v in (limits or {}).items():
            lines.append("%s = %s" % (k, v))
        lines += ["", "[queue]", "dir = %s" % self.queue, ""]
        lines += [extra, "", "[routes]"]
        for k, v in routes.items():
            lines.append("%s = %s" % (k, v))
        self.write_config("\n".join(lines) + "\n")

    def write_config(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self):
        self.logf = open(self.log, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        self.proc = subprocess.Popen(self.wrap + [RELAY_BIN, "serve", "--config", self.conf],
                                     stdout=self.logf, stderr=self.logf, env=env,
                                     cwd=self.dir)
        try:
            wait_port(self.host, self.port, proc=self.proc)
        except RuntimeError as e:
            raise RuntimeError("%s; log:\n%s" % (e, self.log_text())) from None
        return self

    def stop(self, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self.logf.close()
        return rc

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def maildir_messages(self, box):
        new = os.path.join(self.mail, box, "new")
        if not os.path.isdir(new):
            return []
        out = []
        for name in sorted(os.listdir(new)):
            with open(os.path.join(new, name), "rb") as f:
                out.append(f.read())
        return out

    def connect(self, timeout=10):
        return RawClient(self.host, self.port, timeout)


class RawClient:
    """A byte-level SMTP client for malformed input and pipelining."""

    def __init__(self, host, port, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """Read one (possibly multi-line) reply; return (code, text)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed; got %r" % (self.buf,))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closes the connection (after any data)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="cbr-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_relay(tmpdir_path):
    started = []

    def factory(**kw):
        sub = tempfile.mkdtemp(dir=tmpdir_path)
        r = Relay(sub, **kw)
        started.append(r)
        return r.start()

    yield factory
    for r in started:
        rc = r.stop()
        # A clean SIGTERM exit is 0; ASan findings make it non-zero.
        assert rc == 0, "relay exited %s; log:\n%s" % (rc, r.log_text())


@pytest.fixture
def relay(make_relay):
    return make_relay()


@pytest.fixture(scope="session")
def tls_cert():
    d = tempfile.mkdtemp(prefix="cbr-tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=relay.example.test"],
                   check=True, capture_output=True)
    yield cert, key
    shutil.rmtree(d, ignore_errors=True)


# --- Real peers: scriptable SMTP destination, DNS server, smtp-sink ---------
# (see peers.py; each factory stops what it started at the end of the test)

from peers import Destination, DnsServer, SmtpSink  # noqa: E402


def _peer_factory(cls):
    started = []

    def factory(**kw):
        p = cls(**kw)
        started.append(p)
        return p.start()

    return factory, started


@pytest.fixture
def destination():
    """destination(rules=..., port=..., tls_cert=..., dsn=False, ...) ->
    a started Destination."""
    factory, started = _peer_factory(Destination)
    yield factory
    for p in started:
        p.stop()


@pytest.fixture
def dns_server():
    """dns_server(mx=..., hosts=..., null_mx=[...]) -> a started DnsServer;
    use .resolver for the relay's [dns] resolver."""
    factory, started = _peer_factory(DnsServer)
    yield factory
    for p in started:
        p.stop()


@pytest.fixture
def smtp_sink():
    """smtp_sink(soft_reject=["rcpt"], ...) -> a started SmtpSink."""
    factory, started = _peer_factory(SmtpSink)
    yield factory
    for p in started:
        p.stop()
