"""Real peers for integration tests, all on loopback.

- Destination: a scriptable SMTP server (aiosmtpd in a background thread)
  that answers per recipient and per attempt, can drop or stall, offers
  STARTTLS and chosen EHLO keywords, and records every connection, command,
  transaction and accepted message.
- DnsServer: dnsmasq on a free loopback port with test zones (MX, host
  records, null MX, NXDOMAIN for every other name under .test), plus
  optional SERVFAIL and timing-out zones.
- SmtpSink: Postfix's /usr/sbin/smtp-sink on a free port, counting messages
  from its -c counters, with its -r/-f/-q failure injection.

Everything here is started by a test (or a fixture in conftest.py) and must
be stopped by it; each class is also a context manager.

Destination rules
-----------------
``rules`` is a dict; every value is a list of actions, one per successive
attempt, the last one repeating once the list is used up (a single string
is a one-element list).  Stages:

  "connect":  per connection, instead of the 220 greeting
  "ehlo":     per EHLO command (a non-2xx reply makes the client fall back
              to HELO)
  "starttls": per STARTTLS command
  "mail":     per MAIL command; a list, or a dict keyed by sender address
              ("" for the null sender, "*" for any other)
  "rcpt":     per RCPT command; a dict keyed by recipient address ("*" for
              any other), or a list.  Attempts are counted per recipient
              address (case-insensitive), across connections.
  "data_cmd": per DATA command, instead of 354
  "data":     at the end of DATA.  A list: per message.  A dict: keys are
              recipient addresses (attempts counted per recipient, over
              every message that recipient was accepted in) and "*" (per
              message, when no accepted recipient of the message has a rule
              of its own).  When several recipients of one message have
              rules, the first one (in RCPT order) whose action is not a
              plain 2xx reply decides the reply.

An action is one of:

  "250 2.1.5 Ok"    send this reply ("\\n" separates lines of a multi-line
                    reply; the code is repeated on each line)
  "" or "default"   behave normally (accept)
  "drop"            close the connection without replying
  "reset"           close the connection with a TCP RST
  "stall:N"         wait N seconds (asynchronously; other sessions go on),
                    then behave normally; "stall:N REPLY", "stall:N:drop"
                    and "stall:N:reset" wait then do the rest

A message counts as accepted (``Destination.messages``) only when its end of
DATA was answered 2xx.  Every end of DATA, accepted or not, is in
``Destination.transactions``.
"""
import asyncio
import os
import pwd
import re
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, MISSING

__all__ = ["Destination", "DnsServer", "SmtpSink", "free_port",
           "free_udp_tcp_port", "Message", "Command", "Connection"]


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port nobody listens on right now (racy, but good enough)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_udp_tcp_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host (for a DNS server)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port")


# ---------------------------------------------------------------------------
# Destination: scriptable aiosmtpd server
# ---------------------------------------------------------------------------

@dataclass
class Connection:
    id: int
    peer: tuple
    time: float
    closed: Optional[float] = None


@dataclass
class Command:
    """One command line the destination read, and what it answered.

    verb is upper case ("EHLO", "MAIL", "RCPT", "DATA", "." for the end of
    the message text, ...); arg is the rest of the line as sent.  reply is
    the reply text (lines joined by "\\n"), "drop"/"reset" when the
    connection was closed instead, or None if no reply was sent.
    """
    conn: int
    time: float
    verb: str
    arg: str
    tls: bool
    reply: Optional[str] = None

    @property
    def code(self):
        if self.reply and self.reply[:3].isdigit():
            return int(self.reply[:3])
        return None


@dataclass
class Message:
    """One transaction that reached the end of DATA."""
    conn: int
    time: float
    mail_from: str              # "" for the null sender
    rcpts: List[str]            # recipients accepted at RCPT, in order
    data: bytes                 # message text, dot-unstuffed, CRLF lines
    mail_args: str              # MAIL argument as sent, e.g. "FROM:<a@b> SIZE=9"
    rcpt_args: Dict[str, str]   # recipient -> RCPT argument as sent
    helo: Optional[str]
    tls: bool
    reply: str = ""

    @property
    def accepted(self):
        return self.reply[:1] == "2"


_DEFAULT = object()


class _Action:
    __slots__ = ("stall", "kind", "reply")

    def __init__(self, text):
        self.stall = 0.0
        self.kind = "default"
        self.reply = None
        t = (text or "").strip()
        m = re.match(r"stall:([0-9.]+)[: ]?(.*)$", t, re.S)
        if m:
            self.stall = float(m.group(1))
            t = m.group(2).strip()
        if t in ("", "default"):
            self.kind = "default"
        elif t in ("drop", "reset"):
            self.kind = t
        elif re.match(r"[2-5][0-9][0-9]([ -]|$)", t):
            self.kind = "reply"
            self.reply = t
        else:
            raise ValueError("bad destination action %r" % text)

    def is_plain_2xx(self):
        return self.kind == "default" or (self.kind == "reply"
                                          and self.reply[0] == "2")


def _reply_lines(text):
    """'250 a\\nb' -> ['250-a', '250 b'] (multi-line reply)."""
    parts = text.split("\n")
    code = parts[0][:3]
    first = parts[0][4:] if len(parts[0]) > 3 else ""
    texts = [first] + parts[1:]
    out = []
    for i, t in enumerate(texts):
        sep = " " if i == len(texts) - 1 else "-"
        out.append(code + sep + t)
    return out


class _Close(Exception):
    pass


class _ScriptedSMTP(SMTP):
    """aiosmtpd's SMTP with recording, scripted replies and DSN params."""

    def __init__(self, dest, conn_id, handler, **kw):
        super().__init__(handler, **kw)
        self.dest = dest
        self.conn_id = conn_id
        self.current = None         # the Command being answered
        self.raw_arg = ""
        self.helo = None

    def _client_connected_cb(self, reader, writer):
        super()._client_connected_cb(reader, writer)
        # Record every command line, also those aiosmtpd refuses before
        # dispatching them (530 before STARTTLS, 500 unknown, ...).  In
        # aiosmtpd 1.4 command lines are read with readuntil() and the
        # message text with readuntil(b"\r\n"), which tells them apart.
        orig = reader.readuntil

        async def readuntil(separator=b"\n"):
            line = await orig(separator)
            if separator == b"\n":
                text = line.rstrip(b"\r\n").decode("utf-8", "replace")
                verb, _, arg = text.partition(" ")
                self.raw_arg = arg.strip()
                self.current = self.dest._record_command(
                    self.conn_id, verb.upper(), self.raw_arg, self.tls_active)
            return line

        reader.readuntil = readuntil

    @property
    def tls_active(self):
        return self._tls_protocol is not None

    def connection_made(self, transport):
        first = self.transport is None
        super().connection_made(transport)
        if first:
            peer = transport.get_extra_info("peername")
            self.dest._record_connection(self.conn_id, peer)

    def connection_lost(self, error):
        self.dest._record_close(self.conn_id)
        super().connection_lost(error)

    async def push(self, status):
        if self.current is not None:
            s = status if isinstance(status, str) else status.decode(
                "utf-8", "replace")
            with self.dest._lock:
                if self.current.reply is None:
                    self.current.reply = s
                else:
                    self.current.reply += "\n" + s
        await super().push(status)

    def _getparams(self, params):
        result = super()._getparams(params)
        if result is not None and self.dest.dsn:
            # aiosmtpd knows no DSN parameters (RFC 3461); take them out so
            # it does not answer 555.  The raw arguments are recorded.
            for k in ("RET", "ENVID", "NOTIFY", "ORCPT"):
                result.pop(k, None)
        return result

    async def act(self, action):
        """Run the stall/drop part of an action; return True to go on."""
        if action.stall:
            await asyncio.sleep(action.stall)
        if action.kind in ("drop", "reset"):
            await self.close_now(action.kind)
        return True

    async def close_now(self, how):
        if self.current is not None:
            with self.dest._lock:
                self.current.reply = how
        tr = self.transport
        if tr is not None:
            if how == "reset":
                sock = tr.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                    except OSError:
                        pass
                tr.abort()
            else:
                tr.close()
        # Ends _handle_client the way a lost connection does.
        raise asyncio.CancelledError()

    async def _handle_client(self):
        action = self.dest._next_action("connect", None, None)
        if action is not None:
            await self.act(action)
            if action.kind == "reply":
                self.current = self.dest._record_command(
                    self.conn_id, "CONNECT", "", False)
                for line in _reply_lines(action.reply):
                    await self.push(line)
                if action.reply[0] != "2":
                    self.transport.close()
                    return
        return await super()._handle_client()

    async def smtp_DATA(self, arg):
        if (self.session.host_name and self.envelope.rcpt_tos and not arg):
            action = self.dest._next_action("data_cmd", None, None)
            if action is not None:
                await self.act(action)
                if action.kind == "reply":
                    for line in _reply_lines(action.reply):
                        await self.push(line)
                    if action.reply[:3] != "354":
                        return
                    # 354 with a custom text: fall through would send a
                    # second 354, so this is not supported.
                    raise ValueError("data_cmd: use 'default' for 354")
        return await super().smtp_DATA(arg)

    async def smtp_STARTTLS(self, arg):
        action = self.dest._next_action("starttls", None, None)
        if action is not None and self.tls_context and not arg:
            await self.act(action)
            if action.kind == "reply":
                for line in _reply_lines(action.reply):
                    await self.push(line)
                return
        return await super().smtp_STARTTLS(arg)


class _Handler:
    def __init__(self, dest):
        self.dest = dest

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        d = self.dest
        action = d._next_action("ehlo", None, None)
        if action is not None:
            await server.act(action)
            if action.kind == "reply" and action.reply[0] != "2":
                return _reply_lines(action.reply)
        session.host_name = hostname
        server.helo = hostname
        kw = [server.hostname]
        if d.size:
            kw.append("SIZE %d" % d.size)
        if d.eightbitmime:
            kw.append("8BITMIME")
        if d.smtputf8:
            kw.append("SMTPUTF8")
        if d.pipelining:
            kw.append("PIPELINING")
        if d.dsn:
            kw.append("DSN")
        if d.enhancedstatuscodes:
            kw.append("ENHANCEDSTATUSCODES")
        if server.tls_context and not server.tls_active:
            kw.append("STARTTLS")
        kw += d.extra_ehlo
        kw.append("HELP")
        return ["250%s%s" % ("-" if i < len(kw) - 1 else " ", k)
                for i, k in enumerate(kw)]

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        server.helo = hostname
        return "250 %s" % server.hostname

    async def handle_MAIL(self, server, session, envelope, address, options):
        d = self.dest
        if address == "<>":
            address = ""
        if not d.eightbitmime and "BODY=8BITMIME" in options:
            return "555 5.5.4 BODY=8BITMIME not offered"
        action = d._next_action("mail", address, None)
        if action is not None:
            await server.act(action)
            if action.kind == "reply":
                if action.reply[0] == "2":
                    envelope.mail_from = address or "<>"
                    envelope.mail_options.extend(options)
                    envelope.cbr_mail_args = server.raw_arg
                return action.reply if "\n" not in action.reply else \
                    "\r\n".join(_reply_lines(action.reply))
        envelope.mail_from = address or "<>"
        envelope.mail_options.extend(options)
        envelope.cbr_mail_args = server.raw_arg
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, options):
        d = self.dest
        action = d._next_action("rcpt", address, address)
        reply = "250 2.1.5 Ok"
        if action is not None:
            await server.act(action)
            if action.kind == "reply":
                reply = action.reply
        if reply[0] == "2":
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
            if not hasattr(envelope, "cbr_rcpt_args"):
                envelope.cbr_rcpt_args = {}
            envelope.cbr_rcpt_args[address] = server.raw_arg
        return reply if "\n" not in reply else "\r\n".join(_reply_lines(reply))

    async def handle_DATA(self, server, session, envelope):
        d = self.dest
        server.current = d._record_command(server.conn_id, ".", "",
                                           server.tls_active)
        mail_from = envelope.mail_from
        if mail_from == "<>":
            mail_from = ""
        msg = Message(conn=server.conn_id, time=time.time(),
                      mail_from=mail_from, rcpts=list(envelope.rcpt_tos),
                      data=bytes(envelope.original_content or b""),
                      mail_args=getattr(envelope, "cbr_mail_args", ""),
                      rcpt_args=dict(getattr(envelope, "cbr_rcpt_args", {})),
                      helo=server.helo, tls=server.tls_active)
        action = d._data_action(msg.rcpts)
        reply = None
        if action is not None:
            if action.stall:
                await asyncio.sleep(action.stall)
            if action.kind in ("drop", "reset"):
                msg.reply = action.kind
                d._record_transaction(msg)
                await server.close_now(action.kind)
            if action.kind == "reply":
                reply = action.reply
        if reply is None:
            reply = "250 2.0.0 Ok: queued as D%d" % d._next_queue_id()
        msg.reply = reply
        d._record_transaction(msg)
        return reply if "\n" not in reply else "\r\n".join(_reply_lines(reply))


class _DestController(Controller):
    def __init__(self, dest, **kw):
        self.dest = dest
        super().__init__(_Handler(dest), **kw)

    def factory(self):
        return _ScriptedSMTP(self.dest, self.dest._next_conn_id(),
                             self.handler, **self.SMTP_kwargs)


class Destination:
    """A scriptable SMTP destination on host:port (see the module doc).

    Feature switches (what EHLO offers): size (bytes, None = no SIZE and no
    limit), eightbitmime, smtputf8, pipelining, dsn, enhancedstatuscodes,
    extra_ehlo (more keywords).  tls_cert=(cert, key) offers STARTTLS;
    require_starttls refuses mail until it is done.  Without 8BITMIME a
    MAIL with BODY=8BITMIME gets 555; without SMTPUTF8 a MAIL with SMTPUTF8
    gets 501 and non-ASCII commands get 500; without DSN, DSN parameters
    get 555.
    """

    def __init__(self, port=None, host="127.0.0.1", rules=None,
                 hostname="mx.dest.test", tls_cert=None,
                 require_starttls=False, size=33554432, eightbitmime=True,
                 smtputf8=True, pipelining=True, dsn=True,
                 enhancedstatuscodes=True, extra_ehlo=(), timeout=300):
        self.host = host
        self.port = port or free_port(
            socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        self.hostname = hostname
        self.size = size
        self.eightbitmime = eightbitmime
        self.smtputf8 = smtputf8
        self.pipelining = pipelining
        self.dsn = dsn
        self.enhancedstatuscodes = enhancedstatuscodes
        self.extra_ehlo = list(extra_ehlo)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._rules = {}
        self._counters = {}
        self._conn_ids = 0
        self._queue_ids = 0
        self._live = False
        self.connections: List[Connection] = []
        self.commands: List[Command] = []
        self.transactions: List[Message] = []
        self.set_rules(rules or {})
        tls_context = None
        if tls_cert:
            tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls_context.load_cert_chain(tls_cert[0], tls_cert[1])
        self._controller = _DestController(
            self, hostname=host, port=self.port, server_hostname=hostname,
            ready_timeout=10, data_size_limit=size,
            enable_SMTPUTF8=smtputf8, decode_data=False,
            tls_context=tls_context,
            require_starttls=bool(tls_context and require_starttls),
            timeout=timeout)
        self._started = False

    # -- life cycle -----------------------------------------------------
    def start(self):
        self._controller.start()
        self._started = True
        with self._lock:
            # Forget the controller's own readiness probe.
            self._live = True
            self.connections.clear()
            self.commands.clear()
        return self

    def stop(self):
        if self._started:
            self._started = False
            self._controller.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        """host:port as the relay's config writes it (IPv6 in brackets)."""
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    # -- scripting ------------------------------------------------------
    def set_rules(self, rules, reset_counts=False):
        """Replace the rules (e.g. to 'fix' a destination mid-test)."""
        parsed = {}
        for stage, v in rules.items():
            if stage not in ("connect", "ehlo", "starttls", "mail", "rcpt",
                             "data_cmd", "data"):
                raise ValueError("unknown stage %r" % stage)
            if isinstance(v, dict):
                parsed[stage] = {k.lower(): self._parse_list(x)
                                 for k, x in v.items()}
            else:
                parsed[stage] = self._parse_list(v)
        with self._lock:
            self._rules = parsed
            if reset_counts:
                self._counters.clear()

    @staticmethod
    def _parse_list(v):
        if isinstance(v, str):
            v = [v]
        if not v:
            raise ValueError("empty action list")
        return [_Action(x) for x in v]

    def _take(self, key, actions):
        n = self._counters.get(key, 0)
        self._counters[key] = n + 1
        return actions[min(n, len(actions) - 1)]

    def _next_action(self, stage, key, count_key):
        """The action for this attempt of stage (None = default)."""
        with self._lock:
            if not self._live:
                return None
            rule = self._rules.get(stage)
            if rule is None:
                return None
            if isinstance(rule, dict):
                k = (key or "").lower()
                if k in rule:
                    return self._take((stage, k), rule[k])
                if "*" in rule:
                    ck = (count_key or "").lower() if count_key else None
                    return self._take((stage, "*", ck), rule["*"])
                return None
            ck = (count_key or "").lower() if count_key else None
            return self._take((stage, ck), rule)

    def _data_action(self, rcpts):
        with self._lock:
            rule = self._rules.get("data")
            if rule is None or not self._live:
                return None
            if not isinstance(rule, dict):
                return self._take(("data", None), rule)
            chosen = None
            for r in rcpts:
                k = r.lower()
                if k in rule:
                    a = self._take(("data", k), rule[k])
                    if chosen is None or (chosen.is_plain_2xx()
                                          and not a.is_plain_2xx()):
                        chosen = a
            if chosen is None and "*" in rule:
                chosen = self._take(("data", "*", None), rule["*"])
            return chosen

    # -- recording ------------------------------------------------------
    def _next_conn_id(self):
        with self._lock:
            self._conn_ids += 1
            return self._conn_ids

    def _next_queue_id(self):
        with self._lock:
            self._queue_ids += 1
            return self._queue_ids

    def _record_connection(self, cid, peer):
        with self._cond:
            if self._live:
                self.connections.append(Connection(cid, peer, time.time()))
                self._cond.notify_all()

    def _record_close(self, cid):
        with self._cond:
            for c in self.connections:
                if c.id == cid and c.closed is None:
                    c.closed = time.time()
            self._cond.notify_all()

    def _record_command(self, cid, verb, arg, tls):
        cmd = Command(cid, time.time(), verb, arg, tls)
        with self._cond:
            if self._live:
                self.commands.append(cmd)
                self._cond.notify_all()
        return cmd

    def _record_transaction(self, msg):
        with self._cond:
            self.transactions.append(msg)
            self._cond.notify_all()

    # -- queries for tests ------------------------------------------------
    @property
    def messages(self):
        """Accepted messages (end of DATA answered 2xx), oldest first."""
        with self._lock:
            return [m for m in self.transactions if m.accepted]

    def commands_for(self, verb):
        with self._lock:
            return [c for c in self.commands if c.verb == verb.upper()]

    def rcpt_attempts(self, address):
        """Every RCPT command naming address (case-insensitive)."""
        want = address.lower()
        out = []
        with self._lock:
            for c in self.commands:
                if c.verb != "RCPT":
                    continue
                m = re.match(r"\s*TO:\s*<([^>]*)>", c.arg, re.I)
                if m and m.group(1).lower() == want:
                    out.append(c)
        return out

    def messages_for(self, address):
        want = address.lower()
        return [m for m in self.messages
                if want in (r.lower() for r in m.rcpts)]

    def wait_for(self, predicate, timeout=10.0):
        """Wait until predicate() is true; return its value or raise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = predicate()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("destination: condition not met in %.1fs"
                                       % timeout)
                self._cond.wait(min(left, 0.5))

    def wait_messages(self, n, timeout=10.0):
        """Wait until at least n messages were accepted; return them."""
        self.wait_for(lambda: len(self.messages) >= n, timeout)
        return self.messages

    def clear(self):
        """Forget what was recorded (not the attempt counters)."""
        with self._lock:
            self.connections.clear()
            self.commands.clear()
            self.transactions.clear()


# ---------------------------------------------------------------------------
# DnsServer: dnsmasq with test zones
# ---------------------------------------------------------------------------

class _ServfailResponder:
    """A UDP DNS server that answers every query SERVFAIL (rcode 2)."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            if len(data) < 12:
                continue
            qid, flags = struct.unpack("!HH", data[:4])
            rd = flags & 0x0100
            # QR=1, opcode copied, RD copied, RA=1, RCODE=2; echo question.
            rflags = 0x8000 | (flags & 0x7800) | rd | 0x0080 | 2
            qdcount = struct.unpack("!H", data[4:6])[0]
            reply = struct.pack("!HHHHHH", qid, rflags, qdcount, 0, 0, 0) \
                + data[12:]
            try:
                self.sock.sendto(reply, addr)
            except OSError:
                pass

    def stop(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()


def dns_query(port, name, qtype="A", host="127.0.0.1", timeout=2.0, tcp=False):
    """Minimal DNS client: returns (rcode, answer_count) or None on timeout.

    Enough to wait for a server and for quick checks; tests use dig for
    the full answer.
    """
    types = {"A": 1, "NS": 2, "CNAME": 5, "MX": 15, "TXT": 16, "AAAA": 28}
    qid = int.from_bytes(os.urandom(2), "big")
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", types[qtype], 1)
    try:
        if tcp:
            with socket.create_connection((host, port), timeout) as s:
                s.sendall(struct.pack("!H", len(q)) + q)
                buf = b""
                while len(buf) < 2 or len(buf) < 2 + struct.unpack(
                        "!H", buf[:2])[0]:
                    chunk = s.recv(4096)
                    if not chunk:
                        return None
                    buf += chunk
                r = buf[2:]
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.sendto(q, (host, port))
                while True:
                    r, _ = s.recvfrom(4096)
                    if r[:2] == q[:2]:
                        break
    except (socket.timeout, OSError):
        return None
    flags, _, ancount = struct.unpack("!HHH", r[2:8])
    return flags & 0xF, ancount


class DnsServer:
    """dnsmasq answering test zones on 127.0.0.1:port (UDP and TCP).

    mx:       {"dest.test": [("mx.dest.test", 10), ("mx2.dest.test", 20)]}
              (a bare host name means preference 10)
    hosts:    {"mx.dest.test": "127.0.0.1"} or a list of addresses (v4/v6)
    null_mx:  ["nullmx.test"]  -> "MX 0 ." (RFC 7505)
    txt:      {"name.test": "text"}
    cname:    {"alias.test": "target.test"}
    servfail: ["broken.test"]  -> SERVFAIL for every name in the zone
    timeout:  ["slow.test"]    -> no answer at all (forwarded to a dead port)
    local:    the zone(s) dnsmasq is authoritative for: any other name in it
              is NXDOMAIN (default "test"); names outside it are REFUSED.
    """

    def __init__(self, mx=None, hosts=None, null_mx=(), txt=None, cname=None,
                 servfail=(), timeout=(), local=("test",), port=None,
                 log_queries=True):
        self.mx = mx or {}
        self.hosts = hosts or {}
        self.null_mx = list(null_mx)
        self.txt = txt or {}
        self.cname = cname or {}
        self.servfail = list(servfail)
        self.timeout = list(timeout)
        self.local = [local] if isinstance(local, str) else list(local)
        self.port = port
        self.host = "127.0.0.1"
        self.log_queries = log_queries
        self.proc = None
        self._servfail = None
        self._dead = None
        self._dir = None

    @property
    def resolver(self):
        """The value for the relay's [dns] resolver key."""
        return "%s:%d" % (self.host, self.port)

    def _args(self, port):
        a = ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
             "--pid-file=", "--port=%d" % port,
             "--listen-address=%s" % self.host, "--bind-interfaces",
             "--no-resolv", "--no-hosts", "--no-negcache", "--cache-size=0",
             "--log-facility=-"]
        if os.geteuid() == 0:
            a.append("--user=nobody")
        if self.log_queries:
            a.append("--log-queries")
        for z in self.local:
            a.append("--local=/%s/" % z)
        for dom, targets in self.mx.items():
            if isinstance(targets, str):
                targets = [(targets, 10)]
            for t in targets:
                host, pref = (t, 10) if isinstance(t, str) else t
                a.append("--mx-host=%s,%s,%d" % (dom, host, pref))
        for dom in self.null_mx:
            a.append("--mx-host=%s,.,0" % dom)
        for name, addrs in self.hosts.items():
            if isinstance(addrs, str):
                addrs = [addrs]
            a.append("--host-record=%s,%s" % (name, ",".join(addrs)))
        for name, text in self.txt.items():
            a.append("--txt-record=%s,%s" % (name, text))
        for alias, target in self.cname.items():
            a.append("--cname=%s,%s" % (alias, target))
        if self.servfail:
            for dom in self.servfail:
                a.append("--server=/%s/127.0.0.1#%d" % (dom, self._servfail.port))
        for dom in self.timeout:
            a.append("--server=/%s/127.0.0.1#%d"
                     % (dom, self._dead.getsockname()[1]))
        return a

    def start(self, timeout=10.0):
        if self.servfail:
            self._servfail = _ServfailResponder()
        if self.timeout:
            # Bound but never read: queries vanish (no ICMP unreachable), so
            # dnsmasq never answers names in these zones.
            self._dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._dead.bind(("127.0.0.1", 0))
        self._dir = tempfile.mkdtemp(prefix="cbr-dns-")
        self.logfile = os.path.join(self._dir, "dnsmasq.log")
        fixed = self.port is not None
        for _ in range(5):
            port = self.port if fixed else free_udp_tcp_port()
            logf = open(self.logfile, "ab")
            self.proc = subprocess.Popen(self._args(port), stdout=logf,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
            logf.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if dns_query(port, "ready-probe.invalid", "A",
                             timeout=0.3) is not None:
                    self.port = port
                    return self
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("dnsmasq did not answer; log:\n" + self.log())
            if fixed or "in use" not in self.log():
                raise RuntimeError("dnsmasq exited %s; log:\n%s"
                                   % (self.proc.returncode, self.log()))
        raise RuntimeError("dnsmasq: no free port; log:\n" + self.log())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._servfail is not None:
            self._servfail.stop()
            self._servfail = None
        if self._dead is not None:
            self._dead.close()
            self._dead = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, AttributeError):
            return ""

    def queries(self):
        """[(qtype, name)] of every query received so far, in order."""
        return re.findall(r"query\[(\w+)\] (\S+) from", self.log())


# ---------------------------------------------------------------------------
# SmtpSink: /usr/sbin/smtp-sink
# ---------------------------------------------------------------------------

_COUNTER = re.compile(rb"sess=(\d+) quit=(\d+) mesg=(\d+)")


class SmtpSink:
    """Postfix's smtp-sink on host:port, counting what it receives.

    soft_reject / hard_reject / disconnect: command names (e.g. "rcpt",
    "." for the end of DATA, "connect") answered 4xx (-r), 5xx (-f) or
    dropped without reply (-q).  Note that smtp-sink's message counter
    counts every end of DATA, also those it answered 4xx/5xx.  dump_dir:
    keep every message as a file there (-d); extra_args: more options,
    e.g. ["-8"] (no 8BITMIME), ["-p"] (no PIPELINING), ["-w", "2"].
    """

    BIN = "/usr/sbin/smtp-sink"

    def __init__(self, port=None, host="127.0.0.1", soft_reject=(),
                 hard_reject=(), disconnect=(), dump_dir=None, extra_args=(),
                 backlog=1024, max_connections=None, hostname=None):
        self.host = host
        self.port = port or free_port()
        self.soft_reject = list(soft_reject)
        self.hard_reject = list(hard_reject)
        self.disconnect = list(disconnect)
        self.dump_dir = dump_dir
        self.extra_args = list(extra_args)
        self.backlog = backlog
        self.max_connections = max_connections
        self.hostname = hostname
        self.proc = None
        self._cond = threading.Condition()
        self.sessions = 0
        self.quits = 0
        self.count = 0          # ends of DATA seen since start
        self.last_change = None  # time.monotonic() of the last count change
        self._out = b""
        self._reader = None

    def args(self):
        a = [self.BIN, "-c"]
        if os.geteuid() == 0:
            a += ["-u", "nobody"]
        if self.soft_reject:
            a += ["-r", ",".join(self.soft_reject)]
        if self.hard_reject:
            a += ["-f", ",".join(self.hard_reject)]
        if self.disconnect:
            a += ["-q", ",".join(self.disconnect)]
        if self.dump_dir:
            a += ["-d", os.path.join(self.dump_dir, "msg.")]
        if self.max_connections:
            a += ["-m", str(self.max_connections)]
        if self.hostname:
            a += ["-h", self.hostname]
        a += self.extra_args
        a += ["%s:%d" % (self.host, self.port), str(self.backlog)]
        return a

    def start(self, timeout=10.0):
        if self.dump_dir:
            os.makedirs(self.dump_dir, exist_ok=True)
            if os.geteuid() == 0:
                # smtp-sink runs as nobody (-u) and dies ("fatal: open ...
                # Permission denied") at the first RCPT if it cannot reach
                # the dump directory: say so now instead.
                nobody = pwd.getpwnam("nobody")
                os.chown(self.dump_dir, nobody.pw_uid, nobody.pw_gid)
                d = os.path.dirname(os.path.abspath(self.dump_dir))
                while d != "/":
                    if not os.stat(d).st_mode & 0o001:
                        raise ValueError("smtp-sink runs as nobody, who cannot "
                                         "traverse %s (chmod o+x)" % d)
                    d = os.path.dirname(d)
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("smtp-sink exited %s: %s" % (
                    self.proc.returncode, self._out.decode("utf-8", "replace")))
            try:
                with socket.create_connection((self.host, self.port), 0.5) as s:
                    s.settimeout(2)
                    s.recv(256)         # the 220 greeting
                    s.sendall(b"QUIT\r\n")
                    s.recv(256)
                # The probe is a session; wait for the counter to show it,
                # then start counting from here.
                with self._cond:
                    self._cond.wait_for(lambda: self.sessions >= 1, 5)
                    self._base = (self.sessions, self.quits, self.count)
                    self.sessions = self.quits = self.count = 0
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("smtp-sink not listening on %d" % self.port)

    _base = (0, 0, 0)

    def _read(self):
        fd = self.proc.stdout.fileno()
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *done, pending = re.split(rb"[\r\n]", pending)
            last = None
            for piece in done:
                m = _COUNTER.search(piece)
                if m:
                    last = m
                elif piece.strip():
                    self._out += piece + b"\n"
            if last:
                s, q, c = (int(x) for x in last.groups())
                with self._cond:
                    b = self._base
                    if c - b[2] != self.count:
                        self.last_change = time.monotonic()
                    self.sessions, self.quits, self.count = \
                        s - b[0], q - b[1], c - b[2]
                    self._cond.notify_all()

    def wait_count(self, n, timeout=10.0, stall=None):
        """Wait until count >= n.  Return True, or False on timeout, or if
        stall seconds pass without progress (when stall is given)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            start = time.monotonic()
            while self.count < n:
                now = time.monotonic()
                if now >= deadline:
                    return False
                if stall is not None:
                    last = self.last_change or start
                    if now - max(last, start) > stall:
                        return False
                self._cond.wait(min(deadline - now, 0.2))
            return True

    def dumped(self):
        """The files written with dump_dir, as bytes, oldest first."""
        if not self.dump_dir:
            return []
        names = sorted(os.listdir(self.dump_dir),
                       key=lambda n: os.stat(os.path.join(self.dump_dir, n)).st_mtime)
        out = []
        for n in names:
            with open(os.path.join(self.dump_dir, n), "rb") as f:
                out.append(f.read())
        return out

    def output(self):
        """What smtp-sink printed apart from its counters (errors)."""
        return self._out.decode("utf-8", "replace")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(2)
            self._reader = None
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
