"""RFC 1939 commands through Python's poplib and raw sockets: CAPA, USER,
PASS, STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL, QUIT; sizes, CRLF,
byte-stuffing, pipelining, UIDL stability, bad commands and arguments."""
import poplib
import re
import socket

import pytest

from conftest import need


@pytest.fixture(autouse=True)
def _need_pop3d():
    need("pop3d")


def make_msg(i, body=None, lf=False):
    body = body if body is not None else f"Body of message {i}.\r\nSecond line.\r\n"
    m = (f"From: sender{i}@example.org\r\nTo: alice@example.org\r\n"
         f"Subject: message {i}\r\nMessage-ID: <m{i}@example.org>\r\n\r\n{body}")
    if lf:
        m = m.replace("\r\n", "\n")
    return m.encode()


def login(t, user="alice", password="secret"):
    p = poplib.POP3("127.0.0.1", t.pop3_port, timeout=30)
    p.user(user)
    p.pass_(password)
    return p


class Raw:
    """A line-level POP3 client that sees exactly the bytes on the wire."""

    def __init__(self, port, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=30)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                r, self.buf = self.buf, b""
                return r
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def multi(self):
        """The raw (still stuffed) lines of a multi-line body, without '.'."""
        out = []
        while True:
            ln = self.line()
            if ln == b".":
                return out
            out.append(ln)

    def cmd(self, c):
        self.send(c + "\r\n")
        return self.line()

    def read_all(self):
        while True:
            d = self.s.recv(65536)
            if not d:
                return self.buf
            self.buf += d

    def close(self):
        self.s.close()


def test_capa_lists_the_extensions(tandem):
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    caps = p.capa()
    for c in ("TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
              "SASL", "STLS", "EXPIRE", "LOGIN-DELAY", "IMPLEMENTATION", "UTF8", "LANG"):
        assert c in caps, c
    assert caps["EXPIRE"] == ["NEVER"]
    assert "PLAIN" in caps["SASL"] and "SCRAM-SHA-256" in caps["SASL"]
    p.user("alice")
    p.pass_("secret")
    caps = p.capa()
    assert "TOP" in caps and "UIDL" in caps and "PIPELINING" in caps
    assert "STLS" not in caps and "USER" not in caps
    p.quit()


def test_stat_list_and_sizes_equal_retr_octets(tandem):
    tandem.deliver("alice", make_msg(1))
    tandem.deliver("alice", make_msg(2, lf=True))          # LF-only on ingest
    tandem.deliver("alice", make_msg(3, body="no final newline"))
    p = login(tandem)
    count, octets = p.stat()
    assert count == 3
    resp, listing, _ = p.list()
    sizes = {int(a): int(b) for a, b in (l.split() for l in listing)}
    assert sorted(sizes) == [1, 2, 3]
    assert sum(sizes.values()) == octets
    for n in (1, 2):
        resp, lines, got = p.retr(n)
        assert resp.startswith(b"+OK")
        assert got == sizes[n]
        assert int(p.list(n).split()[2]) == sizes[n]
    p.quit()


def test_retr_is_crlf_on_the_wire_and_byte_exact(tandem):
    tandem.deliver("alice", make_msg(1, lf=True))
    r = Raw(tandem.pop3_port)
    assert r.cmd("USER alice").startswith(b"+OK")
    assert r.cmd("PASS secret").startswith(b"+OK")
    size = int(r.cmd("LIST 1").split()[2])
    r.send("RETR 1\r\n")
    head = r.line()
    assert head.startswith(b"+OK")
    body = r.buf
    while not body.endswith(b"\r\n.\r\n"):
        d = r.s.recv(65536)
        assert d
        body += d
    data = body[:-3]
    assert b"\n" not in data.replace(b"\r\n", b"")      # no bare LF
    assert data == make_msg(1)                            # CRLF-normalised, exact
    assert len(data) == size
    r.cmd("QUIT")


def test_byte_stuffing(tandem):
    body = ".\r\n..two dots\r\n.leading dot\r\nmiddle . dot\r\n.\r\n"
    tandem.deliver("alice", make_msg(1, body=body))
    r = Raw(tandem.pop3_port)
    r.cmd("USER alice")
    r.cmd("PASS secret")
    assert r.cmd("RETR 1").startswith(b"+OK")
    wire = r.multi()
    i = wire.index(b"")
    assert wire[i + 1:] == [b"..", b"...two dots", b"..leading dot", b"middle . dot", b".."]
    assert r.cmd("TOP 1 2").startswith(b"+OK")
    wire = r.multi()
    assert wire[wire.index(b"") + 1:] == [b"..", b"...two dots"]
    r.cmd("QUIT")
    # and poplib undoes the stuffing to the original message
    p = login(tandem)
    _, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == make_msg(1, body=body)
    p.quit()


def test_top_line_counts(tandem):
    body = "one\r\ntwo\r\nthree\r\n"
    tandem.deliver("alice", make_msg(1, body=body))
    p = login(tandem)
    _, lines, _ = p.top(1, 0)
    headers = make_msg(1, body="").split(b"\r\n")[:-1]
    assert lines == headers
    assert lines[-1] == b""
    assert p.top(1, 1)[1] == headers + [b"one"]
    assert p.top(1, 2)[1] == headers + [b"one", b"two"]
    assert p.top(1, 3)[1] == headers + [b"one", b"two", b"three"]
    assert p.top(1, 1000)[1] == headers + [b"one", b"two", b"three"]
    with pytest.raises(poplib.error_proto):
        p.top(2, 1)
    p.quit()


def test_uidl_format_unique_and_stable_across_restart(tandem):
    for i in range(1, 4):
        tandem.deliver("alice", make_msg(i))
    p = login(tandem)
    _, listing, _ = p.uidl()
    uidls = dict(l.split() for l in listing)
    assert len(set(uidls.values())) == 3
    for n, u in uidls.items():
        # Dovecot's %08Xu%08Xv: UID then UIDVALIDITY, 8 hex digits each,
        # in lower case as Dovecot really announces them
        assert re.fullmatch(rb"[0-9a-f]{16}", u)
        assert int(u[:8], 16) == int(n)             # UIDs 1..3 in a new INBOX
        assert p.uidl(int(n)).split()[1:] == [n, u]
    assert len({u[8:] for u in uidls.values()}) == 1   # one UIDVALIDITY
    p.quit()
    tandem.restart("pop3d")
    p = login(tandem)
    assert dict(l.split() for l in p.uidl()[1]) == uidls
    p.dele(1)
    p.quit()
    p = login(tandem)
    after = dict(l.split() for l in p.uidl()[1])
    assert sorted(after.values()) == sorted([uidls[b"2"], uidls[b"3"]])
    p.quit()


def test_dele_rset_noop_quit(tandem):
    for i in range(1, 4):
        tandem.deliver("alice", make_msg(i))
    p = login(tandem)
    assert p.noop().startswith(b"+OK")
    assert p.dele(2).startswith(b"+OK")
    assert p.stat()[0] == 2
    assert [l.split()[0] for l in p.list()[1]] == [b"1", b"3"]
    assert [l.split()[0] for l in p.uidl()[1]] == [b"1", b"3"]
    for bad in (lambda: p.retr(2), lambda: p.dele(2), lambda: p.list(2),
                lambda: p.top(2, 0), lambda: p.uidl(2)):
        with pytest.raises(poplib.error_proto):
            bad()
    assert p.rset().startswith(b"+OK")
    assert p.stat()[0] == 3
    p.dele(1)
    p.dele(3)
    assert p.quit().startswith(b"+OK")
    p = login(tandem)
    assert p.stat()[0] == 1
    _, lines, _ = p.retr(1)
    assert b"Subject: message 2" in lines
    p.quit()


def test_pipelined_commands_answer_in_order(tandem):
    big = "".join(f"line {i} of a large body\r\n" for i in range(60000))   # ~1.5 MB
    tandem.deliver("alice", make_msg(1))
    tandem.deliver("alice", make_msg(2, body=big))
    tandem.deliver("alice", make_msg(3, body=".dot\r\n"))
    r = Raw(tandem.pop3_port)
    r.send("CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nRETR 2\r\nLIST\r\n"
           "TOP 3 1\r\nBOGUS\r\nUIDL 1\r\nDELE 1\r\nNOOP\r\nRSET\r\nQUIT\r\n")
    assert r.line().startswith(b"+OK")
    caps = r.multi()
    assert b"PIPELINING" in caps
    assert r.line().startswith(b"+OK")                 # USER
    assert r.line().startswith(b"+OK")                 # PASS
    stat = r.line().split()
    assert stat[0] == b"+OK" and stat[1] == b"3"
    assert r.line().startswith(b"+OK")                 # RETR 2
    lines = r.multi()
    got = b"\r\n".join(lines) + b"\r\n"
    assert got == make_msg(2, body=big)
    assert r.line().startswith(b"+OK")                 # LIST
    assert len(r.multi()) == 3
    assert r.line().startswith(b"+OK")                 # TOP 3 1
    top = r.multi()
    assert top[-1] == b"..dot"
    assert r.line().startswith(b"-ERR")                # BOGUS
    assert r.line().split()[:2] == [b"+OK", b"1"]      # UIDL 1
    assert r.line().startswith(b"+OK")                 # DELE 1
    assert r.line().startswith(b"+OK")                 # NOOP
    assert r.line().startswith(b"+OK")                 # RSET
    assert r.line().startswith(b"+OK")                 # QUIT
    assert r.read_all() == b""
    p = login(tandem)
    assert p.stat()[0] == 3                             # RSET undid DELE
    p.quit()


@pytest.mark.tandem_config({"limits": {"max_bad_commands": "100"}})
def test_bad_commands_and_arguments(tandem):
    tandem.deliver("alice", make_msg(1))
    r = Raw(tandem.pop3_port)
    for c in ("STAT", "LIST", "RETR 1", "DELE 1", "PASS secret", "FOO", ""):
        assert r.cmd(c).startswith(b"-ERR "), c      # always with a reason
    r.cmd("USER alice")
    assert r.cmd("PASS secret").startswith(b"+OK")
    for c in ("RETR", "RETR abc", "RETR 0", "RETR 2", "RETR -1", "RETR 1 2",
              "TOP 1", "TOP 1 x", "TOP x 1", "TOP 1 -1", "LIST 99", "LIST 1x",
              "DELE", "UIDL 0", "STAT 1", "NOOP x", "USER bob", "STLS", "AUTH PLAIN"):
        resp = r.cmd(c)
        assert resp.startswith(b"-ERR ") and len(resp) > 5, (c, resp)
    # the session still works
    assert r.cmd("STAT").startswith(b"+OK 1 ")
    assert r.cmd("QUIT").startswith(b"+OK")


@pytest.mark.tandem_config({"limits": {"max_bad_commands": "3"}})
def test_too_many_bad_commands_close_with_a_reason(tandem):
    r = Raw(tandem.pop3_port)
    assert r.cmd("FOO").startswith(b"-ERR")
    assert r.cmd("BAR").startswith(b"-ERR")
    assert r.cmd("BAZ").startswith(b"-ERR")
    # the reason comes before the close, then the server hangs up
    assert r.line().startswith(b"-ERR") and r.read_all() == b""


def test_over_long_line_closes_with_a_reason(tandem):
    r = Raw(tandem.pop3_port)
    r.send(b"USER " + b"a" * 200000 + b"\r\n")
    resp = r.line()
    assert resp.startswith(b"-ERR") and b"too long" in resp.lower()
    assert r.read_all() == b""


@pytest.mark.tandem_config({"auth": {"max_failures": "2", "failure_delay": "0"}})
def test_auth_failures_answer_auth_and_close(tandem):
    r = Raw(tandem.pop3_port)
    r.cmd("USER alice")
    resp = r.cmd("PASS wrong")
    assert resp.startswith(b"-ERR [AUTH]")
    r.cmd("USER alice")
    assert r.cmd("PASS wrong again").startswith(b"-ERR [AUTH]")
    assert r.read_all() == b""
    # a good password on a new connection still works
    p = login(tandem)
    p.quit()


def test_nul_and_unknown_user(tandem):
    r = Raw(tandem.pop3_port)
    assert r.cmd("NO\0OP").startswith(b"-ERR")
    r.cmd("USER nosuchuser")
    assert r.cmd("PASS whatever").startswith(b"-ERR [AUTH]")
    r.cmd("QUIT")


def test_utf8_and_lang(tandem):
    r = Raw(tandem.pop3_port)
    assert r.cmd("LANG").startswith(b"+OK")
    assert b"en English" in r.multi()
    assert r.cmd("LANG en").startswith(b"+OK en")
    assert r.cmd("LANG *").startswith(b"+OK en")
    assert r.cmd("LANG tlh").startswith(b"-ERR")
    assert r.cmd("UTF8").startswith(b"+OK")
    r.cmd("USER alice")
    assert r.cmd("PASS secret").startswith(b"+OK")
    assert r.cmd("UTF8").startswith(b"-ERR")           # AUTHORIZATION only
    assert r.cmd("LANG en").startswith(b"+OK en")
    r.cmd("QUIT")


def test_apop_is_off_by_default(tandem):
    r = Raw(tandem.pop3_port)
    assert b"<" not in r.greeting
    assert r.cmd("APOP alice " + "0" * 32).startswith(b"-ERR")
    r.cmd("QUIT")


@pytest.mark.tandem_config({"pop3": {"apop": "yes"}, "auth": {"failure_delay": "0"}})
def test_apop_with_stored_secret(tandem):
    import hashlib
    import sqlite3
    tandem.deliver("alice", make_msg(1))
    # tandemctl has no APOP command yet: store the clear-text-equivalent
    # secret where userdb_set_apop_secret() keeps it (users.apop).
    with sqlite3.connect(str(tandem.data_dir / "users.db")) as db:
        db.execute("UPDATE users SET apop = 'tanstaaf' WHERE name = 'alice'")
    r = Raw(tandem.pop3_port)
    ts = re.search(rb"<[^>]+@[^>]+>", r.greeting).group(0)
    assert r.cmd("APOP alice " + hashlib.md5(ts + b"wrong").hexdigest()).startswith(b"-ERR [AUTH]")
    assert r.cmd("APOP alice " + hashlib.md5(ts + b"tanstaaf").hexdigest()).startswith(b"+OK")
    assert r.cmd("STAT").startswith(b"+OK 1 ")
    r.cmd("QUIT")
    # a new greeting, a new timestamp: the old digest is worthless
    r2 = Raw(tandem.pop3_port)
    ts2 = re.search(rb"<[^>]+@[^>]+>", r2.greeting).group(0)
    assert ts2 != ts
    assert r2.cmd("APOP alice " + hashlib.md5(ts + b"tanstaaf").hexdigest()).startswith(b"-ERR")
    r2.cmd("QUIT")


def test_legacy_uidl_is_used_when_present(tandem):
    import sqlite3
    for i in range(1, 3):
        tandem.deliver("alice", make_msg(i))
    p = login(tandem)
    before = dict(l.split() for l in p.uidl()[1])
    p.quit()
    # an imported UIDL (store_msg.legacy_uidl), as an importer sets it
    with sqlite3.connect(str(tandem.data_dir / "mail" / "alice" / "store.db")) as db:
        db.execute("UPDATE message SET legacy_uidl = 'old-server-uidl.42' WHERE uid = 2")
    p = login(tandem)
    after = dict(l.split() for l in p.uidl()[1])
    assert after == {b"1": before[b"1"], b"2": b"old-server-uidl.42"}
    assert p.uidl(2).split()[2] == b"old-server-uidl.42"
    p.quit()


@pytest.mark.tandem_config({"pop3": {"apop": "yes"}, "auth": {"failure_delay": "0"}})
def test_apop_without_stored_secret_fails(tandem):
    r = Raw(tandem.pop3_port)
    ts = re.search(rb"<[^>]+@[^>]+>", r.greeting)
    assert ts
    import hashlib
    digest = hashlib.md5(ts.group(0) + b"secret").hexdigest()
    # alice has only hashes stored: no clear-text-equivalent secret
    assert r.cmd("APOP alice " + digest).startswith(b"-ERR [AUTH]")
    assert r.cmd("APOP alice notadigest").startswith(b"-ERR")
    r.cmd("QUIT")


@pytest.mark.tandem_config({"limits": {"max_connections_per_ip": "2"}})
def test_per_ip_connection_limit_answers_sys_temp(tandem):
    a, b = Raw(tandem.pop3_port), Raw(tandem.pop3_port)
    assert a.greeting.startswith(b"+OK") and b.greeting.startswith(b"+OK")
    c = Raw(tandem.pop3_port)
    assert c.greeting.startswith(b"-ERR [SYS/TEMP]")
    assert c.read_all() == b""
    # on the implicit-TLS port the reason comes inside TLS
    import ssl
    from conftest import ssl_ctx
    with socket.create_connection(("127.0.0.1", tandem.pop3s_port), timeout=30) as raw:
        with ssl_ctx().wrap_socket(raw, server_hostname="localhost") as tls:
            f = tls.makefile("rb")
            assert f.readline().startswith(b"-ERR [SYS/TEMP]")
    a.cmd("QUIT")
    a.read_all()
    b.cmd("QUIT")


@pytest.mark.tandem_config({"limits": {"prelogin_timeout": "5"}})
def test_idle_session_is_logged_out_with_a_reason(tandem):
    r = Raw(tandem.pop3_port)
    # say nothing: the server gives up after prelogin_timeout, with a reason
    assert r.line().startswith(b"-ERR")
    assert r.read_all() == b""
