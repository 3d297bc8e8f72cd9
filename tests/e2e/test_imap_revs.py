"""Every IMAP command in both revisions, with imaplib against the real
tandem-imapd: IMAP4rev1 (RFC 3501) when the client does nothing, IMAP4rev2
(RFC 9051) after ENABLE IMAP4rev2. Each scenario runs once per revision
and checks what differs: SEARCH vs ESEARCH, RECENT and [UNSEEN] only in
rev1, the LIST response of SELECT in rev2, \\Recent in FETCH FLAGS only in
rev1, modified UTF-7 vs UTF-8 mailbox names, CHECK and STATUS RECENT only
in rev1. Commands that come before ENABLE can (STARTTLS, LOGIN,
AUTHENTICATE) are revision-free and live in test_imap_basic.py."""
import imaplib
import re

import pytest

from conftest import need

REV = pytest.mark.parametrize("rev", [1, 2], ids=["rev1", "rev2"])
for _name in ("ID", "MOVE", "UNSELECT", "ENABLE"):
    imaplib.Commands.setdefault(_name, ("NONAUTH", "AUTH", "SELECTED"))


def msg(i, subject=None):
    return (f"From: sender{i}@example.org\r\nTo: alice@example.org\r\n"
            f"Subject: {subject or f'message {i}'}\r\n"
            f"Message-ID: <{i}@example.org>\r\n\r\nbody {i}\r\n").encode()


def connect(t, rev):
    need("imapd")
    m = imaplib.IMAP4("127.0.0.1", t.imap_port, timeout=20)
    typ, _ = m.login("alice", "secret")
    assert typ == "OK"
    if rev == 2:
        typ, _ = m._simple_command("ENABLE", "IMAP4rev2")
        assert typ == "OK"
        assert m.untagged_responses.pop("ENABLED") == [b"IMAP4rev2"]
    return m


def pop(m, name):
    return m.untagged_responses.pop(name, [])


def cmd(m, name, *args):
    """A command whose tagged reply is returned (OK/NO) or raised (BAD)."""
    typ, data = m._simple_command(name, *args)
    return typ, data


def select(m, box="INBOX", readonly=False):
    for k in list(m.untagged_responses):
        m.untagged_responses.pop(k)
    typ, data = m._simple_command("EXAMINE" if readonly else "SELECT", box)
    assert typ == "OK", data
    m.state = "SELECTED"
    return data


def search_result(m, rev, uid=False):
    """The numbers of the last SEARCH, checking the reply form."""
    if rev == 1:
        assert not pop(m, "ESEARCH")
        data = pop(m, "SEARCH")
        assert len(data) == 1
        return [int(x) for x in data[0].split()]
    assert not pop(m, "SEARCH")
    data = pop(m, "ESEARCH")
    assert len(data) == 1
    mm = re.match(rb'\(TAG "[^"]+"\)( UID)?(?: ALL ([\d:,]+))?$', data[0])
    assert mm, data
    assert bool(mm.group(1)) == uid
    nums = []
    for part in (mm.group(2) or b"").split(b","):
        if part:
            a, _, b = part.partition(b":")
            nums += range(int(a), int(b or a) + 1)
    return nums


@REV
def test_capability_noop_id_logout(tandem, rev):
    m = connect(tandem, rev)
    typ, data = m.capability()
    caps = data[0].split()
    assert b"IMAP4rev1" in caps and b"IMAP4rev2" in caps
    assert cmd(m, "NOOP")[0] == "OK"
    typ, _ = cmd(m, "ID", "NIL")
    assert typ == "OK" and b"Tandem" in pop(m, "ID")[0]
    typ, data = m.logout()
    assert typ == "BYE"


@REV
def test_enable(tandem, rev):
    m = connect(tandem, rev)
    # already enabled (rev2) or enabled now (rev1): ENABLED lists only
    # what this command newly enabled (RFC 5161 3.1)
    typ, _ = cmd(m, "ENABLE", "IMAP4rev2", "X-UNKNOWN")
    assert typ == "OK"
    got = pop(m, "ENABLED")
    assert got == [b"IMAP4rev2"] if rev == 1 else got in ([b""], [])
    select(m)
    # RFC 5161 3.1 / RFC 9051 6.3.1: only valid in the authenticated state
    m.state = "AUTH"        # imaplib's own state check would refuse
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        cmd(m, "ENABLE", "CONDSTORE")
    m.state = "SELECTED"
    assert cmd(m, "UNSELECT")[0] == "OK"
    m.state = "AUTH"
    typ, _ = cmd(m, "ENABLE", "CONDSTORE")
    assert typ == "OK" and pop(m, "ENABLED") == [b"CONDSTORE"]
    m.logout()


@REV
def test_select_examine(tandem, rev):
    tandem.deliver("alice", msg(1))
    tandem.deliver("alice", msg(2))
    m = connect(tandem, rev)
    data = select(m)
    assert data == [b"READ-WRITE"] or data[0] is not None
    assert pop(m, "EXISTS") == [b"2"]
    ok = b" ".join(pop(m, "OK"))
    assert b"[UIDVALIDITY " in ok and b"[UIDNEXT 3]" in ok
    assert b"[PERMANENTFLAGS (" in ok
    recent = pop(m, "RECENT")
    lst = pop(m, "LIST")
    if rev == 1:
        assert recent == [b"2"]
        assert b"[UNSEEN 1]" in ok
        assert lst == []
    else:
        # RFC 9051 6.3.2: no RECENT, no UNSEEN; a LIST response
        assert recent == [] and b"UNSEEN" not in ok
        assert lst == [b'() "/" INBOX']
    pop(m, "READ-WRITE")
    select(m, "INBOX", readonly=True)
    ok = b" ".join(pop(m, "OK"))
    assert b"[CLOSED]" in ok and b"[PERMANENTFLAGS ()]" in ok
    assert pop(m, "READ-ONLY")
    # the rev1 SELECT claimed \Recent: EXAMINE shows none now
    assert pop(m, "RECENT") == ([b"0"] if rev == 1 else [])
    if rev == 2:
        select(m, "Sent")
        assert pop(m, "LIST") == [b'(\\Sent) "/" Sent']
    m.logout()


def names(m):
    typ, data = m.list('""', "*")
    assert typ == "OK"
    return [d.split(b' "/" ', 1)[1] for d in data]


@REV
def test_create_rename_delete_names(tandem, rev):
    """RFC 3501 5.1.3 modified UTF-7 (rev1) vs RFC 9051 5.1 UTF-8 (rev2)."""
    m = connect(tandem, rev)
    if rev == 1:
        cafe, the = "Caf&AOk-", "Th&AOk-"
    else:
        cafe, the = '"Caf\u00e9"', '"Th\u00e9"'

    def sub(q):
        return q[:-1] + '/Sub"' if q.endswith('"') else q + "/Sub"
    assert cmd(m, "CREATE", sub(cafe).encode())[0] == "OK"
    got = names(m)
    assert cafe.encode() in got and sub(cafe).encode() in got
    if rev == 1:
        # raw UTF-8 is not a valid rev1 mailbox name
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            cmd(m, "CREATE", '"Cr\u00e8me"'.encode())
    typ, data = cmd(m, "CREATE", cafe.encode())
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]
    assert cmd(m, "RENAME", cafe.encode(), the.encode())[0] == "OK"
    got = names(m)
    assert the.encode() in got and sub(the).encode() in got
    assert cafe.encode() not in got
    assert cmd(m, "DELETE", sub(the).encode())[0] == "OK"
    assert cmd(m, "DELETE", the.encode())[0] == "OK"
    assert the.encode() not in names(m)
    typ, data = cmd(m, "DELETE", "NoSuchBox")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    m.logout()


@REV
def test_subscribe_list_lsub(tandem, rev):
    m = connect(tandem, rev)
    cmd(m, "CREATE", "Proj/A")
    cmd(m, "CREATE", "Proj/B")
    assert m.subscribe("Proj/A")[0] == "OK"
    # LIST-EXTENDED (RFC 5258): selection and return options
    typ, data = m._simple_command("LIST", "(SUBSCRIBED)", '""', "Proj/*",
                                  "RETURN", "(CHILDREN)")
    assert typ == "OK"
    got = pop(m, "LIST")
    assert got == [b'(\\Subscribed \\HasNoChildren) "/" Proj/A'], got
    typ, _ = m._simple_command("LIST", '""', "%", "RETURN",
                               "(SPECIAL-USE STATUS (MESSAGES))")
    got = pop(m, "LIST")
    assert b'(\\HasChildren) "/" Proj' in got
    assert b'(\\HasNoChildren \\Trash) "/" Trash' in got
    assert any(s.startswith(b"Proj (MESSAGES 0)") for s in pop(m, "STATUS"))
    typ, data = m.lsub('""', "Proj/%")
    assert data == [b'() "/" Proj/A']
    typ, data = m.lsub('""', "%")
    assert b'(\\Noselect) "/" Proj' in data
    assert m.unsubscribe("Proj/A")[0] == "OK"
    typ, data = m.lsub('""', "Proj/*")
    assert data == [None]
    typ, data = m.namespace()
    assert data == [b'(("" "/")) NIL NIL']
    m.logout()


@REV
def test_status(tandem, rev):
    tandem.deliver("alice", msg(1))
    m = connect(tandem, rev)
    typ, data = m.status("INBOX",
                         "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE)")
    assert typ == "OK"
    assert re.match(rb"INBOX \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ "
                    rb"UNSEEN 1 DELETED 0 SIZE %d\)" % len(msg(1)), data[0])
    if rev == 1:
        typ, data = m.status("INBOX", "(RECENT)")
        assert data == [b"INBOX (RECENT 1)"]
    else:
        # RFC 9051 6.3.11: RECENT is no status-att of IMAP4rev2
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            m.status("INBOX", "(RECENT)")
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            m._simple_command("LIST", '""', "INBOX", "RETURN",
                              "(STATUS (RECENT))")
    m.logout()


@REV
def test_append(tandem, rev):
    m = connect(tandem, rev)
    typ, data = m.append("INBOX", r"(\Flagged)",
                         imaplib.Time2Internaldate(1700000000), msg(7))
    assert typ == "OK"
    assert re.search(rb"\[APPENDUID \d+ 1\]", data[0])
    typ, data = m.append("NoSuch", None, None, msg(8))
    assert typ == "NO" and b"[TRYCREATE]" in data[0]
    select(m)
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert data[0][1] == msg(7)
    assert b"\\Flagged" in data[0][0] and b"14-Nov-2023" in data[0][0]
    m.logout()


@REV
def test_idle(tandem, rev):
    m = connect(tandem, rev)
    select(m)
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    assert m.readline().startswith(b"+")
    tandem.deliver("alice", msg(1))
    got = []
    while b"EXISTS" not in b"".join(got):
        got.append(m.readline())
    m.send(b"DONE\r\n")
    while not got[-1].startswith(tag):
        got.append(m.readline())
    lines = b"".join(got)
    assert got[-1].startswith(tag + b" OK")
    assert b"* 1 EXISTS\r\n" in lines
    if rev == 2:
        assert b"RECENT" not in lines
    m.logout()


@REV
def test_check_expunge_close_unselect(tandem, rev):
    for i in range(1, 5):
        tandem.deliver("alice", msg(i))
    m = connect(tandem, rev)
    select(m)
    if rev == 1:
        assert cmd(m, "CHECK")[0] == "OK"
    else:
        # RFC 9051 E.: CHECK was removed from IMAP4rev2
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            cmd(m, "CHECK")
    m.store("1", "+FLAGS.SILENT", r"(\Deleted)")
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"1"]
    m.store("1:2", "+FLAGS.SILENT", r"(\Deleted)")
    typ, data = cmd(m, "UID", "EXPUNGE", "3")  # UID 3 is MSN 2
    assert typ == "OK" and pop(m, "EXPUNGE") == [b"2"]
    typ, _ = cmd(m, "UNSELECT")
    assert typ == "OK"
    m.state = "AUTH"
    select(m)
    assert pop(m, "EXISTS") == [b"2"]       # UID 2 (\Deleted) and 4
    typ, _ = m.close()
    assert typ == "OK" and not pop(m, "EXPUNGE")   # silent
    typ, data = m.status("INBOX", "(MESSAGES)")
    assert data == [b"INBOX (MESSAGES 1)"]
    m.logout()


@REV
def test_search(tandem, rev):
    for i in range(1, 4):
        tandem.deliver("alice", msg(i, "apple" if i != 2 else "pear"))
    m = connect(tandem, rev)
    select(m)
    typ, _ = cmd(m, "SEARCH", "SUBJECT", "apple")
    assert typ == "OK" and search_result(m, rev) == [1, 3]
    typ, _ = cmd(m, "UID", "SEARCH", "SUBJECT", "pear")
    assert typ == "OK" and search_result(m, rev, uid=True) == [2]
    typ, _ = cmd(m, "SEARCH", "SUBJECT", "plum")
    assert typ == "OK" and search_result(m, rev) == []
    typ, _ = cmd(m, "SEARCH", "CHARSET", "UTF-8", "ALL")
    assert search_result(m, rev) == [1, 2, 3]
    # an explicit RETURN gets ESEARCH in both revisions
    typ, _ = cmd(m, "SEARCH", "RETURN", "(COUNT)", "ALL")
    assert pop(m, "ESEARCH")[0].endswith(b"COUNT 3")
    # RECENT is a rev1 key; in rev2 nothing is recent
    typ, _ = cmd(m, "SEARCH", "RECENT")
    assert typ == "OK" and search_result(m, rev) == \
        ([1, 2, 3] if rev == 1 else [])
    m.logout()


@REV
def test_fetch_store(tandem, rev):
    tandem.deliver("alice", msg(1))
    m = connect(tandem, rev)
    select(m)
    typ, data = m.fetch("1", "(FLAGS RFC822.SIZE UID ENVELOPE)")
    assert typ == "OK"
    meta = data[0]
    assert b"UID 1" in meta and f"RFC822.SIZE {len(msg(1))}".encode() in meta
    # \Recent exists only in IMAP4rev1 (RFC 9051 E.)
    assert (b"\\Recent" in meta) == (rev == 1)
    typ, data = m.fetch("1", "(BODY[])")
    assert data[0][1] == msg(1)
    assert b"\\Seen" in b" ".join(
        d if isinstance(d, bytes) else d[0] for d in data) or \
        b"\\Seen" in m.fetch("1", "(FLAGS)")[1][0]
    typ, data = m.uid("FETCH", "1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert data[0][1] == b"Subject: message 1\r\n\r\n"
    typ, data = m.store("1", "+FLAGS", r"(\Flagged $Work)")
    assert typ == "OK"
    assert b"\\Flagged" in data[0] and b"$Work" in data[0]
    assert (b"\\Recent" in data[0]) == (rev == 1)
    typ, data = m.uid("STORE", "1", "-FLAGS", r"(\Flagged)")
    assert typ == "OK" and b"\\Flagged" not in data[0]
    m.logout()


@REV
def test_copy_move(tandem, rev):
    for i in range(1, 4):
        tandem.deliver("alice", msg(i))
    m = connect(tandem, rev)
    cmd(m, "CREATE", "Dest")
    select(m)
    typ, data = m.copy("1:2", "Dest")
    assert typ == "OK" and re.search(rb"\[COPYUID \d+ 1:2 1:2\]", data[0])
    typ, data = cmd(m, "UID", "COPY", "3", "Dest")
    assert typ == "OK" and re.search(rb"\[COPYUID \d+ 3 3\]", data[0])
    typ, data = m.copy("1", "Nope")
    assert typ == "NO" and b"[TRYCREATE]" in data[0]
    typ, data = m._simple_command("MOVE", "1", "Dest")
    assert typ == "OK"
    assert pop(m, "EXPUNGE") == [b"1"]
    typ, data = cmd(m, "UID", "MOVE", "3", "Dest")
    assert typ == "OK" and pop(m, "EXPUNGE") == [b"2"]
    typ, data = m.status("Dest", "(MESSAGES)")
    assert data == [b"Dest (MESSAGES 5)"]
    m.logout()
