"""RETR of messages larger than the store's 64 KiB chunks and the server's
128 KiB read slices (RFC 1939 5, 3): byte-exact on the wire, plain and
over implicit TLS, with lines starting with '.' (and a line of one '.')
placed at chunk, slice and TLS record boundaries, a CRLF split across a
chunk boundary, and a body where every line needs stuffing. IMAP BODY[]
reads the same store path, so the same messages are fetched whole and in
partial ranges across chunk boundaries."""
import imaplib
import re
import socket

import pytest

from conftest import need, ssl_ctx

CHUNK = 65536


def build(targets, size, seed=1):
    """A CRLF message of about size bytes where a line starting with '.'
    begins at each offset in targets (and, at 3 * CHUNK, the CRLF before
    it is split across the chunk boundary)."""
    out = bytearray(b"From: big@example.org\r\nTo: alice@example.org\r\n"
                    b"Subject: big " + str(seed).encode() + b"\r\n\r\n")
    dots = [b".\r\n", b"..two\r\n", b".leading dot\r\n", b". space\r\n"]
    k = 0
    for t in sorted(targets):
        # filler lines up to t: the last one ends exactly at t
        while t - len(out) > 80:
            n = 40 + (len(out) * 7 + seed) % 30
            out += b"x" * n + b"\r\n"
        gap = t - len(out)
        assert gap >= 2
        out += b"y" * (gap - 2) + b"\r\n"
        assert len(out) == t
        out += dots[k % len(dots)]
        k += 1
    while len(out) < size:
        out += b"z" * 60 + b"\r\n"
    return bytes(out)


def stuffed(msg):
    """The RFC 1939 3 wire form of a CRLF message, with the terminator."""
    assert msg.endswith(b"\r\n")
    lines = msg[:-2].split(b"\r\n")
    return b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n"
                    for ln in lines) + b".\r\n"


TARGETS = [CHUNK, 2 * CHUNK + 40, 3 * CHUNK, 16384 * 5, 16384 * 13,
           131072, 131072 * 2, 131072 * 3 - 1, 5 * CHUNK - 3]
BIG = build(TARGETS, 11 * CHUNK + 123)
# every line needs a byte inserted, across several slices
DOTS = (b"From: dots@example.org\r\nSubject: dots\r\n\r\n" +
        b"".join(b"." + str(i).encode() * (1 + i % 50) + b"\r\n"
                 for i in range(12000)))
EXACT = build([CHUNK - 10], CHUNK)[:CHUNK - 2] + b"\r\n"      # one full chunk
SLICE = build([CHUNK + 5], 2 * CHUNK)[:2 * CHUNK - 2] + b"\r\n"  # one full slice


@pytest.fixture(autouse=True)
def _need_pop3d():
    need("pop3d")


def test_messages_cross_the_boundaries_they_claim_to():
    assert BIG[3 * CHUNK - 2:3 * CHUNK + 1] == b"\r\n."
    assert BIG[CHUNK - 2:CHUNK + 1] == b"\r\n."
    assert len(EXACT) == CHUNK and len(SLICE) == 2 * CHUNK
    assert len(DOTS) > 2 * 131072


def wire_retr(sock, n):
    sock.sendall(f"RETR {n}\r\n".encode())
    data = b""
    while b"\r\n" not in data:
        d = sock.recv(65536)
        assert d
        data += d
    head, data = data.split(b"\r\n", 1)
    assert head.startswith(b"+OK")
    while not data.endswith(b"\r\n.\r\n"):
        d = sock.recv(1 << 20)
        assert d, "connection closed in the middle of RETR"
        data += d
    return head, data


def login_raw(sock):
    buf = b""

    def reply(cmd):
        nonlocal buf
        if cmd:
            sock.sendall(cmd + b"\r\n")
        while b"\r\n" not in buf:
            d = sock.recv(4096)
            assert d
            buf += d
        line, buf = buf.split(b"\r\n", 1)
        return line

    assert reply(None).startswith(b"+OK")
    assert reply(b"USER alice").startswith(b"+OK")
    assert reply(b"PASS secret").startswith(b"+OK")
    assert buf == b""


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_large_retr_is_byte_exact(tandem, tls):
    msgs = [BIG, DOTS, EXACT, SLICE]
    for m in msgs:
        tandem.deliver("alice", m)
    if tls:
        raw = socket.create_connection(("127.0.0.1", tandem.pop3s_port), timeout=60)
        sock = ssl_ctx().wrap_socket(raw, server_hostname="localhost")
    else:
        sock = socket.create_connection(("127.0.0.1", tandem.pop3_port), timeout=60)
    login_raw(sock)
    for i, m in enumerate(msgs, 1):
        head, data = wire_retr(sock, i)
        assert int(re.match(rb"\+OK (\d+)", head).group(1)) == len(m)
        assert data == stuffed(m), f"message {i} differs"
    # twice in a row on one connection, and the session still answers
    head, data = wire_retr(sock, 1)
    assert data == stuffed(BIG)
    sock.sendall(b"QUIT\r\n")
    assert sock.recv(4096).startswith(b"+OK")
    sock.close()


def test_large_retr_through_poplib_undoes_the_stuffing(tandem):
    import poplib
    tandem.deliver("alice", BIG)
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=60)
    p._maxline = 1 << 20
    p.user("alice")
    p.pass_("secret")
    _, lines, octets = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == BIG
    _, lines, _ = p.top(1, 3)
    assert lines[-3:] == [b"x" * len(lines[-3]), lines[-2], lines[-1]]
    p.quit()


def test_imap_body_of_large_messages(tandem):
    need("imapd")
    for m in (BIG, DOTS):
        tandem.deliver("alice", m)
    c = imaplib.IMAP4("127.0.0.1", tandem.imap_port, timeout=60)
    c.login("alice", "secret")
    c.select("INBOX", readonly=True)
    for n, m in ((1, BIG), (2, DOTS)):
        typ, data = c.fetch(str(n), "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == m
        for start, count in ((CHUNK - 7, 20), (CHUNK, CHUNK), (3 * CHUNK - 1, 5 * CHUNK),
                             (len(m) - 10, 100)):
            typ, data = c.fetch(str(n), f"(BODY.PEEK[]<{start}.{count}>)")
            assert typ == "OK" and data[0][1] == m[start:start + count]
    c.logout()


def test_imap_sections_and_bare_lf_bodies(tandem):
    """BODY[TEXT] and partial ranges of a CRLF body are byte ranges of
    what is stored (read straight into the output); a body with bare LFs
    gets its CRs added, in ranges counted on the wire form (RFC 9051
    6.4.5: the partial origin counts octets of the section as sent)."""
    need("imapd")
    bare = (b"From: lf@example.org\nSubject: bare\n\n" +
            b"".join(b"line %d\n" % i for i in range(40000)))
    wire = bare.replace(b"\n", b"\r\n")
    tandem.deliver("alice", BIG)
    tandem.deliver("alice", bare)
    c = imaplib.IMAP4("127.0.0.1", tandem.imap_port, timeout=60)
    c.login("alice", "secret")
    c.select("INBOX", readonly=True)
    text = BIG[BIG.index(b"\r\n\r\n") + 4:]
    typ, data = c.fetch("1", "(BODY.PEEK[TEXT])")
    assert typ == "OK" and data[0][1] == text
    for start, count in ((0, 10), (CHUNK - 5, 2 * CHUNK), (len(text) - 3, 50),
                         (len(text) + 10, 5)):
        typ, data = c.fetch("1", f"(BODY.PEEK[TEXT]<{start}.{count}>)")
        assert typ == "OK" and data[0][1] == text[start:start + count], (start, count)
    typ, data = c.fetch("2", "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == wire
    for start, count in ((1, 7), (CHUNK - 1, CHUNK + 3), (len(wire) - 4, 9)):
        typ, data = c.fetch("2", f"(BODY.PEEK[]<{start}.{count}>)")
        assert typ == "OK" and data[0][1] == wire[start:start + count], (start, count)
    c.logout()
