"""IMAP mailbox commands against the real tandem-imapd: SELECT/EXAMINE,
LIST (LIST-EXTENDED, SPECIAL-USE, STATUS, wildcards, mUTF-7/UTF-8), LSUB,
CREATE, DELETE, RENAME (INBOX rule), SUBSCRIBE, STATUS, CLOSE, UNSELECT,
CHECK, updates while selected; rev1 and rev2."""
import imaplib
import re
import shutil
import subprocess

import pytest

from conftest import need

MSG = (b"From: a@example.org\r\nTo: alice@example.org\r\n"
       b"Subject: hello\r\nMessage-ID: <%d@example.org>\r\n\r\nbody\r\n")


def login(t, user="alice", pw="secret", rev2=False):
    need("imapd")
    m = imaplib.IMAP4("127.0.0.1", t.imap_port, timeout=10)
    m.login(user, pw)
    if rev2:
        typ, _ = m._simple_command("ENABLE", "IMAP4rev2")
        assert typ == "OK"
        assert m.untagged_responses.pop("ENABLED") == [b"IMAP4rev2"]
    return m


def lines(m, name):
    return m.untagged_responses.pop(name, [])


def list_names(data):
    out = {}
    for d in data:
        if d is None:
            continue
        if isinstance(d, tuple):  # literal
            d = d[0] + d[1]
        mm = re.match(rb'\(([^)]*)\) "(.)" (.*)$', d)
        assert mm, d
        name = mm.group(3)
        if name.startswith(b'"'):
            name = name[1:-1]
        out[name.decode()] = set(mm.group(1).decode().split())
    return out


@pytest.mark.parametrize("rev2", [False, True])
def test_select_inbox(tandem, rev2):
    for i in range(3):
        tandem.deliver("alice", MSG % i)
    m = login(tandem, rev2=rev2)
    typ, data = m.select("INBOX")
    assert typ == "OK"
    assert data == [b"3"]
    assert lines(m, "FLAGS")[0].startswith(b"(\\Answered")
    ok = b" ".join(lines(m, "OK"))
    assert b"UIDVALIDITY" in ok and b"UIDNEXT 4" in ok
    assert b"PERMANENTFLAGS" in ok and b"HIGHESTMODSEQ" in ok
    recent = lines(m, "RECENT")
    if rev2:
        assert recent == []
        assert b"UNSEEN" not in ok
    else:
        assert recent == [b"3"]
        assert b"UNSEEN 1" in ok
    m.logout()


def test_select_readwrite_examine_readonly(tandem):
    need("imapd")
    import socket
    s = socket.create_connection(("127.0.0.1", tandem.imap_port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a LOGIN alice secret\r\nb SELECT INBOX\r\n"
              b"c EXAMINE INBOX\r\nd SELECT nosuch\r\ne CLOSE\r\n"
              b"f LOGOUT\r\n")
    out = f.read().decode().split("\r\n")
    tagged = {l.split(" ")[0]: l for l in out if l and l[0] != "*"}
    assert tagged["b"].startswith("b OK [READ-WRITE]")
    assert tagged["c"].startswith("c OK [READ-ONLY]")
    assert any(l.startswith("* OK [CLOSED]") for l in out)
    assert tagged["d"].startswith("d NO [NONEXISTENT]")
    # the failed SELECT left no mailbox selected
    assert tagged["e"].startswith("e BAD")
    s.close()


def test_recent_claimed_once(tandem):
    tandem.deliver("alice", MSG % 1)
    m1 = login(tandem)
    m1.select("INBOX")
    assert lines(m1, "RECENT") == [b"1"]
    m2 = login(tandem)
    m2.select("INBOX")
    assert lines(m2, "RECENT") == [b"0"]
    # EXAMINE does not claim
    tandem.deliver("alice", MSG % 2)
    m3 = login(tandem)
    m3.select("INBOX", readonly=True)
    assert lines(m3, "RECENT") == [b"1"]
    for m in (m1, m2, m3):
        m.logout()


def test_new_mail_shows_after_noop(tandem):
    m = login(tandem)
    m.select("INBOX")
    assert lines(m, "EXISTS") == [b"0"]
    tandem.deliver("alice", MSG % 1)
    tandem.deliver("alice", MSG % 2)
    typ, _ = m.noop()
    assert typ == "OK"
    assert lines(m, "EXISTS")[-1] == b"2"
    m.logout()


@pytest.mark.parametrize("rev2", [False, True])
def test_list_default_mailboxes(tandem, rev2):
    m = login(tandem, rev2=rev2)
    typ, data = m.list('""', "*")
    assert typ == "OK"
    names = list_names(data)
    assert set(names) >= {"INBOX", "Drafts", "Sent", "Trash", "Junk",
                          "Archive"}
    assert "\\Sent" in names["Sent"]
    assert "\\Drafts" in names["Drafts"]
    assert "\\HasNoChildren" in names["INBOX"]
    # INBOX comes first
    assert data[0].endswith(b"INBOX")
    m.logout()


def test_list_wildcards_and_children(tandem):
    m = login(tandem)
    for name in ("work", "work/a", "work/a/deep", "work/b", "play"):
        typ, _ = m.create(name)
        assert typ == "OK", name
    names = list_names(m.list('""', "%")[1])
    assert "work" in names and "work/a" not in names
    assert "\\HasChildren" in names["work"]
    assert "\\HasNoChildren" in names["play"]
    names = list_names(m.list('""', "work/%")[1])
    assert set(names) == {"work/a", "work/b"}
    names = list_names(m.list('""', "work/*")[1])
    assert set(names) == {"work/a", "work/a/deep", "work/b"}
    names = list_names(m.list("work/", "%")[1])
    assert set(names) == {"work/a", "work/b"}
    names = list_names(m.list('""', "inbox")[1])
    assert set(names) == {"INBOX"}
    # delimiter query
    typ, data = m.list('""', '""')
    assert data == [b'(\\Noselect) "/" ""']
    m.logout()


def test_list_extended(tandem):
    m = login(tandem)
    m.create("a")
    m.create("a/b")
    m.subscribe("a/b")
    m.subscribe("gone")
    typ, data = m._simple_command("LIST", "(SUBSCRIBED)", '""', "*")
    assert typ == "OK"
    names = list_names(lines(m, "LIST"))
    assert "a/b" in names and "\\Subscribed" in names["a/b"]
    assert "\\NonExistent" in names["gone"]
    assert "a" not in names
    typ, data = m._simple_command("LIST", "(SUBSCRIBED RECURSIVEMATCH)",
                                  '""', "%")
    got = lines(m, "LIST")
    assert any(b'"a" ("CHILDINFO" ("SUBSCRIBED"))' in x or
               b' a ("CHILDINFO" ("SUBSCRIBED"))' in x for x in got), got
    typ, data = m._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
    names = list_names(lines(m, "LIST"))
    assert set(names) == {"Drafts", "Sent", "Trash", "Junk", "Archive"}
    typ, data = m._simple_command("LIST", '""', "(INBOX Sent)", "RETURN",
                                  "(SPECIAL-USE STATUS (MESSAGES UNSEEN))")
    assert typ == "OK"
    assert set(list_names(lines(m, "LIST"))) == {"INBOX", "Sent"}
    st = lines(m, "STATUS")
    assert any(x.startswith(b"INBOX (MESSAGES 0 UNSEEN 0)") for x in st), st
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        m._simple_command("LIST", "(BOGUS)", '""', "*")
    m.logout()


def test_lsub(tandem):
    m = login(tandem)
    m.create("x/y")
    m.subscribe("x/y")
    typ, data = m.lsub('""', "*")
    assert typ == "OK"
    assert any(d.endswith(b"x/y") for d in data), data
    m.unsubscribe("x/y")
    typ, data = m.lsub('""', "*")
    assert not any(d and d.endswith(b"x/y") for d in data)
    m.logout()


def test_lsub_percent_unsubscribed_parent_is_noselect(tandem):
    """RFC 3501 6.3.9: with "foo/bar" subscribed and "foo" not, LSUB "%"
    returns foo flagged \\Noselect (and not foo/bar); "*" returns foo/bar
    only."""
    m = login(tandem)
    base = set(list_names(m.lsub('""', "*")[1]))   # INBOX, by default
    for name in ("foo", "foo/bar", "foo/bar/deep", "qux", "sub"):
        assert m.create(name)[0] == "OK"
    m.subscribe("foo/bar/deep")
    m.subscribe("sub")
    m.subscribe("ghost/child")      # subscribed, neither exists
    typ, data = m.lsub('""', "%")
    assert typ == "OK"
    got = list_names(data)
    assert set(got) - base == {"foo", "sub", "ghost"}, got
    assert "\\Noselect" in got["foo"]
    assert "\\Noselect" in got["ghost"]
    assert "\\Noselect" not in got["sub"]
    typ, data = m.lsub('""', "foo/%")
    assert set(list_names(data)) == {"foo/bar"}
    assert "\\Noselect" in list_names(data)["foo/bar"]
    typ, data = m.lsub('""', "*")
    got = list_names(data)
    assert set(got) - base == {"foo/bar/deep", "sub", "ghost/child"}, got
    assert "\\Noselect" not in got["foo/bar/deep"]
    # once the parent is subscribed it is listed as itself
    m.subscribe("foo")
    got = list_names(m.lsub('""', "%")[1])
    assert "\\Noselect" not in got["foo"]
    m.logout()


def test_mailbox_names_utf7_and_utf8(tandem):
    m = login(tandem)
    # rev1: modified UTF-7 on the wire
    typ, _ = m.create("Caf&AOk-")
    assert typ == "OK"
    names = list_names(m.list('""', "*")[1])
    assert "Caf&AOk-" in names
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        m.create("bad&name")
    m.logout()
    # rev2: UTF-8 on the wire
    m = login(tandem, rev2=True)
    typ, data = m.list('""', "Caf*")
    assert any("Café".encode() in d for d in data), data
    m.logout()


def test_create_delete_rename(tandem):
    m = login(tandem)
    assert m.create("p/q")[0] == "OK"
    typ, data = m.create("p/q")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    typ, data = m.delete("nosuch")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = m.delete("INBOX")
    assert typ == "NO"
    assert m.rename("p", "r")[0] == "OK"
    names = list_names(m.list('""', "*")[1])
    assert "r/q" in names and "p" not in names and "p/q" not in names
    assert m.delete("r/q")[0] == "OK"
    assert m.delete("r")[0] == "OK"
    m.logout()


def test_create_special_use(tandem):
    m = login(tandem)
    typ, data = m._simple_command("CREATE", "MySent", "(USE (\\Sent))")
    assert typ == "OK"
    names = list_names(m.list('""', "MySent")[1])
    assert "\\Sent" in names["MySent"]
    m.logout()


def test_rename_inbox_moves_messages(tandem):
    tandem.deliver("alice", MSG % 1)
    tandem.deliver("alice", MSG % 2)
    m = login(tandem)
    assert m.rename("INBOX", "Old")[0] == "OK"
    typ, data = m.status("INBOX", "(MESSAGES)")
    assert data[0].endswith(b"(MESSAGES 0)")
    typ, data = m.status("Old", "(MESSAGES)")
    assert data[0].endswith(b"(MESSAGES 2)")
    m.logout()


def test_status(tandem):
    tandem.deliver("alice", MSG % 1)
    m = login(tandem)
    typ, data = m.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN "
                                  "DELETED SIZE RECENT HIGHESTMODSEQ)")
    assert typ == "OK"
    d = data[0].decode()
    assert "MESSAGES 1" in d and "UIDNEXT 2" in d and "UNSEEN 1" in d
    assert "DELETED 0" in d and re.search(r"SIZE \d+", d)
    typ, data = m.status("nosuch", "(MESSAGES)")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        m.status("INBOX", "(BOGUS)")
    m.logout()


def test_close_expunges_deleted_unselect_does_not(tandem):
    for i in range(3):
        tandem.deliver("alice", MSG % i)
    m = login(tandem)
    m.select("INBOX")
    typ, _ = m._simple_command("UNSELECT")
    m.state = "AUTH"
    assert typ == "OK"
    m.select("INBOX")
    typ, _ = m.close()
    assert typ == "OK"
    assert m.status("INBOX", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 3)")
    # \Deleted on message 1: UNSELECT and EXAMINE+CLOSE keep it, CLOSE
    # after SELECT expunges it without untagged EXPUNGE
    m.select("INBOX")
    assert m.store("1", "+FLAGS", "(\\Deleted)")[0] == "OK"
    m._simple_command("UNSELECT")
    m.state = "AUTH"
    assert m.status("INBOX", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 3)")
    m.select("INBOX", readonly=True)
    m.close()
    assert m.status("INBOX", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 3)")
    m.select("INBOX")
    m.untagged_responses.clear()
    typ, _ = m.close()
    assert typ == "OK"
    assert "EXPUNGE" not in m.untagged_responses
    assert m.status("INBOX", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 2)")
    m.logout()


def test_check_rev1_only(tandem):
    m = login(tandem)
    m.select("INBOX")
    assert m.check()[0] == "OK"
    m.logout()
    m = login(tandem, rev2=True)
    m.select("INBOX")
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        m.check()
    m.logout()


def test_deleted_selected_mailbox_by_other_session(tandem):
    m1 = login(tandem)
    m1.create("tmp")
    m1.select("tmp")
    m2 = login(tandem)
    assert m2.delete("tmp")[0] == "OK"
    try:
        m1.noop()
    except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError):
        pass
    else:
        assert "BYE" in m1.untagged_responses
    m2.logout()


def test_curl_list_and_select(tandem):
    need("curl")
    need("imapd")
    tandem.deliver("alice", MSG % 1)
    base = f"imap://127.0.0.1:{tandem.imap_port}/"
    cp = subprocess.run(["curl", "-s", "--max-time", "20", "-u",
                         "alice:secret", base], capture_output=True)
    assert cp.returncode == 0, cp.stderr
    assert b"INBOX" in cp.stdout and b"Sent" in cp.stdout
    cp = subprocess.run(["curl", "-s", "--max-time", "20", "-u",
                         "alice:secret", base + "INBOX", "-X",
                         "EXAMINE INBOX"], capture_output=True)
    assert cp.returncode == 0, cp.stderr
    assert b"1 EXISTS" in cp.stdout
