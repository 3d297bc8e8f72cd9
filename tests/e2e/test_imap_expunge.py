"""EXPUNGE and UID EXPUNGE against the real tandem-imapd (RFC 9051 6.4.3,
6.4.9; RFC 4315 UIDPLUS; RFC 7162 VANISHED)."""
from test_imap_fetch import MSG1, Raw, login, tagged


def five(t):
    for i in range(5):
        t.deliver("alice", MSG1.replace(b"hello", b"hello %d" % i))


def test_expunge_msns(tandem):
    five(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    r.cmd("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)")
    out = r.cmd("EXPUNGE")
    assert tagged(out) == b"OK"
    # each EXPUNGE renumbers the rest: 2, then 3 (was 4), then 3 (was 5)
    exp = [l.split()[1] for l in out if l.endswith(b"EXPUNGE\r\n")]
    assert exp == [b"2", b"3", b"3"], out
    out = r.cmd("UID FETCH 1:* (UID)")
    uids = [int(l.split(b"UID ")[1].split(b")")[0]) for l in out[:-1]]
    assert uids == [1, 3]
    r.close()


def test_uid_expunge(tandem):
    five(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    r.cmd("STORE 1:5 +FLAGS.SILENT (\\Deleted)")
    out = r.cmd("UID EXPUNGE 2:3")
    assert tagged(out) == b"OK"
    exp = [l for l in out if l.endswith(b"EXPUNGE\r\n")]
    assert exp == [b"* 2 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"]
    out = r.cmd("FETCH 1:* (UID)")
    assert len(out) == 4
    r.close()


def test_expunge_vanished_qresync(tandem):
    five(tandem)
    r = Raw(tandem)
    r.cmd("ENABLE QRESYNC")
    r.cmd("SELECT INBOX")
    r.cmd("STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    out = r.cmd("EXPUNGE")
    assert b"* VANISHED 1,3\r\n" in out
    assert not any(l.endswith(b"EXPUNGE\r\n") for l in out)
    r.close()


def test_expunge_read_only(tandem):
    five(tandem)
    r = Raw(tandem)
    r.cmd("EXAMINE INBOX")
    assert tagged(r.cmd("EXPUNGE")) == b"NO"
    r.close()


def test_expunge_seen_by_other_session(tandem):
    five(tandem)
    a, b = Raw(tandem), Raw(tandem)
    a.cmd("SELECT INBOX")
    b.cmd("SELECT INBOX")
    b.cmd("STORE 3 +FLAGS.SILENT (\\Deleted)")
    b.cmd("EXPUNGE")
    # FETCH by MSN does not renumber: no EXPUNGE during it
    out = a.cmd("FETCH 3 (UID)")
    assert tagged(out) == b"NO" and b"[EXPUNGEISSUED]" in out[-1]
    assert not any(b"EXPUNGE\r\n" == l[-9:] for l in out[:-1])
    out = a.cmd("NOOP")
    assert b"* 3 EXPUNGE\r\n" in out
    out = a.cmd("FETCH 3 (UID)")
    assert tagged(out) == b"OK" and b"UID 4" in out[0]
    a.close()
    b.close()
