"""Delivery while the same user has IMAP and POP3 sessions open: each sees
the new message at the point its protocol defines."""
import imaplib
import poplib
import socket

import pytest


def lmtp_deliver(t, rcpt, body):
    s = socket.create_connection(("127.0.0.1", t.lmtp_port))
    s.settimeout(30)
    f = s.makefile("rb")

    def reply():
        while True:
            ln = f.readline()
            if ln[3:4] != b"-":
                return int(ln[:3])

    assert reply() == 220
    s.sendall(b"LHLO mx.test\r\nMAIL FROM:<s@example.net>\r\n"
              b"RCPT TO:<%s>\r\nDATA\r\n" % rcpt.encode())
    assert [reply() for _ in range(4)] == [250, 250, 250, 354]
    s.sendall(body + b".\r\nQUIT\r\n")
    assert reply() == 250
    assert reply() == 221
    s.close()


def test_pop3_sees_delivery_at_next_login(tandem):
    t = tandem
    p = poplib.POP3("127.0.0.1", t.pop3_port, timeout=30)
    p.user("alice")
    p.pass_("secret")
    assert p.stat()[0] == 0
    # Delivery succeeds while the maildrop is locked by this session.
    lmtp_deliver(t, "alice@example.org", b"Subject: during pop3\r\n\r\nx\r\n")
    # RFC 1939: the maildrop is fixed for the session; the new message
    # is not in it.
    assert p.stat()[0] == 0
    assert len(p.list()[1]) == 0
    p.quit()
    p = poplib.POP3("127.0.0.1", t.pop3_port, timeout=30)
    p.user("alice")
    p.pass_("secret")
    assert p.stat()[0] == 1
    assert b"Subject: during pop3" in b"\r\n".join(p.retr(1)[1])
    p.quit()


def test_imap_sees_delivery_on_noop(tandem):
    t = tandem
    if "imapd" not in t.procs:
        pytest.skip("tandem-imapd is not built yet")
    m = imaplib.IMAP4("127.0.0.1", t.imap_port, timeout=30)
    m.login("alice", "secret")
    typ, data = m.select("INBOX")
    assert typ == "OK" and data[0] == b"0"
    lmtp_deliver(t, "alice@example.org", b"Subject: during imap\r\n\r\ny\r\n")
    # RFC 9051 7.4.1 / 6.1.2: NOOP reports the new size (* 1 EXISTS).
    typ, data = m.noop()
    assert typ == "OK"
    assert m.untagged_responses.get("EXISTS", [b"0"])[-1] == b"1"
    try:
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    except imaplib.IMAP4.error as e:
        pytest.skip("imapd FETCH not available yet: %s" % e)
    assert typ == "OK" and b"Subject: during imap" in data[0][1]
    m.logout()
