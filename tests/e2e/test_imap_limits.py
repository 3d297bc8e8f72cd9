"""IMAP session limits and abuse against the real tandem-imapd: per-IP
connection limit (RFC 9051 7.1.5 BYE greeting, inside TLS on 993), bad
command limit, failed-login limit, literals over max_line (sync and
non-sync), long lines, the '.' separator option."""
import imaplib
import re
import socket

import pytest

from conftest import need, ssl_ctx


def sock(t):
    need("imapd")
    s = socket.create_connection(("127.0.0.1", t.imap_port), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    return s, f


def until_tag(f, tag):
    out = []
    while True:
        line = f.readline()
        out.append(line)
        if not line or line.startswith(tag + b" "):
            return out


@pytest.mark.tandem_config({"limits": {"max_bad_commands": "3"}})
def test_too_many_bad_commands_closes(tandem):
    s, f = sock(tandem)
    s.sendall(b"a FROB\r\nb FROB\r\nc FROB\r\nd NOOP\r\n")
    rest = f.read()
    assert rest.count(b" BAD ") == 3
    assert b"* BYE" in rest
    assert b"d OK" not in rest
    s.close()


@pytest.mark.tandem_config({"auth": {"max_failures": "2",
                                     "failure_delay": "0"}})
def test_too_many_auth_failures_closes(tandem):
    s, f = sock(tandem)
    s.sendall(b"a LOGIN alice x\r\n")
    assert until_tag(f, b"a")[-1].startswith(b"a NO [AUTHENTICATIONFAILED]")
    s.sendall(b"b LOGIN alice y\r\n")
    out = f.read()
    assert out.startswith(b"b NO [AUTHENTICATIONFAILED]")
    assert b"* BYE" in out
    s.close()


@pytest.mark.tandem_config({"limits": {"max_line": "1024"}})
def test_sync_literal_too_big_is_refused_before_sending(tandem):
    s, f = sock(tandem)
    s.sendall(b"a LOGIN {100000}\r\n")
    line = f.readline()
    assert line.startswith(b"a NO [TOOBIG]")
    s.sendall(b"b NOOP\r\n")
    assert f.readline().startswith(b"b OK")
    s.close()


@pytest.mark.tandem_config({"limits": {"max_line": "1024"}})
def test_nonsync_literal_too_big_is_skipped(tandem):
    s, f = sock(tandem)
    payload = b"c LOGOUT\r\n" * 500  # must not run as commands
    s.sendall(b"a LOGIN {%d+}\r\n" % len(payload) + payload +
              b" x\r\nb NOOP\r\n")
    out = until_tag(f, b"b")
    assert out[0].startswith(b"a BAD [TOOBIG]")
    assert out[-1].startswith(b"b OK")
    assert not any(l.startswith(b"c ") or l.startswith(b"* BYE")
                   for l in out)
    s.close()


@pytest.mark.tandem_config({"limits": {"max_line": "1024"}})
def test_long_line_is_bad(tandem):
    s, f = sock(tandem)
    s.sendall(b"a LOGIN " + b"x" * 5000 + b" y\r\nb NOOP\r\n")
    out = until_tag(f, b"b")
    assert out[0].startswith(b"a BAD")
    assert out[-1].startswith(b"b OK")
    s.close()


@pytest.mark.tandem_config({"imap": {"separator": "."}})
def test_dot_separator(tandem):
    need("imapd")
    m = imaplib.IMAP4("127.0.0.1", tandem.imap_port, timeout=10)
    m.login("alice", "secret")
    assert m.create("work.a")[0] == "OK"
    typ, data = m.list('""', "work.*")
    assert data == [b'(\\HasNoChildren) "." work.a']
    typ, data = m.list('""', "%")
    assert any(re.search(rb'\\HasChildren\) "\." work$', d) for d in data)
    typ, data = m.namespace()
    assert data[0] == b'(("" ".")) NIL NIL'
    m.logout()

def greeting(port, tls=False):
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    s = ssl_ctx().wrap_socket(raw, server_hostname="localhost") if tls else raw
    f = s.makefile("rb")
    return s, f, f.readline()


@pytest.mark.tandem_config({"limits": {"max_connections_per_ip": "2"}})
def test_over_the_per_ip_limit_gets_a_bye_greeting(tandem):
    a, fa, ga = greeting(tandem.imap_port)
    b, fb, gb = greeting(tandem.imaps_port, tls=True)
    assert ga.startswith(b"* OK") and gb.startswith(b"* OK")
    c, fc, gc = greeting(tandem.imap_port)
    assert gc.startswith(b"* BYE ")
    assert fc.read() == b""  # and the server closes
    c.close()
    # on the implicit-TLS port the reason comes inside TLS, not a bare drop
    d, fd, gd = greeting(tandem.imaps_port, tls=True)
    assert gd.startswith(b"* BYE ")
    d.close()
    # the two sessions within the limit still work
    a.sendall(b"a1 NOOP\r\n")
    assert fa.readline().startswith(b"a1 OK")
    b.sendall(b"b1 NOOP\r\n")
    assert fb.readline().startswith(b"b1 OK")
    a.close()
    b.close()
