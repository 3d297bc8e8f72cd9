"""FETCH and UID FETCH against the real tandem-imapd (RFC 9051 6.4.5, 6.4.9;
RFC 3501; RFC 3516 BINARY; RFC 7162 CONDSTORE/QRESYNC), with imaplib and
raw sockets; ENVELOPE/BODYSTRUCTURE/BODY[section] compared with Dovecot."""
import imaplib
import re
import socket

import pytest

from conftest import need

MSG1 = (b"From: Alice <alice@example.org>\r\n"
        b"To: Bob <bob@example.org>, carol@example.org\r\n"
        b"Subject: hello\r\n"
        b"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <m1@example.org>\r\n"
        b"\r\n"
        b"line one\r\nline two\r\n")

MSG2 = (b"From: bob@example.org\r\n"
        b"Subject: multi\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
        b"\r\n"
        b"preamble\r\n"
        b"--XX\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"part one\r\n"
        b"--XX\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"AAECAwQFBgcICQ==\r\n"
        b"--XX--\r\n")


def connect(t):
    need("imapd")
    return imaplib.IMAP4("127.0.0.1", t.imap_port, timeout=30)


def login(t, user="alice", pw="secret", rev2=False):
    m = connect(t)
    m.login(user, pw)
    if rev2:
        m._simple_command("ENABLE", "IMAP4rev2")
    return m


class Raw:
    """A raw IMAP connection: send lines, read replies up to the tag."""

    def __init__(self, t, user="alice", pw="secret"):
        need("imapd")
        self.s = socket.create_connection(("127.0.0.1", t.imap_port), timeout=30)
        self.f = self.s.makefile("rb")
        self.f.readline()
        self.n = 0
        if user:
            self.cmd(f"LOGIN {user} {pw}")

    def read_reply(self):
        """One response line with its literals inlined."""
        line = self.f.readline()
        out = line
        while True:
            mm = re.search(rb"~?\{(\d+)\}\r\n$", line)
            if not mm:
                return out
            out += self.f.read(int(mm.group(1)))
            line = self.f.readline()
            out += line

    def cmd(self, text):
        self.n += 1
        tag = f"X{self.n}".encode()
        if isinstance(text, str):
            text = text.encode()
        self.s.sendall(tag + b" " + text + b"\r\n")
        lines = []
        while True:
            r = self.read_reply()
            if not r:
                raise EOFError(b"".join(lines))
            lines.append(r)
            if r.startswith(tag + b" "):
                return lines

    def close(self):
        self.s.close()


def tagged(lines):
    return lines[-1].split(b" ", 2)[1]


def test_fetch_basic_items(tandem):
    tandem.deliver("alice", MSG1)
    tandem.deliver("alice", MSG2)
    m = login(tandem)
    m.select("INBOX")
    typ, data = m.fetch("1:2", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert typ == "OK"
    assert f"RFC822.SIZE {len(MSG1)}".encode() in data[0]
    assert f"RFC822.SIZE {len(MSG2)}".encode() in data[1]
    assert b"UID 1 " in data[0] and b"INTERNALDATE \"" in data[0]
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == MSG1
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    m.logout()
