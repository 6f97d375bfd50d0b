"""Shared helpers for the benchmarks: processes that always get stopped,
the relay binary, config files, waiting with timeouts."""
import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from peers import SmtpSink, free_port  # noqa: E402,F401

DEFAULT_RELAY = os.path.join(ROOT, "build", "cleanbox-relay")


class Failed(Exception):
    """A system under test does not work; the bench reports it and goes on."""


_cleanups = []


def on_exit(fn):
    """Run fn at the end, whatever happens (LIFO; also on SIGTERM/SIGINT)."""
    _cleanups.append(fn)
    return fn


def run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:     # keep cleaning up
            print("cleanup: %s" % e, file=sys.stderr)


def _on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def install_handlers():
    atexit.register(run_cleanups)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


def workdir(prefix):
    """A scratch directory under /var/tmp (same disk as a real spool, not
    tmpfs; traversable by the postfix and nobody users), removed at exit
    unless CBR_BENCH_KEEP is set."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    os.chmod(d, 0o755)
    if not os.environ.get("CBR_BENCH_KEEP"):
        import shutil
        on_exit(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def stop_process(proc, timeout=20, sig=signal.SIGTERM):
    """Stop proc (SIGTERM, then SIGKILL after timeout); return its status."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return "killed after %ss" % timeout
    return proc.returncode


def wait_port(host, port, timeout=15.0, proc=None, banner=True):
    """Wait until host:port accepts and (banner) sends a 220 greeting."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise Failed("exited with status %s at start-up" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                if banner:
                    s.settimeout(5)
                    g = s.recv(512)
                    if not g.startswith(b"220"):
                        raise Failed("greeting %r" % g[:80])
                    s.sendall(b"QUIT\r\n")
                    try:
                        s.recv(512)
                    except OSError:
                        pass
                return
        except OSError as e:
            last = e
            time.sleep(0.05)
    raise Failed("nothing listening on %s:%d after %.0fs (%s)"
                 % (host, port, timeout, last))


def tail(path, n=5):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return ""


class RelayProcess:
    """The relay binary with a config written for a benchmark."""

    def __init__(self, binary, work, name, port, extra_sections, routes,
                 limits=None):
        self.binary = binary
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port
        self.queue = os.path.join(self.dir, "queue")
        self.conf = os.path.join(self.dir, "relay.conf")
        self.log = os.path.join(self.dir, "relay.log")
        self.proc = None
        lines = ["[server]", "listen = 127.0.0.1:%d" % port,
                 "hostname = relay.bench.test", "", "[limits]"]
        for k, v in (limits or {}).items():
            lines.append("%s = %s" % (k, v))
        lines += ["", "[queue]", "dir = %s" % self.queue, ""]
        for section, kv in extra_sections.items():
            lines.append("[%s]" % section)
            for k, v in kv.items():
                lines.append("%s = %s" % (k, v))
            lines.append("")
        lines.append("[routes]")
        for k, v in routes.items():
            lines.append("%s = %s" % (k, v))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def check_binary(self):
        if not os.path.isfile(self.binary) or not os.access(self.binary, os.X_OK):
            raise Failed("no relay binary at %s (make build)" % self.binary)
        r = subprocess.run([self.binary, "config", "check", "--config",
                            self.conf], capture_output=True, text=True,
                           timeout=30, cwd=self.dir)
        if r.returncode != 0:
            msg = (r.stdout + r.stderr).strip().splitlines()
            raise Failed("config check: %s" % ("; ".join(msg[-3:]) or
                                                "exit %d" % r.returncode))

    def start(self, preexec=None):
        self.check_binary()
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.binary, "serve", "--config",
                                      self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir,
                                     preexec_fn=preexec)
        on_exit(self.stop)
        try:
            wait_port("127.0.0.1", self.port, 20, self.proc)
        except Failed as e:
            raise Failed("relay %s; log: %s" % (e, tail(self.log, 3)))
        return self

    def stop(self):
        if self.proc is None:
            return None
        rc = stop_process(self.proc, 30)
        self.proc = None
        self.logf.close()
        return rc

    def spool_files(self):
        """Message files left in the spool (not relay.pid, not ctl/)."""
        n = 0
        for sub in ("queue", "tmp", "corrupt"):
            for dirpath, _, files in os.walk(os.path.join(self.queue, sub)):
                n += len(files)
        return n
