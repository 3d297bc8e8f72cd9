"""tandemctl import maildir|courier|mbox and export maildir (issue 4,
"Migration"), checked through what IMAP and POP3 clients see."""
import imaplib
import poplib
import re
import shutil
import smtplib
import tempfile
from pathlib import Path

import pytest

import dovecot_ref
from conftest import need, TMP_BASE


def imap_view(t, user, pw, mailbox="INBOX"):
    """(uidvalidity, uidnext, {uid: (flags set, body bytes)}) as IMAP shows."""
    m = imaplib.IMAP4("127.0.0.1", t.imap_port)
    m.login(user, pw)
    typ, _ = m.select(mailbox, readonly=True)
    assert typ == "OK"
    uidv = int(m.untagged_responses["UIDVALIDITY"][0])
    uidnext = int(m.untagged_responses["UIDNEXT"][0])
    msgs = {}
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0].decode()
        uid = int(re.search(r"UID (\d+)", head).group(1))
        flags = set(re.search(r"FLAGS \(([^)]*)\)", head).group(1).split())
        flags.discard("\\Recent")
        msgs[uid] = (flags, item[1])
    m.logout()
    return uidv, uidnext, msgs


def pop3_uidls(port, user, pw):
    p = poplib.POP3("127.0.0.1", port)
    p.user(user)
    p.pass_(pw)
    _, lines, _ = p.uidl()
    p.quit()
    return [l.decode().split()[1] for l in lines]


MSGS = [b"From: a@example.org\r\nTo: alice@example.org\r\nSubject: one\r\n\r\nfirst\r\n",
        b"From: b@example.org\r\nTo: alice@example.org\r\nSubject: two\r\n\r\nsecond\r\n",
        b"From: c@example.org\r\nTo: alice@example.org\r\nSubject: three\r\n\r\nthird\r\n",
        b"From: d@example.org\r\nTo: alice@example.org\r\nSubject: four\r\n\r\nfourth\r\n"]


def test_import_dovecot_maildir(tandem, test_ca):
    """A Maildir written by Debian's Dovecot: same UIDVALIDITY, UIDs, UIDNEXT,
    flags and keywords over IMAP, same POP3 UIDLs as Dovecot announced."""
    need("imapd")
    need("pop3d")
    if not dovecot_ref.available():
        pytest.skip("Debian's dovecot is not installed")
    root = Path(tempfile.mkdtemp(prefix="dovecot-", dir=TMP_BASE))
    d = dovecot_ref.Dovecot(root, {"alice": "secret"})
    d.start()
    try:
        for body in MSGS:
            l = smtplib.LMTP("127.0.0.1", d.lmtp_port)
            l.sendmail("sender@example.org", ["alice"], body)
            l.quit()
        m = imaplib.IMAP4("127.0.0.1", d.imap_port)
        m.login("alice", "secret")
        m.select("INBOX")
        m.uid("STORE", "1", "+FLAGS", "(\\Seen \\Flagged)")
        m.uid("STORE", "2", "+FLAGS", "(\\Answered $Label1)")
        m.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
        m.expunge()          # UID 3 gone: UIDNEXT stays above the last UID
        # Dovecot's Maildir++ namespace uses "." as its separator.
        m.create("Archive.2026")
        m.append("Archive.2026", "(\\Seen)", None, MSGS[0])
        m.subscribe("Archive.2026")
        m.logout()
        want_inbox = imap_view(d, "alice", "secret")
        want_arch = imap_view(d, "alice", "secret", "Archive.2026")
        want_uidls = pop3_uidls(d.pop3_port, "alice", "secret")
    finally:
        d.stop()
    assert sorted(want_inbox[2]) == [1, 2, 4]

    maildir = d.maildir("alice")
    out = tandem.ctl("import", "maildir", "alice", maildir).stdout.decode()
    assert "INBOX: added 3, already there 0, failed 0" in out
    # The INBOX of the new store was empty: compare exactly.
    got_inbox = imap_view(tandem, "alice", "secret")
    assert got_inbox[0] == want_inbox[0]            # UIDVALIDITY
    assert got_inbox[1] == want_inbox[1]            # UIDNEXT
    assert got_inbox[2] == want_inbox[2]            # UIDs, flags, bytes
    got_arch = imap_view(tandem, "alice", "secret", "Archive/2026")
    assert got_arch[:2] == want_arch[:2] and got_arch[2] == want_arch[2]
    assert pop3_uidls(tandem.pop3_port, "alice", "secret") == want_uidls

    again = tandem.ctl("import", "maildir", "alice", maildir).stdout.decode()
    assert "total: added 0, already there 4, failed 0" in again
    assert imap_view(tandem, "alice", "secret") == got_inbox
    shutil.rmtree(root, ignore_errors=True)


MBOX = (b"From alice@example.org Tue Nov 24 10:00:00 2026\n"
        b"From: alice@example.org\nSubject: quoting\nStatus: RO\nX-Status: AF\n\n"
        b"line one\n>From the start of a line\n>>From deeper\nFrom inside\n\n"
        b"From bob@example.org Tue Nov 24 11:00:00 2026\n"
        b"this message has no header section at all\n\n"
        b"From carol@example.org Tue Nov 24 12:00:00 2026\n"
        b"From: carol@example.org\nSubject: last\nX-Keywords: $Work, Todo\n\n"
        b"body\n\n")


def test_import_mbox(tandem):
    """>From quoting undone, flags from Status/X-Status, a damaged message
    named by number and skipped, the rest imported, idempotent."""
    need("imapd")
    f = tandem.root / "in.mbox"
    f.write_bytes(MBOX)
    f.chmod(0o644)
    cp = tandem.ctl("import", "mbox", "alice", f, check=False)
    assert cp.returncode == 65
    err = cp.stderr.decode()
    assert f"{f}: message 2:" in err and "skipped" in err
    assert "INBOX: added 2, already there 0, failed 1" in cp.stdout.decode()
    _, _, msgs = imap_view(tandem, "alice", "secret")
    bodies = [msgs[u][1] for u in sorted(msgs)]
    assert bodies[0] == (b"From: alice@example.org\r\nSubject: quoting\r\n\r\n"
                         b"line one\r\nFrom the start of a line\r\n>From deeper\r\n"
                         b"From inside\r\n")
    assert bodies[1] == b"From: carol@example.org\r\nSubject: last\r\n\r\nbody\r\n"
    flags = [msgs[u][0] for u in sorted(msgs)]
    assert flags[0] == {"\\Seen", "\\Answered", "\\Flagged"}
    assert flags[1] == {"$Work", "Todo"}
    again = tandem.ctl("import", "mbox", "alice", f, check=False)
    assert "INBOX: added 0, already there 2, failed 1" in again.stdout.decode()


def test_import_courier(tandem):
    """Courier's UIDs and the POP3 UIDLs Courier announced are kept."""
    need("imapd")
    need("pop3d")
    md = tandem.root / "courier"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    names = ["1700000000.M1P1.host", "1700000001.M2P2.host", "1700000002.M3P3.host"]
    (md / "cur" / (names[0] + ":2,S")).write_bytes(MSGS[0])
    (md / "cur" / (names[1] + ":2,RS")).write_bytes(MSGS[1])
    (md / "new" / names[2]).write_bytes(MSGS[2])
    (md / "courierimapuiddb").write_text(
        f"1 1234567 12\n5 {names[0]}:2,S\n7 {names[1]}:2,RS\n11 {names[2]}\n")
    (md / "courierpop3dsizelist").write_text(
        f"/2 12 1234567\n{names[0]}:2,S {len(MSGS[0])} 5:1234567\n"
        f"{names[1]}:2,RS {len(MSGS[1])} 7:1234567\n")
    for p in [md, *md.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    tandem.ctl("import", "courier", "alice", md)
    uidv, uidnext, msgs = imap_view(tandem, "alice", "secret")
    assert (uidv, uidnext) == (1234567, 12)
    assert sorted(msgs) == [5, 7, 11]
    assert msgs[7][0] == {"\\Answered", "\\Seen"} and msgs[11][0] == set()
    uidls = pop3_uidls(tandem.pop3_port, "alice", "secret")
    # Courier announced UIDLs for the first two; the third gets ours.
    assert uidls[:2] == ["UID5-1234567", "UID7-1234567"]
    assert uidls[2] == "%08x%08x" % (11, 1234567)


def test_export_then_import(tandem):
    """export maildir, then import into another user: same UIDs, flags,
    keywords, bytes and UIDVALIDITY."""
    need("imapd")
    for body in MSGS[:3]:
        tandem.deliver("alice", body)
    m = imaplib.IMAP4("127.0.0.1", tandem.imap_port)
    m.login("alice", "secret")
    m.select("INBOX")
    m.uid("STORE", "2", "+FLAGS", "(\\Flagged $Done)")
    m.logout()
    want = imap_view(tandem, "alice", "secret")
    out = tandem.root / "export"
    out.mkdir()
    out.chmod(0o777)     # tandemctl writes as the service user
    tandem.ctl("export", "maildir", "alice", out)
    tandem.ctl("import", "maildir", "bob", out)
    got = imap_view(tandem, "bob", "hunter2")
    assert got == want
