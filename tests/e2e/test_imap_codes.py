"""Response codes (RFC 9051 7.1, RFC 3501 7.1, RFC 4315, RFC 5530) as a
client of the real tandem-imapd sees them: one test per code of issue 5,
run in both revisions where the rule differs (UNSEEN is IMAP4rev1 only).
Codes Tandem never sends have a test that says why and asserts what the
server does instead."""
import base64
import re
import shutil
import sqlite3

import pytest

from conftest import need
from test_imap_fetch import Raw, tagged

REV = pytest.mark.parametrize("rev", [1, 2], ids=["rev1", "rev2"])


def msg(i):
    return (f"From: a@example.org\r\nTo: alice@example.org\r\n"
            f"Subject: m{i}\r\n\r\nbody {i}\r\n").encode()


def conn(t, rev=1, user="alice", pw="secret"):
    r = Raw(t, user, pw)
    if rev == 2:
        assert tagged(r.cmd("ENABLE IMAP4rev2")) == b"OK"
    return r


def code(line):
    """The response code of a status line, b"" if none."""
    mm = re.match(rb"\S+ (?:OK|NO|BAD|BYE|PREAUTH) \[([^\]]*)\]", line)
    return mm.group(1) if mm else b""


def codes(lines):
    return [code(l) for l in lines]


def store_db(t, user="alice"):
    return t.data_dir / "mail" / user / "store.db"


@pytest.mark.tandem_config({"imap": {"login_alert": "Maintenance on Sunday 02:00 UTC"}})
def test_alert(tandem):
    """ALERT (RFC 9051 7.1): the administrator's notice ([imap]
    login_alert) comes after a successful LOGIN or AUTHENTICATE, never
    before or on a failure."""
    alert = b"* OK [ALERT] Maintenance on Sunday 02:00 UTC\r\n"
    r = Raw(tandem, user=None)
    out = r.cmd("LOGIN alice wrong")
    assert tagged(out) == b"NO" and not any(b"[ALERT]" in l for l in out)
    out = r.cmd("LOGIN alice secret")
    assert tagged(out) == b"OK" and alert in out, out
    r.s.close()
    r = Raw(tandem, user=None)
    ir = base64.b64encode(b"\0bob\0hunter2").decode()
    out = r.cmd("AUTHENTICATE PLAIN " + ir)
    assert tagged(out) == b"OK" and alert in out, out
    r.s.close()


def test_no_alert_by_default(tandem):
    r = Raw(tandem, user=None)
    out = r.cmd("LOGIN alice secret")
    assert tagged(out) == b"OK" and not any(b"[ALERT]" in l for l in out)
    r.s.close()


@REV
def test_permanentflags(tandem, rev):
    r = conn(tandem, rev)
    out = r.cmd("SELECT INBOX")
    assert b"PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "\
        b"\\Draft \\*)" in codes(out)
    out = r.cmd("EXAMINE INBOX")
    assert b"PERMANENTFLAGS ()" in codes(out)
    r.close()


@REV
def test_read_only_and_read_write(tandem, rev):
    tandem.deliver("alice", msg(1))
    r = conn(tandem, rev)
    out = r.cmd("SELECT INBOX")
    assert code(out[-1]) == b"READ-WRITE"
    out = r.cmd("EXAMINE INBOX")
    assert code(out[-1]) == b"READ-ONLY"
    # writes to a read-only mailbox: NO [READ-ONLY]
    for c in ("STORE 1 +FLAGS (\\Seen)", "EXPUNGE", "UID EXPUNGE 1",
              "MOVE 1 Trash"):
        out = r.cmd(c)
        assert tagged(out) == b"NO" and code(out[-1]) == b"READ-ONLY", c
    r.close()


def test_trycreate(tandem):
    tandem.deliver("alice", msg(1))
    r = conn(tandem)
    r.cmd("SELECT INBOX")
    for c in ("COPY 1 Nowhere", "MOVE 1 Nowhere", "UID COPY 1 Nowhere"):
        out = r.cmd(c)
        assert tagged(out) == b"NO" and code(out[-1]) == b"TRYCREATE", c
    r.n += 1
    r.s.sendall(b"X%d APPEND Nowhere {5}\r\n" % r.n)
    line = r.read_reply()
    assert line.startswith(b"X%d NO [TRYCREATE]" % r.n), line
    r.close()


@REV
def test_uidnext_uidvalidity(tandem, rev):
    tandem.deliver("alice", msg(1))
    tandem.deliver("alice", msg(2))
    r = conn(tandem, rev)
    c = codes(r.cmd("SELECT INBOX"))
    assert b"UIDNEXT 3" in c
    assert any(re.fullmatch(rb"UIDVALIDITY [1-9]\d*", x) for x in c)
    r.close()


@REV
def test_unseen_rev1_only(tandem, rev):
    """RFC 3501 6.3.1: OK [UNSEEN n], the first unseen message; removed
    from IMAP4rev2 (RFC 9051 E.)."""
    for i in range(3):
        tandem.deliver("alice", msg(i))
    r = conn(tandem, rev)
    r.cmd("SELECT INBOX")
    r.cmd("STORE 1 +FLAGS.SILENT (\\Seen)")
    c = codes(r.cmd("SELECT INBOX"))
    if rev == 1:
        assert b"UNSEEN 2" in c
    else:
        assert not any(x.startswith(b"UNSEEN") for x in c)
    r.close()


def test_appenduid_copyuid(tandem):
    r = conn(tandem)
    uv = int(re.search(rb"UIDVALIDITY (\d+)",
                       r.cmd("STATUS INBOX (UIDVALIDITY)")[0]).group(1))
    r.n += 1
    m = msg(1)
    r.s.sendall(b"X%d APPEND INBOX {%d+}\r\n" % (r.n, len(m)) + m + b"\r\n")
    line = r.read_reply()
    assert code(line) == b"APPENDUID %d 1" % uv
    r.cmd("CREATE Box")
    tv = int(re.search(rb"UIDVALIDITY (\d+)",
                       r.cmd("STATUS Box (UIDVALIDITY)")[0]).group(1))
    r.cmd("SELECT INBOX")
    out = r.cmd("COPY 1 Box")
    assert code(out[-1]) == b"COPYUID %d 1 1" % tv
    out = r.cmd("UID MOVE 1 Box")
    # RFC 6851 4.3: COPYUID in an untagged OK before the expunge
    assert b"COPYUID %d 1 2" % tv in codes(out)
    r.close()


def test_uidnotsticky_never(tandem):
    """UIDNOTSTICKY (RFC 4315 3) tells that a mailbox cannot keep UIDs
    between sessions. Tandem's UIDs live in the per-user SQLite store with
    the mailbox's UIDVALIDITY, so they are always sticky: after a restart
    of the daemon SELECT gives the same UIDVALIDITY and the same UIDs,
    and no UIDNOTSTICKY."""
    for i in range(3):
        tandem.deliver("alice", msg(i))
    r = conn(tandem)
    r.cmd("CREATE New")
    first = r.cmd("SELECT INBOX")
    uids = r.cmd("UID SEARCH ALL")[0]
    r.close()
    tandem.restart("imapd")
    r = conn(tandem)
    again = r.cmd("SELECT INBOX")
    assert [x for x in codes(first) if x.startswith(b"UIDVALIDITY")] == \
        [x for x in codes(again) if x.startswith(b"UIDVALIDITY")]
    assert r.cmd("UID SEARCH ALL")[0] == uids == b"* SEARCH 1 2 3\r\n"
    for box in ("INBOX", "New"):
        assert not any(b"UIDNOTSTICKY" in x
                       for x in codes(r.cmd(f"SELECT {box}")))
    r.close()


@REV
def test_closed(tandem, rev):
    """RFC 9051 7.1 CLOSED: SELECT/EXAMINE while a mailbox is selected
    closes it first, with an untagged OK [CLOSED] before the new
    mailbox's responses."""
    r = conn(tandem, rev)
    out = r.cmd("SELECT INBOX")
    assert b"CLOSED" not in codes(out)
    out = r.cmd("EXAMINE Trash")
    assert out[0] == b"* OK [CLOSED] Previous mailbox closed\r\n"
    # a failing SELECT still closes the previous one
    out = r.cmd("SELECT Nope")
    assert codes(out)[0] == b"CLOSED" and tagged(out) == b"NO"
    assert tagged(r.cmd("FETCH 1 FLAGS")) == b"BAD"   # nothing selected
    r.close()


def test_alreadyexists(tandem):
    r = conn(tandem)
    r.cmd("CREATE A")
    r.cmd("CREATE B")
    for c in ("CREATE A", "CREATE inbox", "RENAME A B"):
        out = r.cmd(c)
        assert tagged(out) == b"NO" and code(out[-1]) == b"ALREADYEXISTS", c
    r.close()


def test_nonexistent(tandem):
    r = conn(tandem)
    for c in ("SELECT Nope", "EXAMINE Nope", "STATUS Nope (MESSAGES)",
              "DELETE Nope", "RENAME Nope Other"):
        out = r.cmd(c)
        assert tagged(out) == b"NO" and code(out[-1]) == b"NONEXISTENT", c
    r.close()


def test_noperm_never_cannot_for_inbox(tandem):
    """NOPERM (RFC 9051 7.1) is for access control ("the access control
    system (e.g., ACL) does not permit this user"). Tandem has no ACLs and
    no shared or other-users namespaces: a user sees only their own
    mailboxes, so there is nothing to be refused by permission. Deleting
    INBOX is refused by RFC 9051 6.3.5 itself ("It is an error to attempt
    to delete INBOX"), an invariant: NO [CANNOT], as RFC 9051 7.1 CANNOT
    says ("violates some invariant of the server and can never
    succeed")."""
    r = conn(tandem, user="bob", pw="hunter2")
    r.cmd("CREATE BobOnly")
    r.close()
    r = conn(tandem)
    out = r.cmd("NAMESPACE")
    assert out[0] == b'* NAMESPACE (("" "/")) NIL NIL\r\n'
    out = r.cmd("DELETE INBOX")
    assert tagged(out) == b"NO" and code(out[-1]) == b"CANNOT"
    # another user's mailbox is simply not there
    for c in ("SELECT BobOnly", "SELECT bob/BobOnly",
              "SELECT \"#Users/bob/INBOX\""):
        out = r.cmd(c)
        assert tagged(out) == b"NO" and code(out[-1]) == b"NONEXISTENT", c
    r.close()


def test_overquota(tandem):
    tandem.ctl("user", "set", "alice", "quota_messages=1")
    tandem.deliver("alice", msg(1))
    r = conn(tandem)
    r.n += 1
    m = msg(2)
    r.s.sendall(b"X%d APPEND INBOX {%d+}\r\n" % (r.n, len(m)) + m + b"\r\n")
    line = r.read_reply()
    assert line.startswith(b"X%d NO [OVERQUOTA]" % r.n), line
    r.cmd("SELECT INBOX")
    out = r.cmd("COPY 1 Trash")
    assert tagged(out) == b"NO" and code(out[-1]) == b"OVERQUOTA"
    r.close()


def test_limit_multiappend(tandem):
    """RFC 9051 7.1 LIMIT: more than 1000 messages in one MULTIAPPEND
    (RFC 3502) is over Tandem's bound; the 1001st synchronising literal
    gets NO [LIMIT] before the client sends it, and nothing is added
    (MULTIAPPEND is all or nothing)."""
    r = conn(tandem)
    m = msg(1)
    r.n += 1
    tag = b"X%d" % r.n
    r.s.sendall(tag + b" APPEND INBOX" +
                (b" {%d+}\r\n" % len(m) + m) * 1000 +
                b" {%d}\r\n" % len(m))
    line = r.read_reply()
    assert line.startswith(tag + b" NO [LIMIT]"), line
    out = r.cmd("STATUS INBOX (MESSAGES)")
    assert b"MESSAGES 0" in out[0]
    r.close()


def test_cannot(tandem):
    """RFC 9051 7.1 CANNOT: requests that can never succeed. (Names with
    "*" or "%" are allowed, as in Dovecot: they are quoted strings.)"""
    r = conn(tandem)
    for c in ("DELETE INBOX", 'CREATE ""', "CREATE a//b", "CREATE /x",
              'SUBSCRIBE ""', "RENAME Trash Trash/x"):
        out = r.cmd(c)
        assert tagged(out) == b"NO" and code(out[-1]) == b"CANNOT", (c, out)
    r.close()


def test_serverbug():
    """SERVERBUG (RFC 9051 7.1) is kept for a failure that is neither
    damaged data (CORRUPTION, test_corruption) nor temporary
    (UNAVAILABLE, test_unavailable): an internal error of Tandem itself.
    No input a client or the disk can produce reaches it."""
    pytest.skip("no client-reachable path: SERVERBUG marks Tandem's own bugs")


@REV
def test_authenticationfailed(tandem, rev):
    need("imapd")
    r = Raw(tandem, user=None)
    out = r.cmd("LOGIN alice wrong")
    assert code(out[-1]) == b"AUTHENTICATIONFAILED"
    out = r.cmd("AUTHENTICATE PLAIN " +
                base64.b64encode(b"\0alice\0wrong").decode())
    assert code(out[-1]) == b"AUTHENTICATIONFAILED"
    out = r.cmd("LOGIN nosuchuser secret")
    assert code(out[-1]) == b"AUTHENTICATIONFAILED"
    r.close()


@pytest.mark.tandem_config({"auth": {"plaintext_without_tls": "no"}})
def test_privacyrequired(tandem):
    need("imapd")
    r = Raw(tandem, user=None)
    assert b"LOGINDISABLED" in r.cmd("CAPABILITY")[0]
    out = r.cmd("LOGIN alice secret")
    assert tagged(out) == b"NO" and code(out[-1]) == b"PRIVACYREQUIRED"
    out = r.cmd("AUTHENTICATE PLAIN " +
                base64.b64encode(b"\0alice\0secret").decode())
    assert tagged(out) == b"NO" and code(out[-1]) == b"PRIVACYREQUIRED"
    r.close()


def test_contactadmin(tandem):
    """A store that SQLite does not recognise any more (the file's header
    overwritten): the user cannot fix or wait that out, so LOGIN answers
    NO [CONTACTADMIN] (RFC 9051 7.1)."""
    tandem.deliver("alice", msg(1))
    db = store_db(tandem)
    for extra in ("-wal", "-shm"):
        p = db.with_name(db.name + extra)
        if p.exists():
            p.unlink()
    with open(db, "r+b") as f:
        f.write(b"this is no SQLite database at all" * 4)
    need("imapd")
    r = Raw(tandem, user=None)
    out = r.cmd("LOGIN alice secret")
    assert tagged(out) == b"NO" and code(out[-1]) == b"CONTACTADMIN", out
    # bob is not affected
    out = r.cmd("LOGIN bob hunter2")
    assert tagged(out) == b"OK"
    r.close()


def test_inuse_never_delete_wins(tandem):
    """INUSE (RFC 9051 7.1) would refuse an operation because someone else
    holds a resource. The only lock in Tandem's store is POP3's maildrop
    lock (RFC 1939 8), which IMAP never takes; IMAP sessions work on the
    same mailbox at once. Deleting a mailbox another session has selected
    succeeds, and that session is told with * BYE (RFC 9051 7.1.5) since
    its mailbox is gone."""
    tandem.deliver("alice", msg(1))
    a, b = conn(tandem), conn(tandem)
    a.cmd("CREATE Shared")
    a.cmd("SELECT INBOX")
    a.cmd("COPY 1 Shared")
    b.cmd("SELECT Shared")
    out = a.cmd("DELETE Shared")
    assert tagged(out) == b"OK" and b"INUSE" not in out[-1]
    b.s.sendall(b"Y NOOP\r\n")
    rest = b.f.read()
    assert b"* BYE" in rest
    a.close()
    b.close()


def test_expungeissued(tandem):
    for i in range(3):
        tandem.deliver("alice", msg(i))
    a, b = conn(tandem), conn(tandem)
    a.cmd("SELECT INBOX")
    b.cmd("SELECT INBOX")
    b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.cmd("EXPUNGE")
    out = a.cmd("FETCH 2 (BODY.PEEK[])")
    assert tagged(out) == b"NO" and code(out[-1]) == b"EXPUNGEISSUED"
    a.close()
    b.close()


def test_corruption(tandem):
    """A body whose stored bytes were cut short (the store's size says
    more): FETCH BODY[] answers NO [CORRUPTION] (RFC 9051 7.1), not
    SERVERBUG; the other messages are still served."""
    tandem.deliver("alice", msg(1))
    tandem.deliver("alice", msg(2) + b"x" * 100)
    db = sqlite3.connect(store_db(tandem), timeout=30)
    bid = db.execute("SELECT body_id FROM message WHERE uid = 2").fetchone()[0]
    db.execute("UPDATE body_chunk SET data = substr(data, 1, 10) "
               "WHERE body_id = ?", (bid,))
    db.commit()
    db.close()
    r = conn(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 2 (BODY.PEEK[])")
    assert tagged(out) == b"NO" and code(out[-1]) == b"CORRUPTION", out
    out = r.cmd("FETCH 1 (BODY.PEEK[])")
    assert tagged(out) == b"OK" and out[0].endswith(msg(1) + b")\r\n")
    r.close()


def test_unavailable(tandem):
    """The user's store cannot be opened right now (here: its file is a
    directory, as after a botched restore): LOGIN answers NO [UNAVAILABLE]
    (RFC 9051 7.1), a condition that may clear up."""
    tandem.deliver("alice", msg(1))
    db = store_db(tandem)
    for p in db.parent.glob("store.db*"):
        p.rename(p.with_name(p.name + ".away"))
    db.mkdir()
    need("imapd")
    r = Raw(tandem, user=None)
    out = r.cmd("LOGIN alice secret")
    assert tagged(out) == b"NO" and code(out[-1]) == b"UNAVAILABLE", out
    r.close()
    shutil.rmtree(db)


@pytest.mark.tandem_config({"limits": {"max_literal": "2048"}})
def test_toobig(tandem):
    r = conn(tandem)
    r.n += 1
    r.s.sendall(b"X%d APPEND INBOX {5000}\r\n" % r.n)
    line = r.read_reply()
    assert line.startswith(b"X%d NO [TOOBIG]" % r.n), line
    r.n += 1
    r.s.sendall(b"X%d APPEND INBOX {5000+}\r\n" % r.n + b"x" * 5000 +
                b"\r\n")
    line = r.read_reply()
    assert line.startswith(b"X%d BAD [TOOBIG]" % r.n), line
    assert tagged(r.cmd("NOOP")) == b"OK"
    r.close()


@REV
def test_badcharset(tandem, rev):
    tandem.deliver("alice", msg(1))
    r = conn(tandem, rev)
    r.cmd("SELECT INBOX")
    out = r.cmd("SEARCH CHARSET KOI8-R SUBJECT m")
    assert tagged(out) == b"NO"
    # RFC 9051 7.1: BADCHARSET with the supported charsets
    assert code(out[-1]) == b"BADCHARSET (UTF-8 US-ASCII)"
    r.close()
