"""APPEND against the real tandem-imapd (RFC 9051 6.3.12; RFC 3502
MULTIAPPEND; RFC 4315 APPENDUID; RFC 7888 LITERAL+; [limits] max_literal
and TOOBIG; TRYCREATE), with imaplib and raw sockets."""
import imaplib
import re
import socket

import pytest

from test_imap_fetch import MSG1, MSG2, Raw, login, tagged


def uidvalidity(r, box="INBOX"):
    out = r.cmd(f"STATUS {box} (UIDVALIDITY)")
    return int(re.search(rb"UIDVALIDITY (\d+)", out[0]).group(1))


class Lit(Raw):
    """Raw connection that can send a command with synchronising or
    non-synchronising literals, waiting for '+' where needed."""

    def send_append(self, head, parts, sync=True, tail=b""):
        """parts: list of (opts bytes, message bytes)."""
        self.n += 1
        tag = f"X{self.n}".encode()
        line = tag + b" " + head
        for i, (opts, msg) in enumerate(parts):
            line += (b" " + opts if opts else b"")
            if sync:
                self.s.sendall(line + b" {%d}\r\n" % len(msg))
                cont = self.read_reply()
                if not cont.startswith(b"+"):
                    return [cont]
                line = msg
            else:
                line += b" {%d+}\r\n" % len(msg) + msg
        self.s.sendall(line + tail + b"\r\n")
        lines = []
        while True:
            r = self.read_reply()
            lines.append(r)
            if r.startswith(tag + b" "):
                return lines


def test_append_imaplib_flags_date(tandem):
    m = login(tandem)
    typ, data = m.append("INBOX", r"(\Seen \Flagged $Work)",
                         imaplib.Time2Internaldate(1700000000), MSG1)
    assert typ == "OK"
    assert re.search(rb"\[APPENDUID \d+ 1\]", data[0]), data
    m.select("INBOX")
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
    meta = data[0][0]
    assert b"\\Seen" in meta and b"\\Flagged" in meta and b"$Work" in meta
    assert b"14-Nov-2023" in meta
    assert f"RFC822.SIZE {len(MSG1)}".encode() in meta
    assert data[0][1] == MSG1
    m.logout()


def test_append_uids_and_capability(tandem):
    r = Lit(tandem)
    caps = r.cmd("CAPABILITY")[0]
    assert b"UIDPLUS" in caps and b"MULTIAPPEND" in caps
    uv = uidvalidity(r, "Archive")
    out = r.send_append(b"APPEND Archive", [(b"", MSG1)])
    assert tagged(out) == b"OK"
    assert f"[APPENDUID {uv} 1]".encode() in out[-1]
    out = r.send_append(b"APPEND Archive", [(b"", MSG2)], sync=False)
    assert f"[APPENDUID {uv} 2]".encode() in out[-1]
    out = r.cmd("STATUS Archive (MESSAGES)")
    assert b"MESSAGES 2" in out[0]
    r.close()


def test_multiappend_all_or_nothing(tandem):
    r = Lit(tandem)
    uv = uidvalidity(r)
    out = r.send_append(b"APPEND INBOX",
                        [(b"(\\Seen)", MSG1), (b"", MSG2),
                         (b'"01-Jan-2020 10:00:00 +0100"', MSG1)])
    assert tagged(out) == b"OK", out
    assert f"[APPENDUID {uv} 1:3]".encode() in out[-1]
    # a bad date in the third message: nothing of the command is stored
    out = r.send_append(b"APPEND INBOX",
                        [(b"", MSG1), (b"", MSG2),
                         (b'"31-Feb-2020 10:00:00 +0100"', MSG1)])
    assert tagged(out) == b"BAD"
    out = r.cmd("STATUS INBOX (MESSAGES)")
    assert b"MESSAGES 3" in out[0]
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1:3 (FLAGS INTERNALDATE)")
    assert b"\\Seen" in out[0] and b"\\Seen" not in out[1]
    assert b'"01-Jan-2020 10:00:00 +0100"' in out[2]
    r.close()


def test_append_trycreate_and_bad(tandem):
    r = Lit(tandem)
    # refused before the literal is sent: no "+"
    out = r.send_append(b"APPEND Nowhere", [(b"", MSG1)])
    assert out[0].startswith(b"X") and b"NO [TRYCREATE]" in out[0]
    out = r.send_append(b"APPEND Nowhere", [(b"", MSG1)], sync=False)
    assert tagged(out) in (b"NO", b"BAD") and b"[TRYCREATE]" in out[-1]
    out = r.send_append(b"APPEND INBOX", [(b"(\\Recent)", MSG1)])
    assert b" BAD " in out[0]
    out = r.send_append(b"APPEND INBOX", [(b"(\\Seen", MSG1)], sync=False)
    assert tagged(out) == b"BAD"
    assert tagged(r.cmd("APPEND INBOX")) == b"BAD"
    assert tagged(r.cmd('APPEND INBOX "not a literal"')) == b"BAD"
    # the connection still works and nothing was stored
    out = r.cmd("STATUS INBOX (MESSAGES)")
    assert b"MESSAGES 0" in out[0]
    r.close()


@pytest.mark.tandem_config({"limits": {"max_literal": "2048"}})
def test_append_toobig(tandem):
    r = Lit(tandem)
    big = MSG1 + b"x" * 4000 + b"\r\n"
    out = r.send_append(b"APPEND INBOX", [(b"", big)])
    assert len(out) == 1 and b"NO [TOOBIG]" in out[0]
    out = r.send_append(b"APPEND INBOX", [(b"", big)], sync=False)
    assert tagged(out) == b"BAD" and b"[TOOBIG]" in out[-1]
    # the skipped bytes were not taken as commands
    out = r.cmd("NOOP")
    assert tagged(out) == b"OK"
    out = r.send_append(b"APPEND INBOX", [(b"", MSG1)])
    assert tagged(out) == b"OK"
    out = r.cmd("STATUS INBOX (MESSAGES)")
    assert b"MESSAGES 1" in out[0]
    r.close()


def test_append_selected_exists(tandem):
    tandem.deliver("alice", MSG1)
    r = Lit(tandem)
    r.cmd("SELECT INBOX")
    out = r.send_append(b"APPEND INBOX", [(b"", MSG2)])
    assert b"* 2 EXISTS\r\n" in out
    # another session sees it too
    m = login(tandem)
    typ, data = m.select("INBOX")
    assert data == [b"2"]
    m.logout()
    r.close()


def test_append_bare_lf_normalised(tandem):
    r = Lit(tandem)
    lf = MSG1.replace(b"\r\n", b"\n")
    out = r.send_append(b"APPEND INBOX", [(b"", lf)])
    assert tagged(out) == b"OK"
    m = login(tandem)
    m.select("INBOX")
    typ, data = m.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
    assert data[0][1] == MSG1
    assert f"RFC822.SIZE {len(MSG1)}".encode() in data[0][0]
    m.logout()
    r.close()


def test_append_large_streamed(tandem):
    body = b"".join(b"line %07d of a big message\r\n" % i
                    for i in range(200000))
    msg = MSG1 + body
    m = login(tandem)
    typ, data = m.append("INBOX", None, None, msg)
    assert typ == "OK"
    m.select("INBOX")
    typ, data = m.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
    assert f"RFC822.SIZE {len(msg)}".encode() in data[0][0]
    assert data[0][1] == msg
    m.logout()


def test_append_mailbox_as_literal(tandem):
    r = Lit(tandem)
    r.n += 1
    tag = f"X{r.n}".encode()
    r.s.sendall(tag + b" APPEND {7}\r\n")
    assert r.read_reply().startswith(b"+")
    r.s.sendall(b"Archive {%d}\r\n" % len(MSG1))
    assert r.read_reply().startswith(b"+")
    r.s.sendall(MSG1 + b"\r\n")
    out = r.read_reply()
    assert out.startswith(tag + b" OK"), out
    out = r.cmd("STATUS Archive (MESSAGES)")
    assert b"MESSAGES 1" in out[0]
    r.close()


UTF8_MSG = ("From: Jürgen Müller <jm@example.de>\r\n"
            "To: alice@example.org\r\n"
            "Subject: Grüße aus München ✓\r\n"
            "\r\n"
            "Hallo, schöne Grüße.\r\n").encode()


def utf8_append(r, data, sync=True, opts=b""):
    """APPEND INBOX [opts] UTF8 (~{n}...) -- RFC 6855 4."""
    r.n += 1
    tag = f"X{r.n}".encode()
    head = tag + b" APPEND INBOX " + (opts + b" " if opts else b"") + b"UTF8 ("
    if sync:
        r.s.sendall(head + b"~{%d}\r\n" % len(data))
        cont = r.read_reply()
        if not cont.startswith(b"+"):
            return [cont]
        r.s.sendall(data + b")\r\n")
    else:
        r.s.sendall(head + b"~{%d+}\r\n" % len(data) + data + b")\r\n")
    lines = []
    while True:
        line = r.read_reply()
        lines.append(line)
        if line.startswith(tag + b" "):
            return lines


def test_append_utf8_before_enable_is_bad(tandem):
    r = Raw(tandem)
    out = utf8_append(r, UTF8_MSG)
    # refused before the continuation: the client never sends the bytes
    assert tagged(out) == b"BAD", out
    assert tagged(r.cmd("NOOP")) == b"OK"
    out = utf8_append(r, UTF8_MSG, sync=False)
    assert tagged(out) == b"BAD", out
    assert tagged(r.cmd("NOOP")) == b"OK"   # the literal was skipped
    out = r.cmd("STATUS INBOX (MESSAGES)")
    assert b"MESSAGES 0" in out[0]
    r.close()


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "literal+"])
def test_append_utf8_after_enable(tandem, sync):
    r = Raw(tandem)
    out = r.cmd("ENABLE UTF8=ACCEPT")
    assert out[0] == b"* ENABLED UTF8=ACCEPT\r\n"
    out = utf8_append(r, UTF8_MSG, sync=sync, opts=b"(\\Seen)")
    assert tagged(out) == b"OK", out
    assert re.search(rb"\[APPENDUID \d+ 1\]", out[-1])
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1 (FLAGS RFC822.SIZE BODY.PEEK[])")
    # 8-bit headers stored and returned as they were sent
    assert out[0].endswith(UTF8_MSG + b")\r\n"), out[0]
    assert b"\\Seen" in out[0]
    assert f"RFC822.SIZE {len(UTF8_MSG)}".encode() in out[0]
    out = r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert "Subject: Grüße aus München ✓".encode() in out[0]
    r.close()


def test_append_utf8_grammar(tandem):
    r = Raw(tandem)
    r.cmd("ENABLE UTF8=ACCEPT")
    # UTF8 takes a literal8, not a plain literal
    r.n += 1
    r.s.sendall(b"X%d APPEND INBOX UTF8 ({5}\r\n" % r.n)
    line = r.read_reply()
    assert line.startswith(b"X%d BAD" % r.n), line
    # one literal8 and nothing else in the list
    r.n += 1
    tag = b"X%d" % r.n
    r.s.sendall(tag + b" APPEND INBOX UTF8 (~{%d+}\r\n" % len(UTF8_MSG) +
                UTF8_MSG + b" extra)\r\n")
    while True:
        line = r.read_reply()
        if line.startswith(tag):
            break
    assert line.startswith(tag + b" BAD"), line
    out = r.cmd("STATUS INBOX (MESSAGES)")
    assert b"MESSAGES 0" in out[0]
    r.close()


def test_append_utf8_in_rev2(tandem):
    r = Raw(tandem)
    r.cmd("ENABLE IMAP4rev2")
    out = utf8_append(r, UTF8_MSG)
    assert tagged(out) == b"OK", out
    r.close()
