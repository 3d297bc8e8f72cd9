"""FETCH BODYSTRUCTURE, BODY and ENVELOPE from the real tandem-imapd,
compared byte for byte with Dovecot 2.3's answers for the same messages.

The messages are the MIME corpus (tests/data/mime/*.msg, real-world mail,
and tests/data/mime/crafted/*.msg, broken on purpose); Dovecot's answers
are in expected/*.txt beside them, made by tests/tools/dovecot-expected.py
(which starts Debian's Dovecot on loopback). Each message is delivered
(tandemctl deliver: it may add trace fields and turn bare LF into CRLF,
which changes none of these items: sizes are CRLF-normalised), then
fetched.

Known deliberate difference: Dovecot sends a string holding '"', '\\',
8-bit bytes or folded whitespace as a literal where Tandem's writer may
send a quoted string with escapes (both valid, RFC 9051 4.3), so strings
are compared by content, whichever form they came in.
"""
import re
import socket
import ssl
from pathlib import Path

import pytest

from conftest import need, ssl_ctx

DATA = Path(__file__).resolve().parents[1] / "data" / "mime"


def corpus():
    out = []
    for d in (DATA, DATA / "crafted"):
        for msg in sorted(d.glob("*.msg")):
            exp = d / "expected" / (msg.stem + ".txt")
            if exp.exists():
                out.append((msg, exp))
    return out


def canonical(resp):
    """Every string (quoted or literal) in one form, so that the choice
    between a quoted string and a literal does not count."""
    out, i = b"", 0
    while i < len(resp):
        c = resp[i:i + 1]
        if c == b'"':
            j, s = i + 1, b""
            while j < len(resp) and resp[j:j + 1] != b'"':
                if resp[j:j + 1] == b"\\":
                    j += 1
                s += resp[j:j + 1]
                j += 1
            out += b"<%d:%s>" % (len(s), s)
            i = j + 1
            continue
        m = re.match(rb"\{(\d+)\}\r\n", resp[i:])
        if m:
            n = int(m.group(1))
            s = resp[i + m.end():i + m.end() + n]
            out += b"<%d:%s>" % (len(s), s)
            i += m.end() + n
            continue
        out += c
        i += 1
    return out


class Client:
    def __init__(self, port):
        raw = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock = ssl_ctx().wrap_socket(raw, server_hostname="localhost")
        self.buf = b""
        self.tag = 0
        self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            assert data, "server closed the connection"
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def take(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            assert data, "server closed the connection"
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def command(self, cmd, literal=None, check=True):
        """Returns the untagged responses (raw bytes, literals inline);
        with check=False, (untagged, tagged line) whatever the result."""
        self.tag += 1
        tag = b"t%d" % self.tag
        if literal is None:
            self.sock.sendall(tag + b" " + cmd + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + cmd + b" {%d}\r\n" % len(literal))
            r = self.line()
            if not r.startswith(b"+"):
                assert not check, (cmd, r)
                return b"", r
            self.sock.sendall(literal + b"\r\n")
        untagged = b""
        while True:
            line = self.line()
            while True:
                m = re.search(rb"\{(\d+)\}\r\n$", line)
                if not m:
                    break
                line += self.take(int(m.group(1)))
                line += self.line()
            if line.startswith(tag + b" "):
                if not check:
                    return untagged, line
                assert line.startswith(tag + b" OK"), (cmd, line)
                return untagged
            untagged += line


def fetch_or_skip(c):
    _, tagged = c.command(b"FETCH 1 (UID)", check=False)
    if b" OK" not in tagged:
        pytest.skip("tandem-imapd has no FETCH yet: %r" % tagged)


def test_bodystructure_envelope_match_dovecot(tandem):
    need("imapd")
    cases = corpus()
    assert len(cases) > 40
    for msg, _ in cases:
        tandem.deliver("alice", msg.read_bytes())
    c = Client(tandem.imaps_port)
    c.command(b"LOGIN alice secret")
    c.command(b"SELECT INBOX")
    fetch_or_skip(c)
    compared = 0
    mismatches = []
    for i, (msg, exp) in enumerate(cases, 1):
        want = exp.read_bytes()
        got = b""
        for item in (b"BODYSTRUCTURE", b"BODY", b"ENVELOPE"):
            r = c.command(b"FETCH %d %s" % (i, item))
            # only the item itself: other sessions' flags are not asked
            r = r.replace(b"* %d FETCH" % i, b"* 1 FETCH", 1)
            got += r
        compared += 1
        if canonical(got) != canonical(want):
            mismatches.append((msg.name, got[:400], want[:400]))
    c.command(b"LOGOUT")
    assert compared > 40
    assert mismatches == []


def test_fetch_sections_of_nested_message(tandem):
    """BODY[section] addressing on a message with a multipart and a
    message/rfc822 part: the bytes Dovecot 2.3 sends for the same items."""
    need("imapd")
    msg = (b"Subject: x\r\nFrom: a@b.c\r\nX-Long: one\r\n two\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
           b"--b\r\nContent-Type: message/rfc822\r\n\r\n"
           b"Subject: inner\r\nX-A: 1\r\n\r\ninner body\r\n--b--\r\n")
    tandem.deliver("alice", msg)
    c = Client(tandem.imaps_port)
    c.command(b"LOGIN alice secret")
    c.command(b"SELECT INBOX")
    fetch_or_skip(c)
    want = {
        b"BODY.PEEK[1.MIME]": b"BODY[1.MIME] {28}\r\nContent-Type: text/plain\r\n\r\n",
        b"BODY.PEEK[2.TEXT]": b"BODY[2.TEXT] {10}\r\ninner body",
        b"BODY.PEEK[2.1]": b"BODY[2.1] {10}\r\ninner body",
        b"BODY.PEEK[HEADER.FIELDS (subject x-long)]":
            b"BODY[HEADER.FIELDS (SUBJECT X-LONG)] {33}\r\n"
            b"Subject: x\r\nX-Long: one\r\n two\r\n\r\n",
        b"BODY.PEEK[2.HEADER.FIELDS (x-a)]":
            b"BODY[2.HEADER.FIELDS (X-A)] {10}\r\nX-A: 1\r\n\r\n",
        b"BODY.PEEK[TEXT]<2.5>": b"BODY[TEXT]<2> {5}\r\nb\r\nCo",
    }
    for item, expect in want.items():
        r = c.command(b"FETCH 1 (" + item + b")")
        assert expect in r, (item, r)
    # a part that does not exist is an empty string (Dovecot: {0})
    r = c.command(b"FETCH 1 (BODY.PEEK[1.2])")
    assert b"BODY[1.2] {0}\r\n" in r or b'BODY[1.2] ""' in r, r
    c.command(b"LOGOUT")
