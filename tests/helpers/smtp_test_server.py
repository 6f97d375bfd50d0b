#!/usr/bin/python3
"""Scriptable SMTP destination for tests (aiosmtpd), on 127.0.0.1 only.

Recipients decide the answers, by local part prefix:
  temp*        RCPT -> 451 4.2.1 (temporary)
  perm*        RCPT -> multi-line 550 5.1.1 (permanent)
  rejectdata*  accepted, but the end of DATA -> 554 5.7.1
  anything else is accepted (250).
Every message that reaches the end of DATA with a 250 is saved as
SAVE_DIR/msg-N.eml (the envelope as X-Test-* lines, then the data), and
every session's commands are appended to SAVE_DIR/commands.log, so a test
can check what arrived and what did not.

Options: --port P (required), --save-dir D (required), --tls CERT KEY
(offer STARTTLS), --tls-broken (offer it, but no handshake can succeed
with a TLS 1.2+ client), --pipelining (advertise PIPELINING), --smtputf8,
--size N (SIZE limit to announce), --no-8bitmime.
Prints "READY" on stdout once listening.
"""
import argparse
import asyncio
import logging
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, save_dir, pipelining):
        self.save_dir = save_dir
        self.pipelining = pipelining
        self.count = 0

    def log(self, text):
        with open(os.path.join(self.save_dir, "commands.log"), "a") as f:
            f.write(text + "\n")

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.log("EHLO " + hostname)
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        self.log("HELO " + hostname)
        return "250 {}".format(server.hostname)

    async def handle_MAIL(self, server, session, envelope, address, options):
        self.log("MAIL " + address + " " + " ".join(options))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        self.log("RCPT " + address)
        local = address.split("@")[0]
        if local.startswith("temp"):
            return "451 4.2.1 Mailbox busy, try again later"
        if local.startswith("perm"):
            return ("550-5.1.1 The email account that you tried to reach "
                    "does not exist.\r\n550 5.1.1 Please check the address")
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_RSET(self, server, session, envelope):
        self.log("RSET")
        return "250 2.0.0 OK"

    async def handle_DATA(self, server, session, envelope):
        self.log("DATA")
        if any(r.split("@")[0].startswith("rejectdata")
               for r in envelope.rcpt_tos):
            return "554 5.7.1 Message rejected as spam"
        self.count += 1
        path = os.path.join(self.save_dir, "msg-%d.eml" % self.count)
        with open(path + ".tmp", "wb") as f:
            f.write(b"X-Test-From: " + envelope.mail_from.encode() + b"\r\n")
            f.write(b"X-Test-Options: " +
                    " ".join(envelope.mail_options).encode() + b"\r\n")
            for r in envelope.rcpt_tos:
                f.write(b"X-Test-To: " + r.encode() + b"\r\n")
            f.write(b"X-Test-TLS: " +
                    (b"yes" if session.ssl else b"no") + b"\r\n")
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 OK queued as %d" % self.count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--save-dir", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--tls-broken", action="store_true",
                    help="offer STARTTLS but allow only TLS 1.0 (fails)")
    ap.add_argument("--pipelining", action="store_true")
    ap.add_argument("--smtputf8", action="store_true")
    ap.add_argument("--size", type=int, default=33554432)
    ap.add_argument("--no-8bitmime", action="store_true")
    a = ap.parse_args()
    # Expected failures (e.g. --tls-broken) must not flood test output.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore", DeprecationWarning)

    ctx = None
    if a.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        if a.tls_broken:
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = ssl.TLSVersion.TLSv1
    handler = Handler(a.save_dir, a.pipelining)

    def factory():
        return SMTP(handler, hostname="testsrv.test", tls_context=ctx,
                    require_starttls=False, enable_SMTPUTF8=a.smtputf8,
                    data_size_limit=a.size, decode_data=a.no_8bitmime,
                    ident="test server")

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    srv = loop.run_until_complete(
        loop.create_server(factory, host="127.0.0.1", port=a.port))
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        loop.run_forever()
    finally:
        srv.close()


if __name__ == "__main__":
    sys.exit(main())
