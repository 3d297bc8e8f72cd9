"""Robustness of tandem-imapd against hostile or broken input (issue 5,
"Robustness"), each case asserted on what the client sees, plus memory
bounds read from /proc. Cases already covered elsewhere are not repeated:
  - literal over max_literal: NO [TOOBIG] before the continuation (sync),
    BAD [TOOBIG] for "{n+}" -> test_imap_append.py::test_append_toobig
  - literal over max_line, sync and non-sync, and an over-long line ->
    test_imap_limits.py (test_sync_literal_too_big_is_refused_before_
    sending, test_nonsync_literal_too_big_is_skipped, test_long_line_is_bad)
  - NUL in a command, 1000-deep parentheses in ID, unknown command before
    login -> test_imap_basic.py
  - max_bad_commands=3 closes with BYE -> test_imap_limits.py
"""
import socket

import pytest

from conftest import need
from test_imap_fetch import fetch_concurrently, sanitized_build


def sock(t, login=True):
    need("imapd")
    s = socket.create_connection(("127.0.0.1", t.imap_port), timeout=60)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    if login:
        s.sendall(b"L LOGIN alice secret\r\n")
        until_tag(f, b"L")
    return s, f


def until_tag(f, tag):
    out = []
    while True:
        line = f.readline()
        out.append(line)
        if not line or line.startswith(tag + b" "):
            return out


def vm_rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def msg(i):
    return (f"From: a@example.org\r\nSubject: m{i}\r\n\r\nbody {i}\r\n"
            ).encode()


def test_literal_plus_any_size_no_literal_minus(tandem):
    """RFC 7888: Tandem advertises LITERAL+, not LITERAL-. The 4096-byte
    bound on non-synchronising literals (section 5) is LITERAL-'s; with
    LITERAL+ (section 4) a "{n+}" of any size up to the server's own
    limits is accepted, so a 10000-byte "{n+}" APPEND succeeds."""
    s, f = sock(tandem, login=False)
    s.sendall(b"C CAPABILITY\r\n")
    caps = until_tag(f, b"C")[0].split()
    assert b"LITERAL+" in caps and b"LITERAL-" not in caps
    s.sendall(b"L LOGIN alice secret\r\n")
    until_tag(f, b"L")
    body = b"Subject: big\r\n\r\n" + b"x" * 9998 + b"\r\n"
    s.sendall(b"A APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
    out = until_tag(f, b"A")
    assert out[-1].startswith(b"A OK [APPENDUID ")
    assert not any(l.startswith(b"+") for l in out)
    s.close()


def test_unbalanced_parentheses(tandem):
    tandem.deliver("alice", msg(1))
    s, f = sock(tandem)
    s.sendall(b"S SELECT INBOX\r\n")
    until_tag(f, b"S")
    for i, line in enumerate([b"FETCH 1 (FLAGS", b"FETCH 1 FLAGS)",
                              b"FETCH 1 ((FLAGS)", b"SEARCH (ALL",
                              b"SEARCH ALL))", b"STORE 1 +FLAGS (\\Seen",
                              b"ID (\"a\" \"b\"", b"LIST () \"\" *)",
                              b")", b"("]):
        tag = b"U%d" % i
        s.sendall(tag + b" " + line + b"\r\n")
        out = until_tag(f, tag)
        assert out[-1].startswith(tag + b" BAD"), (line, out)
    s.sendall(b"N NOOP\r\n")
    assert until_tag(f, b"N")[-1].startswith(b"N OK")
    s.sendall(b"F FETCH 1 (FLAGS)\r\n")
    out = until_tag(f, b"F")
    # nothing was stored (\Recent: rev1, and this session claimed it)
    assert out[0] == b"* 1 FETCH (FLAGS (\\Recent))\r\n"
    s.close()


def test_nul_in_quoted_string_and_selected_state(tandem):
    tandem.deliver("alice", msg(1))
    s, f = sock(tandem)
    s.sendall(b"S SELECT INBOX\r\n")
    until_tag(f, b"S")
    s.sendall(b"A SEARCH SUBJECT \"m\0\"\r\nB FETCH 1\0 FLAGS\r\n"
              b"C NOOP\r\n")
    out = until_tag(f, b"C")
    tags = [l.split(b" ")[:2] for l in out if not l.startswith(b"*")]
    assert tags == [[b"A", b"BAD"], [b"B", b"BAD"], [b"C", b"OK"]], out
    s.close()


@pytest.mark.tandem_config({"limits": {"max_line": "1048576"}})
def test_sequence_set_100000_elements_bounded(tandem):
    """A 100 000-element sequence set is answered correctly (each message
    once) and the daemon's RSS does not grow by more than a few MB."""
    for i in range(1, 6):
        tandem.deliver("alice", msg(i))
    pid = tandem.procs["imapd"].pid
    s, f = sock(tandem)
    s.sendall(b"S SELECT INBOX\r\n")
    until_tag(f, b"S")
    msns = b",".join(b"%d" % (1 + i % 5) for i in range(100000))
    uids = b",".join(b"%d" % (1 + (i * 7919) % 99991) for i in range(100000))
    ranges = b",".join(b"%d:%d" % (1 + i % 97, 3 + i % 89)
                       for i in range(100000))
    before = vm_rss(pid)
    for rnd in range(3):
        s.sendall(b"F FETCH " + msns + b" (UID)\r\n")
        out = until_tag(f, b"F")
        assert out[-1].startswith(b"F OK")
        assert sorted(out[:-1]) == [b"* %d FETCH (UID %d)\r\n" % (i, i)
                                    for i in range(1, 6)]
        s.sendall(b"U UID FETCH " + uids + b" (FLAGS)\r\n")
        out = until_tag(f, b"U")
        assert out[-1].startswith(b"U OK") and len(out) == 6
        s.sendall(b"R UID SEARCH UID " + ranges + b"\r\n")
        out = until_tag(f, b"R")
        assert out == [b"* SEARCH 1 2 3 4 5\r\n", out[-1]]
        assert out[-1].startswith(b"R OK")
        s.sendall(b"T STORE " + msns + b" FLAGS.SILENT (\\Seen)\r\n")
        assert until_tag(f, b"T")[-1].startswith(b"T OK")
    after = vm_rss(pid)
    s.close()
    if sanitized_build():
        return  # ASan's quarantine keeps freed memory
    assert after - before < 8 << 20, f"RSS grew by {after - before} bytes"


def test_search_nesting_1000_deep_is_bad(tandem):
    tandem.deliver("alice", msg(1))
    s, f = sock(tandem)
    s.sendall(b"S SELECT INBOX\r\n")
    until_tag(f, b"S")
    for tag, prog in [(b"P", b"(" * 1000 + b"ALL" + b")" * 1000),
                      (b"N", b"NOT " * 1000 + b"ALL"),
                      (b"O", b"OR ALL " * 1000 + b"ALL")]:
        s.sendall(tag + b" SEARCH " + prog + b"\r\n")
        out = until_tag(f, tag)
        assert out[-1].startswith(tag + b" BAD"), out[-1]
    # a reasonable depth still works
    s.sendall(b"K SEARCH " + b"(" * 10 + b"NOT NOT ALL" + b")" * 10 + b"\r\n")
    out = until_tag(f, b"K")
    assert out == [b"* SEARCH 1\r\n", out[-1]] and out[-1].startswith(b"K OK")
    s.close()


def test_unknown_commands_in_every_state(tandem):
    s, f = sock(tandem, login=False)
    s.sendall(b"a XYZZY\r\n")
    assert until_tag(f, b"a")[-1].startswith(b"a BAD")
    s.sendall(b"L LOGIN alice secret\r\nb XYZZY 1 2\r\nc UID XYZZY 1\r\n"
              b"S SELECT INBOX\r\nd FROB\r\ne UID\r\nf NOOP\r\n")
    out = until_tag(f, b"f")
    st = {l.split(b" ")[0]: l.split(b" ")[1] for l in out
          if not l.startswith(b"*")}
    assert st == {b"L": b"OK", b"b": b"BAD", b"c": b"BAD", b"S": b"OK",
                  b"d": b"BAD", b"e": b"BAD", b"f": b"OK"}, out
    s.close()


def test_repeated_garbage_closes_with_bye(tandem):
    """With the default [limits] max_bad_commands (20), a client that keeps
    sending garbage (an HTTP request, a TLS ClientHello, binary noise) gets
    a tagged or untagged BAD per line, then * BYE and the connection
    closes; an honest mistake now and then does not."""
    s, f = sock(tandem, login=False)
    junk = [b"GET / HTTP/1.1", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03",
            b"\xff\xfe\xfd", b"HELO example.org", b"* * *", b"+ ", b""]
    s.sendall(b"".join(junk[i % len(junk)] + b"\r\n" for i in range(200)))
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    lines = data.split(b"\r\n")
    assert b"BAD" in lines[0]
    assert any(l.startswith(b"* BYE") for l in lines), data[-300:]
    # closed after the BYE: far fewer replies than lines sent
    assert sum(b"BAD" in l for l in lines) <= 25
    s.close()


def test_fetch_50mb_by_20_clients_streams(tandem):
    """20 clients FETCH BODY[] of one 50 MB message at once: every copy is
    exact and the daemon's peak RSS grows by less than 2x the message
    (20 buffered copies would be 1 GB)."""
    need("imapd")
    size = 50 * 1024 * 1024
    grew = fetch_concurrently(tandem, size, 20, 600)
    if grew is not None:
        assert grew < 2 * size, f"peak RSS grew by {grew}"
