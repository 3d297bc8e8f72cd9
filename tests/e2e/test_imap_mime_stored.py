"""The MIME structure kept with each message (issue 7, scenario 6).

Every way a message comes in (tandemctl deliver, LMTP, IMAP APPEND, COPY,
MOVE, tandemctl import maildir and mbox) stores the parsed MIME structure
of its body (blob "mime.v1", core/mime.h) in the same transaction, so FETCH
ENVELOPE / BODY / BODYSTRUCTURE / RFC822.SIZE format it without reading
the body. These tests check that the blob is there before any FETCH ran,
that the answers made from it are byte for byte the answers computed on
demand from the body (a store written before the blob existed: the rows
are removed), and that the on-demand parse stores the same blob again.
"""
import smtplib
import sqlite3
import time

from conftest import need
from test_imap_bodystructure_dovecot import Client, corpus

ITEMS = b"(UID RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE BODY.PEEK[1.MIME])"

MBOX = (b"From a@example.org Tue Nov 24 10:00:00 2026\n"
        b"From: a@example.org\nSubject: mbox one\n"
        b"Content-Type: multipart/mixed; boundary=zz\n\n"
        b"--zz\nContent-Type: text/plain; charset=utf-8\n\nhello\n"
        b"--zz\nContent-Type: message/rfc822\n\n"
        b"From: inner@example.org\nSubject: inner\n\ninner body\n--zz--\n\n"
        b"From b@example.org Tue Nov 24 11:00:00 2026\n"
        b"From: b@example.org\nSubject: mbox two\n\nplain\n")


def db(t, user):
    c = sqlite3.connect(str(t.data_dir / "mail" / user / "store.db"), timeout=30)
    c.execute("PRAGMA busy_timeout = 30000")
    return c


def mime_blobs(t, user):
    """body id -> the stored structure (None when a body has none)."""
    c = db(t, user)
    try:
        return dict(c.execute(
            "SELECT b.id, x.data FROM body b LEFT JOIN blob x"
            " ON x.body_id = b.id AND x.name = 'mime.v1'").fetchall())
    finally:
        c.close()


def drop_mime_blobs(t, user):
    c = db(t, user)
    try:
        with c:
            c.execute("DELETE FROM blob WHERE name = 'mime.v1'")
    finally:
        c.close()


def answers(t, user, password, mailboxes):
    """{(mailbox, uid): the raw FETCH response} for every message."""
    c = Client(t.imaps_port)
    c.command(b"LOGIN %s %s" % (user.encode(), password.encode()))
    out = {}
    for mb in mailboxes:
        r = c.command(b"SELECT " + mb)
        n = int(r.split(b" EXISTS")[0].rsplit(b"* ", 1)[1])
        uids = c.command(b"UID SEARCH ALL").split()[2:]
        assert len(uids) == n and n > 0, (mb, r)
        for uid in uids:
            out[(mb, int(uid))] = c.command(b"UID FETCH %s %s" % (uid, ITEMS))
    c.command(b"LOGOUT")
    return out


def check_stored_then_on_demand(t, user, password, mailboxes):
    stored = mime_blobs(t, user)
    assert stored and all(v is not None for v in stored.values()), \
        [k for k, v in stored.items() if v is None]
    first = answers(t, user, password, mailboxes)
    # a store from before: no structure rows; FETCH parses the bodies
    drop_mime_blobs(t, user)
    assert all(v is None for v in mime_blobs(t, user).values())
    again = answers(t, user, password, mailboxes)
    assert again.keys() == first.keys()
    diff = [k for k in first if first[k] != again[k]]
    assert diff == [], (diff[:3], [first[k][:300] for k in diff[:1]],
                        [again[k][:300] for k in diff[:1]])
    # ... and keeps what it parsed: the same bytes delivery stored
    deadline = time.time() + 20
    while True:
        now = mime_blobs(t, user)
        if all(v is not None for v in now.values()) or time.time() > deadline:
            break
        time.sleep(0.1)
    refilled = {k: v for k, v in now.items() if v is not None}
    assert refilled, "no structure stored again after the FETCHes"
    assert all(stored[k] == v for k, v in refilled.items())


def test_stored_structure_deliver_append_copy_move(tandem):
    """tandemctl deliver into INBOX, APPEND into Appended, COPY and MOVE
    (they share the body, and so its structure)."""
    need("imapd")
    t = tandem
    msgs = [m.read_bytes() for m, _ in corpus()]
    for m in msgs:
        t.deliver("alice", m)
    c = Client(t.imaps_port)
    c.command(b"LOGIN alice secret")
    for mb in (b"Appended", b"Copied", b"Moved"):
        c.command(b"CREATE " + mb)
    appended = 0
    for m in msgs:
        _, tagged = c.command(b"APPEND Appended", literal=m, check=False)
        appended += b" OK" in tagged
    assert appended > len(msgs) - 5
    c.command(b"SELECT Appended")
    c.command(b"UID COPY 1:* Copied")
    c.command(b"UID MOVE 1:10 Moved")
    c.command(b"LOGOUT")
    check_stored_then_on_demand(t, "alice", "secret",
                                [b"INBOX", b"Appended", b"Copied", b"Moved"])


def test_stored_structure_lmtp_and_imports(tandem):
    """LMTP into bob's INBOX; a Maildir and an mbox imported for carol."""
    need("imapd")
    need("lmtpd")
    t = tandem
    msgs = [m.read_bytes() for m, _ in corpus()]
    with smtplib.LMTP("127.0.0.1", t.lmtp_port) as s:
        for m in msgs:
            s.sendmail("s@example.net", ["bob@example.org"], m)
    check_stored_then_on_demand(t, "bob", "hunter2", [b"INBOX"])

    t.ctl("user", "add", "carol", "--password", "pw")
    md = t.root / "Maildir"
    for sub in ("cur", "new", "tmp", ".Lists/cur", ".Lists/new", ".Lists/tmp"):
        (md / sub).mkdir(parents=True)
    for i, m in enumerate(msgs):
        sub = "cur" if i % 2 else ".Lists/cur"
        (md / sub / f"{1700000000 + i}.M{i}P1.test:2,").write_bytes(m)
    f = t.root / "in.mbox"
    f.write_bytes(MBOX)
    for p in [t.root, f, *md.rglob("*"), md]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    t.ctl("import", "maildir", "carol", md)
    t.ctl("mailbox", "create", "carol", "Mbox")
    t.ctl("import", "mbox", "carol", f, "Mbox")
    check_stored_then_on_demand(t, "carol", "pw", [b"INBOX", b"Lists", b"Mbox"])


def test_fetch_formats_the_stored_structure(tandem):
    """FETCH answers from the stored structure, not from the body: with
    the structures of two bodies swapped, each message reports the
    other's BODYSTRUCTURE."""
    need("imapd")
    t = tandem
    t.deliver("alice", b"From: a@example.org\r\nSubject: one\r\n\r\nplain\r\n")
    t.deliver("alice", b"From: b@example.org\r\nSubject: two\r\n"
                       b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>x</p>\r\n")
    c = db(t, "alice")
    with c:
        (a, x), (b, y) = c.execute("SELECT body_id, data FROM blob"
                                   " WHERE name = 'mime.v1' ORDER BY body_id")
        c.execute("UPDATE blob SET data = ? WHERE body_id = ? AND name = 'mime.v1'", (y, a))
        c.execute("UPDATE blob SET data = ? WHERE body_id = ? AND name = 'mime.v1'", (x, b))
    c.close()
    cl = Client(t.imaps_port)
    cl.command(b"LOGIN alice secret")
    cl.command(b"SELECT INBOX")
    r1 = cl.command(b"UID FETCH 1 (BODYSTRUCTURE ENVELOPE)")
    r2 = cl.command(b"UID FETCH 2 (BODYSTRUCTURE ENVELOPE)")
    cl.command(b"LOGOUT")
    assert b'"html"' in r1 and b'"two"' in r1, r1
    assert b'"plain"' in r2 and b'"one"' in r2, r2
