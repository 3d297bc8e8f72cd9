"""COPY, MOVE, UID COPY, UID MOVE against the real tandem-imapd (RFC 9051
6.4.7, 6.4.8, 6.4.9; RFC 6851; RFC 4315 COPYUID; TRYCREATE)."""
import re

from test_imap_fetch import MSG1, Raw, login, tagged


def three(t):
    for i in range(3):
        t.deliver("alice", MSG1.replace(b"hello", b"hello %d" % i))


def test_copy_copyuid(tandem):
    three(tandem)
    r = Raw(tandem)
    out = r.cmd("STATUS Archive (UIDVALIDITY UIDNEXT)")
    uv = int(re.search(rb"UIDVALIDITY (\d+)", out[0]).group(1))
    r.cmd("SELECT INBOX")
    out = r.cmd("COPY 1,3 Archive")
    assert tagged(out) == b"OK"
    assert f"[COPYUID {uv} 1,3 1:2]".encode() in out[-1], out
    out = r.cmd("UID COPY 2 Archive")
    assert f"[COPYUID {uv} 2 3]".encode() in out[-1]
    out = r.cmd("STATUS Archive (MESSAGES)")
    assert b"MESSAGES 3" in out[0]
    # the source keeps its messages
    out = r.cmd("FETCH 1:* (UID)")
    assert len(out) == 4
    r.close()


def test_copy_trycreate(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("COPY 1 Nowhere")
    assert tagged(out) == b"NO" and b"[TRYCREATE]" in out[-1]
    out = r.cmd("MOVE 1 Nowhere")
    assert tagged(out) == b"NO" and b"[TRYCREATE]" in out[-1]
    assert tagged(r.cmd("COPY 7 Archive")) == b"BAD"
    r.close()


def test_move(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("MOVE 1:2 Archive")
    assert tagged(out) == b"OK"
    i_ok = next(i for i, l in enumerate(out) if l.startswith(b"* OK [COPYUID "))
    exps = [i for i, l in enumerate(out) if l.endswith(b"EXPUNGE\r\n")]
    assert len(exps) == 2 and all(i > i_ok for i in exps)
    assert re.search(rb"COPYUID \d+ 1:2 1:2\]", out[i_ok])
    out = r.cmd("FETCH 1:* (UID)")
    assert len(out) == 2 and b"UID 3" in out[0]
    out = r.cmd("UID MOVE 3 Archive")
    assert b"* 1 EXPUNGE\r\n" in out
    out = r.cmd("STATUS Archive (MESSAGES)")
    assert b"MESSAGES 3" in out[0]
    r.close()


def test_move_qresync_vanished(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("ENABLE QRESYNC")
    r.cmd("SELECT INBOX")
    out = r.cmd("UID MOVE 1:2 Archive")
    assert b"* VANISHED 1:2\r\n" in out
    r.close()


def test_move_same_mailbox(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("MOVE 1 INBOX")
    assert tagged(out) == b"OK", out
    assert b"* 1 EXPUNGE\r\n" in out
    out = r.cmd("UID FETCH 1:* (UID)")
    uids = [int(re.search(rb"UID (\d+)", l).group(1)) for l in out[:-1]]
    assert uids == [2, 3, 4]
    r.close()


def test_move_read_only(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("EXAMINE INBOX")
    assert tagged(r.cmd("MOVE 1 Archive")) == b"NO"
    assert tagged(r.cmd("COPY 1 Archive")) == b"OK"
    r.close()
