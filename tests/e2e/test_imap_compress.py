"""COMPRESS=DEFLATE (RFC 4978) against the real tandem-imapd, with a raw
socket and Python's zlib (raw DEFLATE, wbits=-15): the tagged OK in clear,
everything after it compressed both ways, over plain TCP and implicit TLS."""
import random
import re
import socket
import zlib

import pytest

from conftest import need, ssl_ctx


def big_message(size=1024 * 1024, seed=4978):
    """A ~size-byte message, half text, half base64 noise (so DEFLATE
    neither vanishes it nor inflates it much)."""
    rnd = random.Random(seed)
    head = (b"From: alice@example.org\r\nTo: bob@example.org\r\n"
            b"Subject: big compressed\r\nMessage-ID: <big@example.org>\r\n\r\n")
    lines = []
    n = len(head)
    i = 0
    while n < size:
        if i % 2:
            line = bytes(rnd.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/")
                         for _ in range(76))
        else:
            line = b"line %d of the big message, some text to compress" % i
        lines.append(line + b"\r\n")
        n += len(line) + 2
        i += 1
    return head + b"".join(lines)


class ZClient:
    """A minimal IMAP client: clear text until compress(), then raw DEFLATE
    (Z_SYNC_FLUSH after each send, as RFC 4978 4 recommends)."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(30)
        self.raw = b""     # bytes received, not yet decompressed
        self.buf = b""     # clear bytes not yet parsed
        self.z_out = None
        self.z_in = None

    def send(self, data):
        if self.z_out:
            data = self.z_out.compress(data) + self.z_out.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def compress(self):
        """Switches both directions to DEFLATE; bytes already received
        after the OK line are compressed."""
        self.z_out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.z_in = zlib.decompressobj(wbits=-15)
        rest, self.buf = self.buf, b""
        self.raw = rest + self.raw
        self._feed()

    def _feed(self):
        if self.z_in is not None:
            self.buf += self.z_in.decompress(self.raw)
        else:
            self.buf += self.raw
        self.raw = b""

    def _more(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.raw += d
        self._feed()

    def line(self):
        """One response line (CRLF stripped), reading a literal {n} at its
        end into the returned tuple (line, literal or None) chain."""
        while b"\r\n" not in self.buf:
            if self.z_in is None:
                # stop at the line: what follows may be compressed
                d = self.sock.recv(1)
                if not d:
                    raise EOFError("connection closed")
                self.buf += d
            else:
                self._more()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def read_exact(self, n):
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, tag):
        """Reads until the tagged line; returns (untagged lines, literals,
        tagged line)."""
        lines, lits = [], []
        while True:
            ln = self.line()
            m = re.search(rb"\{(\d+)\}$", ln)
            while m:
                lits.append(self.read_exact(int(m.group(1))))
                more = self.line()
                ln += b"<lit>" + more
                m = re.search(rb"\{(\d+)\}$", more)
            if ln.startswith(tag + b" "):
                return lines, lits, ln
            lines.append(ln)

    def cmd(self, tag, text):
        self.send(tag + b" " + text + b"\r\n")
        return self.response(tag)


def connect(t, tls=False):
    need("imapd")
    if tls:
        s = socket.create_connection(("127.0.0.1", t.imaps_port), timeout=30)
        s = ssl_ctx(t.ca_file).wrap_socket(s, server_hostname="localhost")
    else:
        s = socket.create_connection(("127.0.0.1", t.imap_port), timeout=30)
    c = ZClient(s)
    assert c.line().startswith(b"* OK")
    return c


def login_compress(c):
    _, _, ok = c.cmd(b"a1", b"LOGIN alice secret")
    assert ok.startswith(b"a1 OK")
    assert b"COMPRESS=DEFLATE" in ok or b"COMPRESS=DEFLATE" in b" ".join(
        c.cmd(b"a2", b"CAPABILITY")[0])
    c.send(b"a3 COMPRESS DEFLATE\r\n")
    ok = c.line()
    assert ok.startswith(b"a3 OK"), ok
    c.compress()


def fetch_big_over(t, tls):
    msg = big_message()
    t.deliver("alice", msg)
    c = connect(t, tls)
    login_compress(c)
    lines, _, ok = c.cmd(b"b1", b"SELECT INBOX")
    assert ok.startswith(b"b1 OK")
    assert b"* 1 EXISTS" in lines
    _, lits, ok = c.cmd(b"b2", b"UID FETCH 1 (BODY.PEEK[])")
    assert ok.startswith(b"b2 OK"), ok
    assert len(lits) == 1
    assert lits[0] == msg
    # the session goes on after the bulk reply
    _, _, ok = c.cmd(b"b3", b"NOOP")
    assert ok.startswith(b"b3 OK")
    lines, _, ok = c.cmd(b"b4", b"LOGOUT")
    assert any(ln.startswith(b"* BYE") for ln in lines)
    assert ok.startswith(b"b4 OK")
    c.sock.close()


def test_compress_fetch_1mb(tandem):
    fetch_big_over(tandem, tls=False)


def test_compress_fetch_1mb_implicit_tls(tandem):
    fetch_big_over(tandem, tls=True)


def test_compress_advertised_after_login_only(tandem):
    c = connect(tandem)
    pre, _, _ = c.cmd(b"a0", b"CAPABILITY")
    assert b"COMPRESS=DEFLATE" not in b" ".join(pre)
    _, _, bad = c.cmd(b"a1", b"COMPRESS DEFLATE")
    assert bad.startswith(b"a1 BAD")
    _, _, ok = c.cmd(b"a2", b"LOGIN alice secret")
    assert ok.startswith(b"a2 OK")
    post, _, _ = c.cmd(b"a3", b"CAPABILITY")
    assert b"COMPRESS=DEFLATE" in b" ".join(post)
    # RFC 4978 3: an unknown algorithm is BAD, the session stays clear
    _, _, bad = c.cmd(b"a4", b"COMPRESS LZ77")
    assert bad.startswith(b"a4 BAD")
    _, _, bad = c.cmd(b"a5", b"COMPRESS")
    assert bad.startswith(b"a5 BAD")
    _, _, ok = c.cmd(b"a6", b"NOOP")
    assert ok == b"a6 OK NOOP completed" or ok.startswith(b"a6 OK")


def test_compress_twice_is_compressionactive(tandem):
    c = connect(tandem)
    login_compress(c)
    _, _, no = c.cmd(b"b1", b"COMPRESS DEFLATE")
    assert no.startswith(b"b1 NO [COMPRESSIONACTIVE]"), no
    _, _, ok = c.cmd(b"b2", b"NOOP")
    assert ok.startswith(b"b2 OK")


def test_compress_pipelined_input_is_compressed(tandem):
    """Bytes sent right behind the command, in the same segment, are
    already compressed (RFC 4978 3: the client starts compressing after
    the command's CRLF); the server must not read them as clear text."""
    c = connect(tandem)
    _, _, ok = c.cmd(b"a1", b"LOGIN alice secret")
    assert ok.startswith(b"a1 OK")
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    tail = z.compress(b"b1 NOOP\r\nb2 SELECT INBOX\r\n") + z.flush(zlib.Z_SYNC_FLUSH)
    c.sock.sendall(b"a2 COMPRESS DEFLATE\r\n" + tail)
    ok = c.line()
    assert ok.startswith(b"a2 OK"), ok
    c.compress()
    c.z_out = z
    _, _, ok = c.response(b"b1")
    assert ok.startswith(b"b1 OK")
    _, _, ok = c.response(b"b2")
    assert ok.startswith(b"b2 OK")


def test_compress_append_big_then_fetch(tandem):
    """Inflate in steps: a 1 MB APPEND literal (non-synchronizing) arrives
    compressed in one burst and is stored byte for byte."""
    msg = big_message(seed=7)
    c = connect(tandem)
    login_compress(c)
    c.send(b"c1 APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    _, _, ok = c.response(b"c1")
    assert ok.startswith(b"c1 OK"), ok
    c.cmd(b"c2", b"SELECT INBOX")
    _, lits, ok = c.cmd(b"c3", b"FETCH 1 BODY.PEEK[]")
    assert ok.startswith(b"c3 OK")
    assert lits == [msg]


def test_compress_corrupt_stream_closes(tandem):
    c = connect(tandem)
    login_compress(c)
    # not a valid DEFLATE block type (BTYPE 11 is reserved)
    c.sock.sendall(b"\xff\xff\xff\xff")
    with pytest.raises((EOFError, ConnectionError)):
        for _ in range(10):
            c.line()
    # the daemon goes on serving others
    d = connect(tandem)
    _, _, ok = d.cmd(b"x", b"NOOP")
    assert ok.startswith(b"x OK")
