"""CONDSTORE and QRESYNC (RFC 7162) against the real daemons: the QRESYNC
round trip of issue 6 (a client resynchronises after changes made through
tandemctl, LMTP, POP3 and other IMAP sessions and gets exactly the
expunged UIDs and the changed/new messages), the known-uids and
UIDVALIDITY rules, the fallback below the expunge-history horizon, and the
CONDSTORE basics (MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE, HIGHESTMODSEQ that
only grows)."""
import os
import poplib
import re
import smtplib
import sqlite3

from conftest import need
from test_imap_fetch import Raw, tagged


def msg(n):
    return (f"From: s{n}@example.org\r\nTo: alice@example.org\r\n"
            f"Subject: q {n}\r\nMessage-ID: <q{n}@test>\r\n\r\n"
            f"body {n}\r\n").encode()


def code_num(lines, code):
    """The number of "[CODE n]" in the replies (untagged or tagged)."""
    for l in lines:
        m = re.search(rb"\[" + code.encode() + rb" (\d+)\]", l)
        if m:
            return int(m.group(1))
    raise AssertionError(f"no [{code}] in {lines}")


def uid_set(text):
    out = set()
    for part in text.split(b","):
        if b":" in part:
            a, b = (int(x) for x in part.split(b":"))
            out.update(range(min(a, b), max(a, b) + 1))
        elif part:
            out.add(int(part))
    return out


def vanished_earlier(lines):
    got = set()
    for l in lines:
        m = re.match(rb"\* VANISHED \(EARLIER\) ([0-9:,]+)\r\n", l)
        if m:
            got |= uid_set(m.group(1))
    return got


def fetches(lines):
    """{uid: (msn, flags set, modseq)} of the untagged FETCH responses."""
    out = {}
    for l in lines:
        m = re.match(rb"\* (\d+) FETCH \((.*)\)\r\n", l)
        if not m:
            continue
        body = m.group(2)
        uid = int(re.search(rb"UID (\d+)", body).group(1))
        fl = re.search(rb"FLAGS \(([^)]*)\)", body)
        ms = re.search(rb"MODSEQ \((\d+)\)", body)
        out[uid] = (int(m.group(1)),
                    set(fl.group(1).split()) if fl else None,
                    int(ms.group(1)) if ms else None)
    return out


def exists(lines):
    for l in lines:
        m = re.match(rb"\* (\d+) EXISTS\r\n", l)
        if m:
            return int(m.group(1))
    raise AssertionError(lines)


def status_hms(r, mbox="INBOX"):
    out = r.cmd(f"STATUS {mbox} (HIGHESTMODSEQ)")
    assert tagged(out) == b"OK", out
    return int(re.search(rb"HIGHESTMODSEQ (\d+)", out[0]).group(1))


def snapshot(t):
    """A QRESYNC client's first visit: UIDVALIDITY, HIGHESTMODSEQ, UIDs."""
    r = Raw(t)
    assert b"* ENABLED QRESYNC\r\n" in r.cmd("ENABLE QRESYNC")
    sel = r.cmd("SELECT INBOX")
    assert tagged(sel) == b"OK"
    assert not any(b"NOMODSEQ" in l for l in sel)
    uv, hms = code_num(sel, "UIDVALIDITY"), code_num(sel, "HIGHESTMODSEQ")
    f = fetches(r.cmd("UID FETCH 1:* (FLAGS)"))
    r.cmd("LOGOUT")
    r.close()
    return uv, hms, f


def make_changes(t):
    """Changes through every path; returns (expunged UIDs, changed UIDs)
    of INBOX. Before: UIDs 1..8, UID 4 \\Seen."""
    # two by tandemctl deliver (UIDs 9, 10), one by LMTP (UID 11)
    t.deliver("alice", msg(9))
    t.deliver("alice", msg(10))
    with smtplib.LMTP("127.0.0.1", t.lmtp_port, timeout=30) as l:
        l.sendmail("s@example.org", ["alice"], msg(11))
    # POP3 deletes q1 and q2 (found by Message-ID, not by position)
    p = poplib.POP3("127.0.0.1", t.pop3_port, timeout=30)
    p.user("alice")
    p.pass_("secret")
    n = p.stat()[0]
    for i in range(1, n + 1):
        head = b"\n".join(p.top(i, 0)[1])
        if b"<q1@test>" in head or b"<q2@test>" in head:
            p.dele(i)
    p.quit()
    # another IMAP session: flags, an unchanged STORE, EXPUNGE, COPY, MOVE
    b = Raw(t)
    assert tagged(b.cmd("CREATE Kept")) == b"OK"
    assert tagged(b.cmd("SELECT INBOX")) == b"OK"
    assert tagged(b.cmd("UID STORE 3 +FLAGS.SILENT (\\Flagged)")) == b"OK"
    assert tagged(b.cmd("UID STORE 5 +FLAGS.SILENT (\\Seen)")) == b"OK"
    assert tagged(b.cmd("UID STORE 4 +FLAGS.SILENT (\\Seen)")) == b"OK"
    assert tagged(b.cmd("UID STORE 6:7 +FLAGS.SILENT (\\Deleted)")) == b"OK"
    assert tagged(b.cmd("EXPUNGE")) == b"OK"
    assert tagged(b.cmd("UID COPY 3 Kept")) == b"OK"
    assert tagged(b.cmd("UID MOVE 8 Kept")) == b"OK"
    assert tagged(b.cmd("UID STORE 10 +FLAGS.SILENT (\\Answered)")) == b"OK"
    b.cmd("LOGOUT")
    b.close()
    return {1, 2, 6, 7, 8}, {3, 5, 9, 10, 11}


def setup_mailbox(t):
    need("imapd")
    for n in range(1, 9):
        t.deliver("alice", msg(n))
    r = Raw(t)
    r.cmd("SELECT INBOX")
    assert tagged(r.cmd("UID STORE 4 +FLAGS.SILENT (\\Seen)")) == b"OK"
    r.close()


def reselect(t, params):
    r = Raw(t)
    r.cmd("ENABLE QRESYNC")
    out = r.cmd(f"SELECT INBOX {params}")
    assert tagged(out) == b"OK", out
    return r, out


def test_capabilities_and_enable(tandem):
    need("imapd")
    r = Raw(tandem, user=None)
    pre = r.cmd("CAPABILITY")
    assert b" QRESYNC" not in pre[0]  # post-auth capabilities
    r.cmd("LOGIN alice secret")
    caps = r.cmd("CAPABILITY")[0].split()
    assert b"CONDSTORE" in caps and b"QRESYNC" in caps and b"ENABLE" in caps
    out = r.cmd("ENABLE QRESYNC")
    assert out[0] == b"* ENABLED QRESYNC\r\n" and tagged(out) == b"OK"
    # already enabled: nothing newly enabled
    out = r.cmd("ENABLE QRESYNC CONDSTORE")
    assert out[0] == b"* ENABLED\r\n", out
    r.close()


def test_qresync_param_needs_enable_and_syntax(tandem):
    need("imapd")
    tandem.deliver("alice", msg(1))
    r = Raw(tandem)
    out = r.cmd("SELECT INBOX (QRESYNC (1 1))")
    assert tagged(out) == b"BAD", out  # RFC 7162 3.2.5: not enabled
    r.cmd("ENABLE QRESYNC")
    st = r.cmd("STATUS INBOX (UIDVALIDITY)")
    uv = int(re.search(rb"UIDVALIDITY (\d+)", st[0]).group(1))
    for bad in ["(QRESYNC (0 1))", f"(QRESYNC ({uv} 0))", f"(QRESYNC ({uv}))",
                f"(QRESYNC ({uv} 1 1:*))", f"(QRESYNC ({uv} 1 1:5 (1:2)))",
                f"(QRESYNC ({uv} x))", "(QRESYNC)", f"(QRESYNC ({uv} 1 1 2))"]:
        assert tagged(r.cmd(f"SELECT INBOX {bad}")) == b"BAD", bad
    # valid forms, with seq-match-data
    out = r.cmd(f"EXAMINE INBOX (QRESYNC ({uv} 1 1:5 (1 1)))")
    assert tagged(out) == b"OK" and b"READ-ONLY" in out[-1]
    out = r.cmd(f"SELECT INBOX (CONDSTORE QRESYNC ({uv} 1))")
    assert tagged(out) == b"OK", out
    r.close()


def test_qresync_round_trip(tandem):
    """Issue 6: reselect after changes from every daemon and path."""
    need("pop3d")
    need("lmtpd")
    setup_mailbox(tandem)
    uv, hms, before = snapshot(tandem)
    assert sorted(before) == list(range(1, 9))
    gone, changed = make_changes(tandem)

    r, out = reselect(tandem, f"(QRESYNC ({uv} {hms} 1:8))")
    assert code_num(out, "UIDVALIDITY") == uv
    new_hms = code_num(out, "HIGHESTMODSEQ")
    assert new_hms > hms
    assert vanished_earlier(out) == gone, out
    f = fetches(out)
    assert set(f) == changed, out
    # the MSNs are those of the new view; flags and modseqs are current
    survivors = sorted((set(range(1, 12)) - gone))
    assert exists(out) == len(survivors)
    for uid, (msn, flags, ms) in f.items():
        assert survivors[msn - 1] == uid
        assert hms < ms <= new_hms
    assert b"\\Flagged" in f[3][1] and b"\\Seen" in f[5][1]
    assert b"\\Answered" in f[10][1]
    # VANISHED (EARLIER) does not renumber: the view has every survivor
    got = fetches(r.cmd("UID FETCH 1:* (UID)"))
    assert sorted(got) == survivors
    # the session goes on with QRESYNC: others' expunges arrive as VANISHED
    o = Raw(tandem)
    o.cmd("SELECT INBOX")
    o.cmd("UID STORE 9 +FLAGS.SILENT (\\Deleted)")
    o.cmd("UID EXPUNGE 9")
    o.close()
    out = r.cmd("NOOP")
    assert b"* VANISHED 9\r\n" in out and not any(b"EXPUNGE" in l for l in out), out
    r.close()


def test_qresync_known_uids_subset_and_none(tandem):
    need("pop3d")
    need("lmtpd")
    setup_mailbox(tandem)
    uv, hms, _ = snapshot(tandem)
    gone, changed = make_changes(tandem)
    # the client knows only 1:4: expunges of 6..8 are not its business;
    # UIDs above 4 are new to it and reported when changed
    r, out = reselect(tandem, f"(QRESYNC ({uv} {hms} 1:4))")
    assert vanished_earlier(out) == {1, 2}
    assert set(fetches(out)) == {3, 5, 9, 10, 11}
    r.close()
    # known-uids with holes: 2,5 not known
    r, out = reselect(tandem, f"(QRESYNC ({uv} {hms} 1,3:4,6:8))")
    assert vanished_earlier(out) == {1, 6, 7, 8}
    assert set(fetches(out)) == {3, 9, 10, 11}
    r.close()
    # no known-uids: every UID
    r, out = reselect(tandem, f"(QRESYNC ({uv} {hms}))")
    assert vanished_earlier(out) == gone
    assert set(fetches(out)) == changed
    r.close()
    # nothing changed since the current HIGHESTMODSEQ
    cur = code_num(out, "HIGHESTMODSEQ")
    r, out = reselect(tandem, f"(QRESYNC ({uv} {cur} 1:20))")
    assert vanished_earlier(out) == set() and fetches(out) == {}
    r.close()


def test_qresync_uidvalidity_mismatch_is_plain_select(tandem):
    need("pop3d")
    need("lmtpd")
    setup_mailbox(tandem)
    uv, hms, _ = snapshot(tandem)
    make_changes(tandem)
    r, out = reselect(tandem, f"(QRESYNC ({uv + 1} {hms} 1:8))")
    assert vanished_earlier(out) == set()
    assert fetches(out) == {}
    assert not any(b"VANISHED" in l for l in out)
    r.close()


def _store_db(t, user):
    return t.data_dir / "mail" / user / "store.db"


def _sql(t, user, *stmts):
    """Runs statements on a user's store while every daemon is stopped,
    keeping the files' owner (daemons may run as another user)."""
    db = _store_db(t, user)
    st = os.stat(db)
    con = sqlite3.connect(str(db), timeout=30)
    try:
        rows = [con.execute(s, a).fetchall() for s, a in stmts]
        con.commit()
    finally:
        con.close()
    for f in db.parent.glob("store.db*"):
        os.chown(f, st.st_uid, st.st_gid)
    return rows


def test_qresync_below_expunge_horizon(tandem):
    """When the expunge history no longer reaches the client's modseq,
    every known UID that is not in the mailbox is reported."""
    need("pop3d")
    need("lmtpd")
    setup_mailbox(tandem)
    uv, hms, _ = snapshot(tandem)
    gone, changed = make_changes(tandem)
    names = [n for n in ("imapd", "pop3d", "lmtpd") if n in tandem.procs]
    for n in names:
        tandem.stop(n)
    # forget the history, as pruning after STORE_EXPUNGE_KEEP_DAYS would
    _sql(tandem, "alice",
         ("UPDATE mailbox SET expunge_horizon = highestmodseq"
          " WHERE name = 'INBOX'", ()),
         ("DELETE FROM expunged WHERE mailbox_id ="
          " (SELECT id FROM mailbox WHERE name = 'INBOX')", ()))
    for n in names:
        tandem.start(n)
    r, out = reselect(tandem, f"(QRESYNC ({uv} {hms} 1:8))")
    assert vanished_earlier(out) == gone, out
    assert set(fetches(out)) == changed
    r.close()
    r, out = reselect(tandem, f"(QRESYNC ({uv} {hms}))")
    assert vanished_earlier(out) == gone, out
    r.close()
    # the history is complete from the horizon on
    cur = code_num(out, "HIGHESTMODSEQ")
    r, out = reselect(tandem, f"(QRESYNC ({uv} {cur} 1:20))")
    assert vanished_earlier(out) == set()
    r.close()


def test_condstore_modseq_changedsince_unchangedsince(tandem):
    need("imapd")
    for n in range(1, 5):
        tandem.deliver("alice", msg(n))
    r = Raw(tandem)
    assert b"* ENABLED CONDSTORE\r\n" in r.cmd("ENABLE CONDSTORE")
    sel = r.cmd("SELECT INBOX")
    assert not any(b"NOMODSEQ" in l for l in sel)
    hms = code_num(sel, "HIGHESTMODSEQ")
    f = fetches(r.cmd("UID FETCH 1:* (MODSEQ)"))
    assert set(f) == {1, 2, 3, 4}
    assert max(v[2] for v in f.values()) == hms
    # CHANGEDSINCE: exactly the changed ones
    r.cmd("UID STORE 2 +FLAGS.SILENT (\\Flagged)")
    r.cmd("UID STORE 4 +FLAGS.SILENT (\\Seen)")
    r.cmd("UID STORE 1 -FLAGS.SILENT (\\Draft)")  # no change: same modseq
    out = r.cmd(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})")
    ch = fetches(out)
    assert set(ch) == {2, 4}, out
    assert all(v[2] > hms for v in ch.values())
    assert fetches(r.cmd("UID FETCH 1 (MODSEQ)"))[1][2] == f[1][2]
    # UNCHANGEDSINCE: message 2 changed after the client's modseq
    out = r.cmd(f"UID STORE 1:3 (UNCHANGEDSINCE {hms}) +FLAGS (\\Answered)")
    assert tagged(out) == b"OK" and b"[MODIFIED 2]" in out[-1], out
    st = fetches(out)
    assert 2 not in st or b"\\Answered" not in st[2][1]
    now = fetches(r.cmd("UID FETCH 1:3 (FLAGS)"))
    assert b"\\Answered" in now[1][1] and b"\\Answered" in now[3][1]
    assert b"\\Answered" not in now[2][1]
    r.close()


def test_highestmodseq_grows_on_every_change(tandem):
    need("imapd")
    need("pop3d")
    need("lmtpd")
    for n in range(1, 4):
        tandem.deliver("alice", msg(n))
    w = Raw(tandem)  # the watcher: STATUS only, nothing selected
    w.cmd("ENABLE CONDSTORE")
    a = Raw(tandem)
    a.cmd("ENABLE QRESYNC")
    a.cmd("CREATE Other")
    a.cmd("SELECT INBOX")
    seen = [status_hms(w)]
    seen_other = [status_hms(w, "Other")]

    def changed(mbox_list=seen, mbox="INBOX"):
        v = status_hms(w, mbox)
        assert v > mbox_list[-1], (mbox, mbox_list, v)
        mbox_list.append(v)

    def unchanged():
        assert status_hms(w) == seen[-1]

    tandem.deliver("alice", msg(4))
    changed()
    with smtplib.LMTP("127.0.0.1", tandem.lmtp_port, timeout=30) as l:
        l.sendmail("s@example.org", ["alice"], msg(5))
    changed()
    a.cmd("UID STORE 1 +FLAGS.SILENT (\\Flagged)")
    changed()
    a.cmd("UID STORE 1 +FLAGS.SILENT (\\Flagged)")  # no change
    unchanged()
    a.cmd("UID STORE 2 +FLAGS.SILENT (\\Deleted)")
    changed()
    out = a.cmd("EXPUNGE")
    # RFC 7162 with QRESYNC: the tagged OK of EXPUNGE carries HIGHESTMODSEQ
    assert b"* VANISHED 2\r\n" in out
    assert code_num(out[-1:], "HIGHESTMODSEQ") == status_hms(w)
    changed()
    a.cmd("UID COPY 1 Other")
    changed(seen_other, "Other")
    unchanged()  # copying out does not change the source
    a.cmd("UID MOVE 3 Other")
    changed()
    changed(seen_other, "Other")
    a.cmd("UID FETCH 4 BODY[]")  # implicit \Seen is a flag change
    changed()
    a.cmd("UID FETCH 4 BODY.PEEK[]")
    unchanged()
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    p.user("alice")
    p.pass_("secret")
    p.retr(1)
    p.dele(1)
    p.quit()
    changed()
    # a restart of every daemon keeps it where it was
    for n in ("imapd", "pop3d", "lmtpd"):
        tandem.restart(n)
    w2 = Raw(tandem)
    assert status_hms(w2) == seen[-1]
    assert status_hms(w2, "Other") == seen_other[-1]
    w2.close()
    a.close()
    w.close()
