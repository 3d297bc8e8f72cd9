"""NOTIFY (RFC 5465) against the real daemons: a client asks for events on
the selected mailbox and on its other mailboxes, then simply waits (no
IDLE, no command in progress: RFC 5465 3); deliveries through LMTP, a POP3
DELE+QUIT and another IMAP session's STORE/CREATE/RENAME/SUBSCRIBE/DELETE
must reach it as exactly the untagged responses RFC 5465 5 names.

How exactness is checked without timing: the notified client reads lines
until the expected ones arrived (bounded by the socket timeout), then
sends NOOP; everything received up to NOOP's tagged OK must be exactly
the expected lines (so nothing extra was sent meanwhile)."""
import poplib
import re
import smtplib

import pytest

from conftest import need
from test_imap_fetch import Raw, tagged
from test_imap_idle import start_idle, stop_idle

SET_MAIN = (b"NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge "
            b"FlagChange)) (personal (MessageNew MessageExpunge MailboxName "
            b"SubscriptionChange))")


def msg(i, to="alice"):
    return (f"From: s{i}@example.org\r\nTo: {to}@example.org\r\n"
            f"Message-ID: <n{i}@example.org>\r\n"
            f"Subject: message {i}\r\n\r\nbody {i}\r\n").encode()


def lmtp(t, rcpt, data):
    with smtplib.LMTP("127.0.0.1", t.lmtp_port, timeout=30) as l:
        l.sendmail("sender@example.org", [rcpt], data)


def interesting(line):
    # IMAP4rev1 sessions also get "* n RECENT" with EXISTS (RFC 3501
    # 7.3.2); it is not a NOTIFY event.
    return not re.match(rb"\* \d+ RECENT\r\n", line)


def expect(r, wanted, sync=True):
    """Reads untagged lines until every line of wanted (bytes or compiled
    regexes) was seen, in order; then, with sync, a NOOP: all lines up to
    its tagged OK must be exactly wanted. Returns the lines."""
    got = []
    i = 0
    while i < len(wanted):
        try:
            line = r.f.readline()
        except OSError as e:
            raise AssertionError(("timed out", got, wanted)) from e
        assert line, (got, wanted)
        if not interesting(line):
            continue
        got.append(line)
        w = wanted[i]
        if (w.match(line) if hasattr(w, "match") else line == w):
            i += 1
    if sync:
        rest = [l for l in r.cmd("NOOP") if interesting(l)]
        assert rest[-1].startswith(b"X") and b" OK " in rest[-1], rest
        got += rest[:-1]
    assert len(got) == len(wanted), (got, wanted)
    return got


def status_re(name, messages, uidnext, unseen, modseq=False, first=False):
    """A change's STATUS is (MESSAGES UIDNEXT UNSEEN), as Dovecot sends it;
    the first one (NOTIFY SET STATUS) has UIDVALIDITY too; HIGHESTMODSEQ
    with CONDSTORE or FlagChange."""
    uv = rb" UIDVALIDITY \d+" if first else b""
    tail = rb" HIGHESTMODSEQ \d+" if modseq else b""
    return re.compile(rb"\* STATUS " + re.escape(name) +
                      rb" \(MESSAGES %d UIDNEXT %d" % (messages, uidnext) + uv +
                      rb" UNSEEN %d" % unseen + tail + rb"\)\r\n$")


def other(t):
    b = Raw(t)
    return b


def test_capability_lists_notify(tandem):
    a = Raw(tandem)
    caps = a.cmd("CAPABILITY")[0]
    assert b" NOTIFY" in caps, caps
    a.close()


def test_notify_selected_and_personal(tandem):
    """The scenario of issue 6: selected-mailbox events as EXISTS/FETCH/
    EXPUNGE, other mailboxes as STATUS, mailbox names as LIST."""
    need("lmtpd")
    need("pop3d")
    tandem.deliver("alice", msg(1))
    tandem.deliver("alice", msg(2))
    b = other(tandem)
    assert tagged(b.cmd("CREATE Work")) == b"OK"
    # b selects first, so a's view has no \Recent message to show.
    assert tagged(b.cmd("SELECT INBOX")) == b"OK"
    a = Raw(tandem)
    assert tagged(a.cmd("SELECT INBOX")) == b"OK"
    r = a.cmd(SET_MAIN)
    assert r == [r[-1]] and tagged(r) == b"OK", r

    # LMTP to the selected mailbox: EXISTS, then FETCH (UID FLAGS).
    lmtp(tandem, "alice@example.org", msg(3))
    expect(a, [b"* 3 EXISTS\r\n", b"* 3 FETCH (UID 3 FLAGS ())\r\n"])

    # LMTP to another mailbox: STATUS with its counts.
    lmtp(tandem, "alice+Work@example.org", msg(4))
    expect(a, [status_re(b"Work", 1, 2, 1)])

    # Another session changes flags in the selected mailbox: FETCH FLAGS.
    assert tagged(b.cmd("STORE 2 +FLAGS.SILENT (\\Flagged)")) == b"OK"
    expect(a, [b"* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\n"])

    # ... and in Work: personal has no FlagChange, so nothing comes; a
    # delivery to Work afterwards is the next thing a hears.
    assert tagged(b.cmd("SELECT Work")) == b"OK"
    assert tagged(b.cmd("STORE 1 +FLAGS.SILENT (\\Seen)")) == b"OK"
    assert tagged(b.cmd("UNSELECT")) == b"OK"
    lmtp(tandem, "alice+Work@example.org", msg(5))
    expect(a, [status_re(b"Work", 2, 3, 1)])

    # POP3 DELE 1 + QUIT: the selected mailbox's EXPUNGE, at once.
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    p.user("alice")
    p.pass_("secret")
    p.dele(1)
    p.quit()
    # (the view restates EXISTS after expunges; RFC 9051 7.4.1 allows it)
    expect(a, [b"* 1 EXPUNGE\r\n", b"* 2 EXISTS\r\n"])

    # Mailbox names (RFC 5465 5.4) and subscriptions (5.5).
    assert tagged(b.cmd("CREATE Projects")) == b"OK"
    expect(a, [b'* LIST () "/" Projects\r\n'])
    assert tagged(b.cmd("RENAME Projects Done")) == b"OK"
    expect(a, [b'* LIST () "/" Done ("OLDNAME" (Projects))\r\n'])
    assert tagged(b.cmd("SUBSCRIBE Work")) == b"OK"
    expect(a, [b'* LIST (\\Subscribed) "/" Work\r\n'])
    assert tagged(b.cmd("UNSUBSCRIBE Work")) == b"OK"
    expect(a, [b'* LIST () "/" Work\r\n'])
    assert tagged(b.cmd("DELETE Done")) == b"OK"
    expect(a, [b'* LIST (\\NonExistent) "/" Done\r\n'])

    # A message moved out of Work into INBOX: STATUS for Work (expunge),
    # EXISTS + FETCH in the selected one.
    assert tagged(b.cmd("SELECT Work")) == b"OK"
    assert tagged(b.cmd("MOVE 1 INBOX")) == b"OK"
    got = expect(a, [b"* 3 EXISTS\r\n",
                     b"* 3 FETCH (UID 4 FLAGS (\\Seen))\r\n",
                     status_re(b"Work", 1, 3, 1)], sync=False)
    assert tagged(a.cmd("NOOP")) == b"OK", got

    # NOTIFY NONE: nothing any more outside commands.
    assert tagged(a.cmd("NOTIFY NONE")) == b"OK"
    lmtp(tandem, "alice+Work@example.org", msg(6))
    assert tagged(b.cmd("CREATE Later")) == b"OK"
    r = [l for l in a.cmd("NOOP") if interesting(l)]
    assert len(r) == 1 and tagged(r) == b"OK", r
    a.close()
    b.close()


def test_notify_set_status_and_condstore(tandem):
    """NOTIFY SET STATUS: a STATUS for every mailbox with message events
    before the tagged OK, not for the selected one; HIGHESTMODSEQ once
    CONDSTORE is on."""
    tandem.deliver("alice", msg(1))
    tandem.deliver("alice", msg(2), mailbox="Archive")
    a = Raw(tandem)
    assert tagged(a.cmd("ENABLE CONDSTORE")) == b"OK"
    assert tagged(a.cmd("SELECT INBOX")) == b"OK"
    r = a.cmd(b"NOTIFY SET STATUS (selected (MessageNew MessageExpunge)) "
              b"(personal (MessageNew MessageExpunge FlagChange))")
    assert tagged(r) == b"OK", r
    names = sorted(re.match(rb"\* STATUS (\S+) ", l).group(1) for l in r[:-1])
    assert names == sorted([b"Archive", b"Drafts", b"Junk", b"Sent", b"Trash"]), r
    arch = [l for l in r if l.startswith(b"* STATUS Archive ")][0]
    assert status_re(b"Archive", 1, 2, 1, modseq=True, first=True).match(arch), arch

    # FlagChange for a non-selected mailbox: STATUS with the new UNSEEN.
    b = Raw(tandem)
    assert tagged(b.cmd("SELECT Archive")) == b"OK"
    assert tagged(b.cmd("STORE 1 +FLAGS.SILENT (\\Seen)")) == b"OK"
    expect(a, [status_re(b"Archive", 1, 2, 0, modseq=True)])
    # Only mailboxes the filter names: "mailboxes Sent" leaves Archive out.
    r = a.cmd(b"NOTIFY SET STATUS (mailboxes Sent (MessageNew MessageExpunge))")
    assert len(r) == 2 and r[0].startswith(b"* STATUS Sent ("), r
    tandem.deliver("alice", msg(3), mailbox="Archive")
    tandem.deliver("alice", msg(4), mailbox="Sent")
    expect(a, [status_re(b"Sent", 1, 2, 1, modseq=True)])
    a.close()
    b.close()


def test_notify_subtree_and_subscribed(tandem):
    a = Raw(tandem)
    for name in ("Lists", "Lists/a", "Other"):
        assert tagged(a.cmd(f"CREATE {name}")) == b"OK"
    assert tagged(a.cmd("SUBSCRIBE Other")) == b"OK"
    r = a.cmd(b"NOTIFY SET (subtree Lists (MessageNew MessageExpunge)) "
              b"(subscribed (MessageNew MessageExpunge))")
    assert tagged(r) == b"OK", r
    tandem.deliver("alice", msg(1), mailbox="Junk")       # not named
    tandem.deliver("alice", msg(2), mailbox="Lists/a")
    expect(a, [status_re(b"Lists/a", 1, 2, 1)], sync=False)
    tandem.deliver("alice", msg(3), mailbox="Other")
    expect(a, [status_re(b"Other", 1, 2, 1)])
    a.close()


def test_notify_in_idle_and_selected_delayed(tandem):
    """Events come during IDLE too (RFC 5465 4); with selected-delayed an
    expunge in the selected mailbox waits for a command."""
    need("pop3d")
    tandem.deliver("alice", msg(1))
    tandem.deliver("alice", msg(2))
    a = Raw(tandem)
    assert tagged(a.cmd("SELECT INBOX")) == b"OK"
    r = a.cmd(b"NOTIFY SET (selected-delayed (MessageNew MessageExpunge)) "
              b"(personal (MessageNew MessageExpunge))")
    assert tagged(r) == b"OK", r
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    p.user("alice")
    p.pass_("secret")
    p.dele(1)
    p.quit()
    # Work's STATUS comes; the EXPUNGE does not (yet).
    tandem.deliver("alice", msg(3), mailbox="Trash")
    got = expect(a, [status_re(b"Trash", 1, 2, 1)], sync=False)
    r = [l for l in a.cmd("NOOP") if interesting(l)]
    assert r[0] == b"* 1 EXPUNGE\r\n" and tagged(r) == b"OK", (got, r)
    # In IDLE: another mailbox's STATUS arrives while idling.
    tag = start_idle(a)
    tandem.deliver("alice", msg(4), mailbox="Trash")
    line = a.f.readline()
    assert status_re(b"Trash", 2, 3, 2).match(line), line
    stop_idle(a, tag)
    a.close()


# RFC 5465 3.1: BADEVENT lists every event the server supports.
BADEVENT = (b"NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName"
            b" SubscriptionChange)]")


@pytest.mark.parametrize("args,code", [
    (b"SET (personal (MessageNew MessageExpunge AnnotationChange))",
     BADEVENT),
    (b"SET (personal (MailboxMetadataChange))",
     BADEVENT),
    (b"SET (selected (MessageNew MessageExpunge)) (personal (ServerMetadataChange MailboxName))",
     BADEVENT),
    (b"SET (selected (MessageNew))", b"BAD"),
    (b"SET (personal (FlagChange))", b"BAD"),
    (b"SET (personal (MessageNew (UID) MessageExpunge))", b"BAD"),
    (b"SET (selected (MessageNew (BODY[]) MessageExpunge))", b"BAD"),
    (b"SET (everything (MessageNew MessageExpunge))", b"BAD"),
    (b"SET (selected NONE) (selected-delayed NONE)", b"BAD"),
    (b"SET", b"BAD"),
    (b"FOO", b"BAD"),
])
def test_notify_rejects(tandem, args, code):
    a = Raw(tandem)
    r = a.cmd(b"NOTIFY " + args)
    assert r[-1].split(b" ", 1)[1].startswith(code), r
    # a refused NOTIFY leaves nothing in effect
    tandem.deliver("alice", msg(1), mailbox="Trash")
    r = [l for l in a.cmd("NOOP") if interesting(l)]
    assert len(r) == 1, r
    a.close()


def test_notify_needs_login(tandem):
    a = Raw(tandem, user=None)
    r = a.cmd(b"NOTIFY NONE")
    assert r[-1].split(b" ")[1] == b"BAD", r
    a.close()


def test_notify_overflow(tandem):
    """A client that stops reading: once its output is full the server
    queues nothing more; after many missed change rounds it sends
    "* OK [NOTIFICATIONOVERFLOW]" and NOTIFY is off (RFC 5465 3.1)."""
    import socket
    a = socket.socket()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.settimeout(30)
    a.connect(("127.0.0.1", tandem.imap_port))
    f = a.makefile("rb")
    f.readline()
    a.sendall(b"A1 LOGIN alice secret\r\n")
    while not f.readline().startswith(b"A1 "):
        pass
    a.sendall(b"A2 NOTIFY SET (personal (MessageNew MessageExpunge "
              b"FlagChange MailboxName))\r\n")
    assert f.readline().startswith(b"A2 OK"), "NOTIFY refused"
    # from here a reads nothing until the end
    b = Raw(tandem)
    long = "x" * 480
    for i in range(100):
        assert tagged(b.cmd(f"CREATE P/{long}{i}")) == b"OK"
    tandem.deliver("alice", msg(0), mailbox="Trash")
    r = b.cmd("SELECT Trash")
    assert tagged(r) == b"OK", r
    # each rename of P makes 100 long LIST (OLDNAME) lines (some 50 KB)
    # and is one change round: the output fills up (how soon depends on
    # how far the kernel lets the server's send buffer grow), and every
    # round after that is one missed
    for k in range(2000):
        assert tagged(b.cmd(f"RENAME {'P' if k % 2 == 0 else 'Q'} "
                            f"{'Q' if k % 2 == 0 else 'P'}")) == b"OK"
        if k % 10 == 9 and "client too far behind" in tandem.log("imapd"):
            break
    assert "client too far behind" in tandem.log("imapd")
    # now read: the overflow notice comes after what was queued, and
    # nothing follows it
    a.sendall(b"A3 NOOP\r\n")
    seen = []
    while True:
        line = f.readline()
        assert line, seen[-3:]
        if line.startswith(b"A3 "):
            break
        seen.append(line)
    over = [i for i, l in enumerate(seen) if b"[NOTIFICATIONOVERFLOW]" in l]
    assert len(over) == 1 and seen[over[0]].startswith(b"* OK "), seen[-3:]
    assert all(l.startswith(b"* LIST ") or l.startswith(b"* STATUS ")
               for l in seen[:over[0]]), seen[:3]
    assert seen[over[0] + 1:] == [], seen[over[0] + 1:]
    # NOTIFY is off: a change gives nothing any more
    assert tagged(b.cmd("STORE 1 +FLAGS.SILENT (\\Seen)")) == b"OK"
    tandem.deliver("alice", msg(1), mailbox="Trash")
    a.sendall(b"A4 NOOP\r\n")
    assert f.readline().startswith(b"A4 OK")
    a.close()
    b.close()
