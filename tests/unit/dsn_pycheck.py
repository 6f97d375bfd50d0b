#!/usr/bin/python3
"""Parse DSNs written by dsn_test with Python's email package.

Usage: dsn_pycheck.py FILE EXPECT...  where each EXPECT is a
"part-index:content-type" or "ds:FIELD=VALUE" (a field of the first
per-recipient block of the delivery-status part).  Exit 0 when every
expectation holds and no parser defect is reported.
"""
import email
import email.policy
import sys


def main():
    raw = open(sys.argv[1], "rb").read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    errors = []
    if msg.get_content_type() != "multipart/report":
        errors.append("top type %s" % msg.get_content_type())
    if msg.get_param("report-type") != "delivery-status":
        errors.append("report-type %s" % msg.get_param("report-type"))
    for part in msg.walk():
        if part.defects:
            errors.append("defects in %s: %r" % (part.get_content_type(),
                                                 part.defects))
    parts = msg.get_payload()
    for exp in sys.argv[2:]:
        if exp.startswith("ds:"):
            name, value = exp[3:].split("=", 1)
            blocks = parts[1].get_payload()
            got = blocks[1].get(name) if len(blocks) > 1 else None
            got = " ".join(str(got).split()) if got is not None else None
            if got != value:
                errors.append("%s: %r != %r" % (name, got, value))
        else:
            idx, ctype = exp.split(":", 1)
            got = parts[int(idx)].get_content_type()
            if got != ctype:
                errors.append("part %s: %s != %s" % (idx, got, ctype))
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
