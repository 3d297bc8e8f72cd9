"""STORE and UID STORE against the real tandem-imapd (RFC 9051 6.4.6, 6.4.9;
RFC 7162 3.1.3 UNCHANGEDSINCE / MODIFIED)."""
import imaplib

from test_imap_fetch import MSG1, Raw, login, tagged


def three(t):
    for i in range(3):
        t.deliver("alice", MSG1.replace(b"hello", b"hello %d" % i))


def test_store_flags_replies(tandem):
    three(tandem)
    m = login(tandem)
    m.select("INBOX")
    typ, data = m.store("1:2", "+FLAGS", "(\\Flagged $Label1)")
    assert typ == "OK"
    assert len(data) == 2
    assert b"\\Flagged" in data[0] and b"$Label1" in data[0]
    typ, data = m.store("2", "-FLAGS", "\\Flagged")
    assert typ == "OK" and b"\\Flagged" not in data[0] and b"$Label1" in data[0]
    typ, data = m.store("3", "FLAGS", "(\\Seen \\Answered)")
    assert b"\\Seen" in data[0] and b"\\Answered" in data[0]
    typ, data = m.fetch("1:3", "(FLAGS)")
    assert b"\\Flagged" in data[0] and b"$Label1" in data[0]
    assert b"\\Flagged" not in data[1]
    assert b"\\Seen" in data[2]
    m.logout()


def test_store_silent_and_uid(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    assert tagged(out) == b"OK"
    assert not any(b"FETCH" in l for l in out)
    out = r.cmd("UID STORE 2 -FLAGS (\\Deleted)")
    fetches = [l for l in out if b"FETCH" in l]
    assert len(fetches) == 1 and b"UID 2" in fetches[0]
    assert b"\\Deleted" not in fetches[0]
    out = r.cmd("FETCH 1:3 FLAGS")
    assert b"\\Deleted" in out[0] and b"\\Deleted" not in out[1]
    r.close()


def test_store_bad_flags(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    assert tagged(r.cmd("STORE 1 +FLAGS (\\Recent)")) == b"BAD"
    assert tagged(r.cmd("STORE 1 +FLAGS (\\Bogus)")) == b"BAD"
    assert tagged(r.cmd("STORE 1 FROBS (\\Seen)")) == b"BAD"
    assert tagged(r.cmd("STORE 9 +FLAGS (\\Seen)")) == b"BAD"
    assert tagged(r.cmd("STORE 1 +FLAGS")) == b"BAD"
    r.close()


def test_store_read_only(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("EXAMINE INBOX")
    out = r.cmd("STORE 1 +FLAGS (\\Seen)")
    assert tagged(out) == b"NO"
    r.close()


def test_store_unchangedsince(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("ENABLE CONDSTORE")
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1:3 (MODSEQ)")
    ms = [int(l.split(b"MODSEQ (")[1].split(b")")[0]) for l in out[:-1]]
    # message 2 changes after we learnt its modseq
    r.cmd("STORE 2 +FLAGS.SILENT (\\Answered)")
    out = r.cmd(f"STORE 1:3 (UNCHANGEDSINCE {max(ms)}) +FLAGS (\\Flagged)")
    assert out[-1].startswith(b"X") and b"[MODIFIED 2]" in out[-1], out
    fetches = [l for l in out if b" FETCH " in l]
    assert any(l.startswith(b"* 1 FETCH") for l in fetches)
    assert all(b"MODSEQ" in l for l in fetches)
    assert not any(l.startswith(b"* 2 FETCH") and b"\\Flagged" in l for l in fetches)
    # UNCHANGEDSINCE 0 fails every message
    out = r.cmd("UID STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)")
    assert b"[MODIFIED 1:3]" in out[-1]
    out = r.cmd("FETCH 1:3 FLAGS")
    assert not any(b"\\Draft" in l for l in out)
    r.close()


def test_store_seen_by_other_session(tandem):
    three(tandem)
    a = Raw(tandem)
    b = Raw(tandem)
    a.cmd("SELECT INBOX")
    b.cmd("SELECT INBOX")
    b.cmd("STORE 1 +FLAGS (\\Flagged)")
    out = a.cmd("NOOP")
    assert any(l.startswith(b"* 1 FETCH") and b"\\Flagged" in l for l in out)
    a.close()
    b.close()


def test_pipelined_writes_are_seen_by_the_next_command(tandem):
    """A command's reads share one snapshot of the store; each write the
    pipeline makes is still seen by the commands after it."""
    three(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    r.s.sendall(b"p1 STORE 1 +FLAGS.SILENT (\\Flagged)\r\n"
                b"p2 FETCH 1 (FLAGS)\r\n"
                b"p3 CREATE Piped\r\n"
                b"p4 LIST \"\" Piped\r\n"
                b"p5 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n"
                b"p6 EXPUNGE\r\n"
                b"p7 FETCH 1:* (FLAGS)\r\n")
    lines = []
    while not lines or not lines[-1].startswith(b"p7 "):
        line = r.read_reply()
        assert line, lines
        lines.append(line)
    by_tag = {}
    cur = []
    for line in lines:
        cur.append(line)
        if not line.startswith(b"*"):
            by_tag[line.split(b" ")[0]] = cur
            cur = []
    assert all(v[-1].split(b" ")[1] == b"OK" for v in by_tag.values()), lines
    assert b"\\Flagged" in by_tag[b"p2"][0]
    assert any(b"Piped" in l for l in by_tag[b"p4"][:-1])
    assert b"* 2 EXPUNGE\r\n" in by_tag[b"p6"]
    fetches = [l for l in by_tag[b"p7"] if l.startswith(b"* ")]
    assert len(fetches) == 2 and b"\\Flagged" in fetches[0], lines
    r.close()
