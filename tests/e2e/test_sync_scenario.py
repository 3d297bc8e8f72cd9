"""One mailbox, two protocols, many clients (issue 6): IMAP client A idles
in INBOX while POP3 deletes two messages and quits, LMTP delivers one and
IMAP client B sets a flag. A must see exactly the matching untagged
responses, with the right message sequence numbers, while still idling."""
import poplib
import re
import smtplib

from conftest import need
from test_imap_fetch import Raw, tagged
from test_imap_idle import start_idle, stop_idle


def msg(i):
    return (f"From: s{i}@example.org\r\nTo: alice@example.org\r\n"
            f"Subject: message {i}\r\n\r\nbody {i}\r\n").encode()


def read_until(r, pred, seen):
    """Reads untagged lines (bounded by the socket timeout) until pred."""
    while True:
        line = r.f.readline()
        assert line, seen
        seen.append(line)
        if pred(line):
            return line


def test_idle_sees_pop3_lmtp_and_other_imap(tandem):
    need("imapd")
    need("pop3d")
    need("lmtpd")
    for i in range(1, 6):
        tandem.deliver("alice", msg(i))
    a = Raw(tandem)
    sel = a.cmd("SELECT INBOX")
    assert b"* 5 EXISTS\r\n" in sel
    view = [1, 2, 3, 4, 5]          # A's MSN -> UID model
    tag = start_idle(a)
    seen = []

    # POP3 deletes messages 2 and 4 (UIDs 2 and 4) and quits.
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    p.user("alice")
    p.pass_("secret")
    assert p.stat()[0] == 5
    p.dele(2)
    p.dele(4)
    p.quit()
    expunged = 0
    while expunged < 2:
        line = read_until(a, lambda l: b"EXPUNGE" in l, seen)
        msn = int(re.match(rb"\* (\d+) EXPUNGE\r\n", line).group(1))
        assert 1 <= msn <= len(view), (line, view)
        del view[msn - 1]
        expunged += 1
    assert view == [1, 3, 5], seen

    # LMTP delivers one: EXISTS counts the new total.
    with smtplib.LMTP("127.0.0.1", tandem.lmtp_port, timeout=30) as l:
        l.sendmail("sender@example.org", ["alice"], msg(6))
    read_until(a, lambda l: l == b"* 4 EXISTS\r\n", seen)
    view.append(6)

    # IMAP client B flags UID 3: A sees FETCH for its MSN 2.
    b = Raw(tandem)
    assert tagged(b.cmd("SELECT INBOX")) == b"OK"
    assert tagged(b.cmd("UID STORE 3 +FLAGS.SILENT (\\Flagged)")) == b"OK"
    b.close()
    line = read_until(a, lambda l: b"FETCH" in l, seen)
    m = re.match(rb"\* (\d+) FETCH \((.*)\)\r\n", line)
    assert m, line
    assert view[int(m.group(1)) - 1] == 3, (line, view)
    assert b"\\Flagged" in m.group(2)

    stop_idle(a, tag)
    # After IDLE, the view and the server agree.
    lines = a.cmd("UID FETCH 1:* (UID)")
    uids = [int(x) for x in re.findall(rb"UID (\d+)", b"".join(lines[:-1]))]
    assert uids == view
    # Nothing unexpected was sent while idling.
    for l in seen:
        assert re.match(rb"\* (\d+ (EXPUNGE|EXISTS|RECENT|FETCH .*)|OK .*)\r\n", l), l
    a.close()

    # And POP3's next login sees the same four messages.
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    p.user("alice")
    p.pass_("secret")
    assert p.stat()[0] == 4
    p.quit()
