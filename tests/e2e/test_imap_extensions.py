"""Capabilities advertised for what already works, each checked on the wire
against the real tandem-imapd: UIDPLUS (RFC 4315), MOVE (RFC 6851),
OBJECTID (RFC 8474), SAVEDATE (RFC 8514), STATUS=SIZE (RFC 8438),
LIST-STATUS (RFC 5819), APPENDLIMIT (RFC 7889), SPECIAL-USE (RFC 6154)."""
import re

import pytest

from test_imap_compress import connect

MSG = (b"From: alice@example.org\r\nTo: bob@example.org\r\n"
       b"Subject: ext\r\nMessage-ID: <ext@example.org>\r\n\r\nbody\r\n")


def login(t):
    c = connect(t)
    _, _, ok = c.cmd(b"l", b"LOGIN alice secret")
    assert ok.startswith(b"l OK")
    return c


def ok(c, tag, text):
    lines, lits, tagged = c.cmd(tag, text)
    assert tagged.startswith(tag + b" OK"), tagged
    return lines, lits, tagged


def append(c, tag, mbox, msg=MSG):
    c.send(tag + b" APPEND " + mbox + b" {%d+}\r\n" % len(msg) + msg + b"\r\n")
    _, _, tagged = c.response(tag)
    return tagged


def caps(c):
    lines, _, _ = ok(c, b"cap", b"CAPABILITY")
    line = [ln for ln in lines if ln.startswith(b"* CAPABILITY")][0]
    return line.split()[2:]


def test_capabilities_after_login(tandem):
    c = login(tandem)
    cs = caps(c)
    for name in (b"UIDPLUS", b"MOVE", b"OBJECTID", b"SAVEDATE", b"STATUS=SIZE",
                 b"LIST-STATUS", b"SPECIAL-USE", b"COMPRESS=DEFLATE"):
        assert name in cs, name
    limit = [x for x in cs if x.startswith(b"APPENDLIMIT=")]
    assert limit == [b"APPENDLIMIT=%d" % (64 << 20)]


def test_uidplus(tandem):
    c = login(tandem)
    ok(c, b"a0", b"CREATE Dest")
    tagged = append(c, b"a1", b"INBOX")
    m = re.match(rb"a1 OK \[APPENDUID (\d+) (\d+)\]", tagged)
    assert m, tagged
    uv, uid = int(m.group(1)), int(m.group(2))
    append(c, b"a2", b"INBOX")
    append(c, b"a3", b"INBOX")
    lines, _, _ = ok(c, b"a4", b"SELECT INBOX")
    assert b"* OK [UIDVALIDITY %d] UIDs valid" % uv in lines or any(
        b"[UIDVALIDITY %d]" % uv in ln for ln in lines)
    _, _, tagged = ok(c, b"a5", b"UID COPY %d:%d Dest" % (uid, uid + 1))
    assert re.search(rb"\[COPYUID \d+ %d:%d \d+:\d+\]" % (uid, uid + 1), tagged), tagged
    ok(c, b"a6", b"STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    # RFC 4315 2.1: only the named UIDs go, though all are \Deleted
    lines, _, _ = ok(c, b"a7", b"UID EXPUNGE %d" % (uid + 1))
    assert [ln for ln in lines if ln.endswith(b"EXPUNGE")] == [b"* 2 EXPUNGE"]
    lines, _, _ = ok(c, b"a8", b"UID SEARCH ALL")
    assert lines == [b"* SEARCH %d %d" % (uid, uid + 2)]


def test_move(tandem):
    c = login(tandem)
    ok(c, b"m0", b"CREATE Dest")
    append(c, b"m1", b"INBOX")
    append(c, b"m2", b"INBOX")
    ok(c, b"m3", b"SELECT INBOX")
    lines, _, _ = ok(c, b"m4", b"UID MOVE 1 Dest")
    assert any(re.match(rb"\* OK \[COPYUID \d+ 1 1\]", ln) for ln in lines), lines
    assert b"* 1 EXPUNGE" in lines
    lines, _, _ = ok(c, b"m5", b"STATUS Dest (MESSAGES)")
    assert b"* STATUS Dest (MESSAGES 1)" in lines
    lines, _, _ = ok(c, b"m6", b"STATUS INBOX (MESSAGES)")
    assert b"* STATUS INBOX (MESSAGES 1)" in lines


def test_objectid(tandem):
    c = login(tandem)
    _, _, tagged = ok(c, b"o0", b"CREATE Box")
    m = re.match(rb"o0 OK \[MAILBOXID \(([A-Za-z0-9_-]{1,255})\)\]", tagged)
    assert m, tagged
    boxid = m.group(1)
    lines, _, _ = ok(c, b"o1", b"STATUS Box (MAILBOXID MESSAGES)")
    assert lines == [b"* STATUS Box (MESSAGES 0 MAILBOXID (%s))" % boxid]
    # RFC 8474 4.1: stable across RENAME
    ok(c, b"o2", b"RENAME Box Box2")
    lines, _, _ = ok(c, b"o3", b"STATUS Box2 (MAILBOXID)")
    assert lines == [b"* STATUS Box2 (MAILBOXID (%s))" % boxid]
    append(c, b"o4", b"Box2")
    lines, _, _ = ok(c, b"o5", b"SELECT Box2")
    assert b"* OK [MAILBOXID (%s)] Ok" % boxid in lines or any(
        b"[MAILBOXID (%s)]" % boxid in ln for ln in lines)
    lines, _, _ = ok(c, b"o6", b"FETCH 1 (EMAILID THREADID)")
    m = re.match(rb"\* 1 FETCH \(EMAILID \(([A-Za-z0-9_-]+)\) THREADID "
                 rb"(NIL|\([A-Za-z0-9_-]+\))\)", lines[0])
    assert m, lines
    # a different mailbox has a different id
    lines, _, _ = ok(c, b"o7", b"STATUS INBOX (MAILBOXID)")
    other = re.search(rb"MAILBOXID \(([^)]+)\)", lines[0]).group(1)
    assert other != boxid


def test_savedate(tandem):
    c = login(tandem)
    append(c, b"s1", b"INBOX")
    ok(c, b"s2", b"SELECT INBOX")
    lines, _, _ = ok(c, b"s3", b"FETCH 1 (SAVEDATE)")
    assert re.match(rb'\* 1 FETCH \(SAVEDATE "\d\d-[A-Z][a-z]{2}-\d{4} '
                    rb'\d\d:\d\d:\d\d [+-]\d{4}"\)', lines[0]), lines


def test_status_size(tandem):
    c = login(tandem)
    big = MSG + b"x" * 1000 + b"\r\n"
    append(c, b"z1", b"INBOX")
    append(c, b"z2", b"INBOX", big)
    lines, _, _ = ok(c, b"z3", b"STATUS INBOX (SIZE MESSAGES)")
    assert lines == [b"* STATUS INBOX (MESSAGES 2 SIZE %d)" % (len(MSG) + len(big))]
    ok(c, b"z4", b"SELECT INBOX")
    lines, _, _ = ok(c, b"z5", b"FETCH 1:2 (RFC822.SIZE)")
    assert sum(int(re.search(rb"RFC822.SIZE (\d+)", ln).group(1))
               for ln in lines) == len(MSG) + len(big)


def test_list_status(tandem):
    c = login(tandem)
    ok(c, b"ls0", b"CREATE Other")
    append(c, b"ls1", b"INBOX")
    lines, _, _ = ok(c, b"ls2", b'LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN))')
    assert b"* STATUS INBOX (MESSAGES 1 UNSEEN 1)" in lines
    assert b"* STATUS Other (MESSAGES 0 UNSEEN 0)" in lines
    # each STATUS follows its LIST line
    i = [j for j, ln in enumerate(lines) if ln.startswith(b"* LIST") and ln.endswith(b"INBOX")][0]
    assert lines[i + 1].startswith(b"* STATUS INBOX")


@pytest.mark.tandem_config({"limits": {"max_literal": "4096"}})
def test_appendlimit(tandem):
    c = login(tandem)
    assert b"APPENDLIMIT=4096" in caps(c)
    lines, _, _ = ok(c, b"al0", b"STATUS INBOX (APPENDLIMIT)")
    assert lines == [b"* STATUS INBOX (APPENDLIMIT 4096)"]
    # at the limit: accepted; one more: TOOBIG before the literal
    at = MSG + b"y" * (4096 - len(MSG))
    assert append(c, b"al1", b"INBOX", at).startswith(b"al1 OK")
    c.send(b"al2 APPEND INBOX {4097}\r\n")
    ln = c.line()
    assert ln.startswith(b"al2 NO [TOOBIG]"), ln


def test_special_use(tandem):
    c = login(tandem)
    ok(c, b"su0", b"CREATE MySent (USE (\\Sent))")
    ok(c, b"su1", b"CREATE Plain")
    lines, _, _ = ok(c, b"su2", b'LIST "" "*"')
    sent = [ln for ln in lines if ln.endswith(b" MySent")]
    assert sent and b"\\Sent" in sent[0]
    lines, _, _ = ok(c, b"su3", b'LIST (SPECIAL-USE) "" "*"')
    assert sent[0] in lines and not any(ln.endswith(b" Plain") for ln in lines)
    _, _, tagged = c.cmd(b"su4", b"CREATE Bogus (USE (\\Nonsense))")
    assert tagged.startswith(b"su4 NO [USEATTR]")
