"""IDLE against the real tandem-imapd (RFC 9051 6.3.13, RFC 2177): updates
reach an idling client when mail is delivered (tandemctl deliver, LMTP),
when another session changes flags or expunges; DONE ends it."""
import smtplib
import socket

from conftest import need
from test_imap_fetch import MSG1, Raw, tagged


def start_idle(r):
    r.n += 1
    tag = f"X{r.n}".encode()
    r.s.sendall(tag + b" IDLE\r\n")
    line = r.f.readline()
    assert line == b"+ idling\r\n", line
    return tag


def wait_for(r, pred):
    """Reads untagged lines until pred(line); the socket timeout (30 s)
    bounds the wait."""
    seen = []
    while True:
        line = r.f.readline()
        assert line, seen
        seen.append(line)
        if pred(line):
            return seen


def stop_idle(r, tag):
    r.s.sendall(b"DONE\r\n")
    rest = wait_for(r, lambda l: l.startswith(tag + b" "))
    assert rest[-1].startswith(tag + b" OK"), rest


def test_idle_exists_on_deliver(tandem):
    tandem.deliver("alice", MSG1)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    tag = start_idle(r)
    tandem.deliver("alice", MSG1)
    wait_for(r, lambda l: l == b"* 2 EXISTS\r\n")
    stop_idle(r, tag)
    assert tagged(r.cmd("NOOP")) == b"OK"
    r.close()


def test_idle_exists_on_lmtp(tandem):
    need("lmtpd")
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    tag = start_idle(r)
    with smtplib.LMTP("127.0.0.1", tandem.lmtp_port, timeout=30) as l:
        l.sendmail("sender@example.org", ["alice"], MSG1)
    wait_for(r, lambda l: l == b"* 1 EXISTS\r\n")
    stop_idle(r, tag)
    r.close()


def test_idle_flags_and_expunge_from_other_session(tandem):
    for _ in range(2):
        tandem.deliver("alice", MSG1)
    r, o = Raw(tandem), Raw(tandem)
    r.cmd("SELECT INBOX")
    o.cmd("SELECT INBOX")
    tag = start_idle(r)
    o.cmd("STORE 2 +FLAGS (\\Flagged)")
    wait_for(r, lambda l: l.startswith(b"* 2 FETCH") and b"\\Flagged" in l)
    o.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    o.cmd("EXPUNGE")
    wait_for(r, lambda l: l == b"* 1 EXPUNGE\r\n")
    stop_idle(r, tag)
    out = r.cmd("FETCH 1:* (UID)")
    assert len(out) == 2 and b"UID 2" in out[0]
    r.close()
    o.close()


def test_idle_authenticated_state_and_bad_done(tandem):
    r = Raw(tandem)
    tag = start_idle(r)
    r.s.sendall(b"NOPE\r\n")
    line = r.f.readline()
    assert line.startswith(tag + b" BAD"), line
    tag = start_idle(r)
    stop_idle(r, tag)
    r.close()


def test_idle_pending_updates_sent_at_start(tandem):
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    tandem.deliver("alice", MSG1)
    tag = start_idle(r)
    wait_for(r, lambda l: l == b"* 1 EXISTS\r\n")
    stop_idle(r, tag)
    r.close()
