"""Untagged updates to a selected mailbox when others change it (RFC 9051
7.5.1 EXPUNGE, 7.4.1 EXISTS, 7.5.2 FETCH; RFC 7162 VANISHED), with POP3
as the other writer."""
import imaplib
import poplib

import pytest

from conftest import need

MSG = (b"From: a@example.org\r\nSubject: m%d\r\n"
       b"Message-ID: <%d@example.org>\r\n\r\nbody\r\n")


def imap(t, rev2=False, qresync=False):
    need("imapd")
    m = imaplib.IMAP4("127.0.0.1", t.imap_port, timeout=10)
    m.login("alice", "secret")
    if rev2:
        m._simple_command("ENABLE", "IMAP4rev2")
    if qresync:
        m._simple_command("ENABLE", "QRESYNC")
    m.untagged_responses.clear()
    return m


def pop(t):
    need("pop3d")
    p = poplib.POP3("127.0.0.1", t.pop3_port, timeout=10)
    p.user("alice")
    p.pass_("secret")
    return p


def test_expunge_by_other_session(tandem):
    for i in range(3):
        tandem.deliver("alice", MSG % (i, i))
    m = imap(tandem)
    m.select("INBOX")
    p = pop(tandem)
    p.dele(2)
    p.quit()
    m.untagged_responses.clear()
    typ, _ = m.noop()
    assert typ == "OK"
    assert m.untagged_responses.get("EXPUNGE") == [b"2"]
    # MSNs renumbered: message 2 is now the old message 3
    typ, data = m.status("INBOX", "(MESSAGES)")
    assert data[0].endswith(b"(MESSAGES 2)")
    m.logout()


def test_vanished_with_qresync(tandem):
    for i in range(3):
        tandem.deliver("alice", MSG % (i, i))
    m = imap(tandem, rev2=True, qresync=True)
    m.select("INBOX")
    p = pop(tandem)
    p.dele(1)
    p.dele(3)
    p.quit()
    m.untagged_responses.clear()
    m.noop()
    assert "EXPUNGE" not in m.untagged_responses
    assert m.untagged_responses.get("VANISHED") == [b"1,3"]
    m.logout()


def test_flag_change_by_other_session(tandem):
    tandem.deliver("alice", MSG % (1, 1))
    m = imap(tandem)
    m.select("INBOX")
    p = pop(tandem)
    p.retr(1)  # [pop3] keep_seen: RETR sets \Seen
    p.quit()
    m.untagged_responses.clear()
    m.noop()
    fetch = m.untagged_responses.get("FETCH")
    assert fetch and b"\\Seen" in fetch[0] and b"UID 1" in fetch[0], fetch
    m.logout()


def test_new_mail_exists_and_recent(tandem):
    m = imap(tandem)
    m.select("INBOX")
    tandem.deliver("alice", MSG % (1, 1))
    m.untagged_responses.clear()
    m.noop()
    assert m.untagged_responses.get("EXISTS") == [b"1"]
    m.logout()
