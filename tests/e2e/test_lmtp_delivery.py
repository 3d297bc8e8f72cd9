"""LMTP (RFC 2033) delivery through tandem-lmtpd: swaks and raw dialogues.

Messages are read back byte for byte over POP3 (RETR, dot-unstuffed here)
so what the store holds is what a client gets.
"""
import re
import socket
import subprocess

import pytest

NO_RECEIVED = pytest.mark.tandem_config({"lmtp": {"add_received": "no"}})


class Lmtp:
    """A raw LMTP client: exact bytes out, reply lines in."""

    def __init__(self, t, unix=False):
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(t.lmtp_socket))
        else:
            self.sock = socket.create_connection(("127.0.0.1", t.lmtp_port))
        self.sock.settimeout(30)
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        ln = self.f.readline()
        assert ln.endswith(b"\r\n"), ln
        return ln[:-2].decode("utf-8")

    def reply(self):
        """One (possibly multi-line) reply: (code, [texts])."""
        texts = []
        while True:
            ln = self.line()
            texts.append(ln[4:])
            if ln[3:4] != "-":
                return int(ln[:3]), texts

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


def pop3_messages(t, user, password):
    """Every message of user's maildrop, bytes as stored (RETR unstuffed)."""
    s = socket.create_connection(("127.0.0.1", t.pop3_port))
    s.settimeout(30)
    f = s.makefile("rb")

    def ok():
        ln = f.readline()
        assert ln.startswith(b"+OK"), ln
        return ln

    def multi():
        out = b""
        while True:
            ln = f.readline()
            assert ln.endswith(b"\r\n"), ln
            if ln == b".\r\n":
                return out
            out += ln[1:] if ln.startswith(b".") else ln

    ok()
    s.sendall(b"USER %s\r\n" % user.encode())
    ok()
    s.sendall(b"PASS %s\r\n" % password.encode())
    ok()
    s.sendall(b"LIST\r\n")
    ok()
    n = len(multi().splitlines())
    msgs = []
    for i in range(1, n + 1):
        s.sendall(b"RETR %d\r\n" % i)
        ok()
        msgs.append(multi())
    s.sendall(b"QUIT\r\n")
    ok()
    s.close()
    return msgs


def swaks(t, *args, input=None):
    """swaks ends the data with CRLF . CRLF itself: --data has no final
    line end here."""
    return subprocess.run(["swaks", "--protocol", "LMTP", "--helo", "mx.test",
                           "--hide-informational", *args],
                          input=input, capture_output=True, timeout=60)


def test_swaks_single_recipient(tandem):
    t = tandem
    r = swaks(t, "--server", "127.0.0.1:%d" % t.lmtp_port,
              "--from", "sender@example.net", "--to", "alice@example.org",
              "--data", "Subject: hi\r\n\r\nhello")
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    msgs = pop3_messages(t, "alice", "secret")
    assert len(msgs) == 1
    m = msgs[0]
    assert m.startswith(b"Return-Path: <sender@example.net>\r\nReceived: from mx.test")
    assert b"\r\n\tby " in m and b" with LMTP id " in m
    assert b"for <alice@example.org>;" in m
    assert m.endswith(b"Subject: hi\r\n\r\nhello\r\n")
    assert b"\n" not in m.replace(b"\r\n", b"")


def test_swaks_unix_socket(tandem):
    t = tandem
    r = swaks(t, "--socket", str(t.lmtp_socket),
              "--from", "sender@example.net", "--to", "bob@example.org",
              "--data", "Subject: via socket\r\n\r\nbody")
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert b"<-  250 2.0.0 <bob@example.org>" in r.stdout
    msgs = pop3_messages(t, "bob", "hunter2")
    assert len(msgs) == 1 and msgs[0].endswith(b"Subject: via socket\r\n\r\nbody\r\n")
    # A unix peer has no address to record.
    assert b"Received: from mx.test\r\n\tby" in msgs[0]


def test_swaks_several_recipients_one_unknown(tandem):
    t = tandem
    r = swaks(t, "--server", "127.0.0.1:%d" % t.lmtp_port,
              "--from", "s@example.net",
              "--to", "alice@example.org,nobody@example.org,bob@example.org",
              "--data", "Subject: multi\r\n\r\nfor two of three")
    out = r.stdout.decode()
    assert "<** 550 5.1.1 <nobody@example.org> User unknown" in out, out
    # One reply per accepted recipient after the dot (RFC 2033 4.2).
    assert "<-  250 2.0.0 <alice@example.org>" in out, out
    assert "<-  250 2.0.0 <bob@example.org>" in out, out
    for user, pw in (("alice", "secret"), ("bob", "hunter2")):
        msgs = pop3_messages(t, user, pw)
        assert len(msgs) == 1
        assert msgs[0].endswith(b"Subject: multi\r\n\r\nfor two of three\r\n")


@NO_RECEIVED
def test_raw_several_recipients_statuses_and_bytes(tandem):
    t = tandem
    c = Lmtp(t)
    assert c.greeting[0] == 220
    code, caps = c.cmd("LHLO mx.test")
    assert code == 250
    for ext in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8",
                "CHUNKING", "BINARYMIME"):
        assert ext in caps
    assert any(x.startswith("SIZE ") for x in caps)
    assert c.cmd("MAIL FROM:<s@example.net> BODY=8BITMIME SIZE=100")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
    code, text = c.cmd("RCPT TO:<ghost@example.org>")
    assert (code, text[0][:5]) == (550, "5.1.1")
    assert c.cmd("RCPT TO:<bob@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    body = (b"Subject: exact\r\n\r\n8bit: \xc3\xa9t\xc3\xa9\r\n"
            b"..leading dot\r\n...two dots\r\n.x\r\nbare\nlf\r\n")
    c.send(body + b".\r\n")
    # Exactly two replies, in RCPT order.
    r1, r2 = c.reply(), c.reply()
    assert r1[0] == 250 and "<alice@example.org>" in r1[1][0]
    assert r2[0] == 250 and "<bob@example.org>" in r2[1][0]
    assert c.cmd("QUIT")[0] == 221
    want = (b"Return-Path: <s@example.net>\r\n"
            b"Subject: exact\r\n\r\n8bit: \xc3\xa9t\xc3\xa9\r\n"
            b".leading dot\r\n..two dots\r\nx\r\nbare\r\nlf\r\n")
    assert pop3_messages(t, "alice", "secret") == [want]
    assert pop3_messages(t, "bob", "hunter2") == [want]


@NO_RECEIVED
def test_pipelined_commands(tandem):
    t = tandem
    c = Lmtp(t)
    c.send(b"LHLO mx.test\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\n"
           b"RCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
           b"DATA\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 550
    assert c.reply()[0] == 250
    assert c.reply()[0] == 354
    # The dot, then a whole second transaction and QUIT in one write.
    c.send(b"Subject: one\r\n\r\n1\r\n.\r\n"
           b"MAIL FROM:<x@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
           b"DATA\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 250]
    assert c.reply()[0] == 354
    c.send(b"Subject: two\r\n\r\n2\r\n.\r\nNOOP\r\nRSET\r\nVRFY alice\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    code, text = c.reply()
    assert code == 252 and text[0].startswith("2.5.0")
    assert c.reply()[0] == 221
    assert pop3_messages(t, "alice", "secret") == [
        b"Return-Path: <>\r\nSubject: one\r\n\r\n1\r\n",
        b"Return-Path: <x@example.net>\r\nSubject: two\r\n\r\n2\r\n"]
    assert pop3_messages(t, "bob", "hunter2") == [
        b"Return-Path: <>\r\nSubject: one\r\n\r\n1\r\n"]


@NO_RECEIVED
def test_bdat_chunks(tandem):
    t = tandem
    c = Lmtp(t)
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd("MAIL FROM:<s@example.net> BODY=BINARYMIME")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.org>")[0] == 250
    # DATA is not allowed with BINARYMIME (RFC 3030 3).
    assert c.cmd("DATA")[0] == 503
    # Chunks split a CRLF, hold "..", "." lines (no unstuffing in BDAT)
    # and a bare LF; pipelined in one write, BDAT LAST among them.
    parts = [b"Subject: chunks\r", b"\n\r\n..not unstuffed\r\n.\r\n",
             b"bare\nend\r\n"]
    c.send(b"".join(b"BDAT %d\r\n%s" % (len(p), p) for p in parts[:2]) +
           b"BDAT %d LAST\r\n%s" % (len(parts[2]), parts[2]))
    code, text = c.reply()
    assert code == 250 and "%d octets" % len(parts[0]) in text[0]
    assert c.reply()[0] == 250
    r1, r2 = c.reply(), c.reply()
    assert r1[0] == 250 and "<alice@example.org>" in r1[1][0]
    assert r2[0] == 250 and "<bob@example.org>" in r2[1][0]
    # BDAT 0 LAST ends a message too; a last line without CRLF gets one
    # (POP3 sends it anyway: stored size == RETR size).
    assert c.cmd("MAIL FROM:<>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
    c.send(b"BDAT 9\r\nX: y\r\n\r\nzBDAT 0 LAST\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    # A BDAT without a transaction is read, then refused.
    c.send(b"BDAT 5 LAST\r\nhello")
    assert c.reply()[0] == 503
    assert c.cmd("NOOP")[0] == 250
    c.close()
    want = (b"Return-Path: <s@example.net>\r\nSubject: chunks\r\n\r\n"
            b"..not unstuffed\r\n.\r\nbare\r\nend\r\n")
    assert pop3_messages(t, "alice", "secret") == [
        want, b"Return-Path: <>\r\nX: y\r\n\r\nz\r\n"]
    assert pop3_messages(t, "bob", "hunter2") == [want]


@pytest.mark.tandem_config({"lmtp": {"max_message_size": "2048",
                                     "add_received": "no"}})
def test_size_limit(tandem):
    t = tandem
    c = Lmtp(t)
    assert c.cmd("LHLO mx.test")[0] == 250
    # Declared too big: refused at MAIL (RFC 1870).
    code, text = c.cmd("MAIL FROM:<s@example.net> SIZE=4096")
    assert (code, text[0][:5]) == (552, "5.3.4")
    # Undeclared, growing over the limit: read to the end, then refused
    # for each recipient; the session goes on.
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 1 + (b"y" * 78 + b"\r\n") * 60 + b".\r\n")
    for _ in range(2):
        code, text = c.reply()
        assert (code, text[0][:5]) == (552, "5.3.4")
    # Same with BDAT.
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
    chunk = b"z" * 1500
    c.send(b"BDAT 1500\r\n" + chunk + b"BDAT 1500 LAST\r\n" + chunk)
    assert c.reply()[0] == 250
    code, text = c.reply()
    assert (code, text[0][:5]) == (552, "5.3.4")
    # Under the limit still works.
    assert c.cmd("MAIL FROM:<s@example.net> SIZE=100")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: small\r\n\r\nok\r\n.\r\n")
    assert c.reply()[0] == 250
    c.close()
    assert pop3_messages(t, "alice", "secret") == [
        b"Return-Path: <s@example.net>\r\nSubject: small\r\n\r\nok\r\n"]
    assert pop3_messages(t, "bob", "hunter2") == []


def test_protocol_errors(tandem):
    t = tandem
    c = Lmtp(t)
    # LMTP answers only LHLO (RFC 2033 4.1).
    assert c.cmd("HELO mx.test")[0] == 500
    assert c.cmd("EHLO mx.test")[0] == 500
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 503
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 503
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("MAIL FROM:s@example.net")[0] == 501
    assert c.cmd("MAIL FROM:<s@example.net> FOO=bar")[0] == 555
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 503
    assert c.cmd("RCPT TO:<>")[0] == 501
    assert c.cmd("RCPT TO:<a b@example.org>")[0] == 501
    # No valid recipient: DATA gets 503 (RFC 2033 4.2).
    assert c.cmd("RCPT TO:<nobody@example.org>")[0] == 550
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("XYZZY")[0] == 500
    assert c.cmd("VRFY")[0] == 501
    assert c.cmd("QUIT")[0] == 221
    assert c.f.read() == b""


@NO_RECEIVED
def test_quoted_local_part_and_full_address_user(tandem):
    t = tandem
    t.ctl("user", "add", "carol@example.org", input=b"pw1\npw1\n")
    c = Lmtp(t)
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd('MAIL FROM:<"odd sender"@example.net>')[0] == 250
    # A user whose name is a whole address (user@domain logins).
    assert c.cmd("RCPT TO:<carol@example.org>")[0] == 250
    # A quoted local part naming an existing user.
    assert c.cmd('RCPT TO:<"alice"@example.org>')[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: q\r\n\r\nq\r\n.\r\n")
    assert c.reply()[0] == 250 and c.reply()[0] == 250
    c.close()
    want = b'Return-Path: <"odd sender"@example.net>\r\nSubject: q\r\n\r\nq\r\n'
    assert pop3_messages(t, "carol@example.org", "pw1") == [want]
    assert pop3_messages(t, "alice", "secret") == [want]


def test_received_line(tandem):
    t = tandem
    c = Lmtp(t)
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd("MAIL FROM:<s@example.net> SMTPUTF8")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: r\r\n\r\nr\r\n.\r\n")
    assert c.reply()[0] == 250 and c.reply()[0] == 250
    c.close()
    m = pop3_messages(t, "alice", "secret")[0]
    # RFC 5321 4.4 Time-stamp-line; several recipients: no "for".
    assert re.match(
        rb"Return-Path: <s@example\.net>\r\n"
        rb"Received: from mx\.test \(\[127\.0\.0\.1\]\)\r\n"
        rb"\tby \S+ \(Tandem\) with UTF8LMTP id [0-9a-f]+\.[0-9a-f]+;\r\n"
        rb"\t\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n"
        rb"Subject: r\r\n\r\nr\r\n$", m), m


def deliver_one(t, rcpt, body):
    """One transaction; returns the reply after the dot."""
    c = Lmtp(t)
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(body + b".\r\n")
    r = c.reply()
    c.close()
    return r


@NO_RECEIVED
def test_detail_mailbox(tandem):
    t = tandem
    # Trash exists in every new store; +nosuch falls back to INBOX.
    code, text = deliver_one(t, "alice+Trash@example.org", b"Subject: d1\r\n\r\n1\r\n")
    assert code == 250 and text[0].endswith(" in Trash")
    code, text = deliver_one(t, "alice+nosuch@example.org", b"Subject: d2\r\n\r\n2\r\n")
    assert code == 250 and text[0].endswith(" in INBOX")
    assert pop3_messages(t, "alice", "secret") == [
        b"Return-Path: <s@example.net>\r\nSubject: d2\r\n\r\n2\r\n"]
    status = t.ctl("mailbox", "status", "alice", "Trash").stdout.decode()
    assert "messages 1" in status.splitlines(), status
    if "imapd" in t.procs:
        import imaplib
        m = imaplib.IMAP4("127.0.0.1", t.imap_port, timeout=30)
        m.login("alice", "secret")
        typ, data = m.select("Trash")
        assert typ == "OK" and data[0] == b"1"
        try:
            typ, data = m.fetch("1", "(BODY.PEEK[])")
        except imaplib.IMAP4.error as e:
            pytest.skip("imapd FETCH not available yet: %s" % e)
        assert data[0][1] == b"Return-Path: <s@example.net>\r\nSubject: d1\r\n\r\n1\r\n"
        m.logout()


@pytest.mark.tandem_config({"lmtp": {"detail_mailbox": "no"}})
def test_detail_mailbox_off(tandem):
    t = tandem
    code, text = deliver_one(t, "alice+Trash@example.org", b"Subject: d\r\n\r\n1\r\n")
    assert code == 250 and text[0].endswith(" in INBOX")
    assert len(pop3_messages(t, "alice", "secret")) == 1
    status = t.ctl("mailbox", "status", "alice", "Trash").stdout.decode()
    assert "messages 0" in status.splitlines(), status


@NO_RECEIVED
def test_one_recipient_store_busy_gets_451_others_250(tandem):
    """Temporary store trouble for one recipient: 451 4.x.x for that one
    (never 250), 250 for the others. bob's store is held write-locked
    longer than the store's busy timeout (30 s)."""
    import os
    import sys
    t = tandem
    # Create bob's store with a first delivery.
    assert deliver_one(t, "bob@example.org", b"Subject: first\r\n\r\n0\r\n")[0] == 250
    # The lock is taken by a helper process running as the daemons' user,
    # so any file SQLite creates stays theirs.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\n"
         "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)\n"
         "db.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n"
         "db.execute('ROLLBACK')\n",
         str(t.data_dir / "mail" / "bob" / "store.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        **({"user": "nobody", "group": "nogroup"} if os.geteuid() == 0 else {}))
    try:
        assert holder.stdout.readline() == b"locked\n"
        c = Lmtp(t)
        assert c.cmd("LHLO mx.test")[0] == 250
        assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<bob@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<alice+Trash@example.org>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.sock.settimeout(120)
        c.send(b"Subject: busy\r\n\r\nb\r\n.\r\n")
        r1, r2, r3 = c.reply(), c.reply(), c.reply()
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert r1[0] == 250
    assert r2[0] == 451 and r2[1][0].startswith("4.") and "<bob@example.org>" in r2[1][0]
    assert r3[0] == 250
    # The connection is still good for the retry of bob alone.
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: busy\r\n\r\nb\r\n.\r\n")
    assert c.reply()[0] == 250
    c.close()
    assert pop3_messages(t, "bob", "hunter2")[1:] == [
        b"Return-Path: <s@example.net>\r\nSubject: busy\r\n\r\nb\r\n"]
    assert pop3_messages(t, "alice", "secret") == [
        b"Return-Path: <s@example.net>\r\nSubject: busy\r\n\r\nb\r\n"]


@NO_RECEIVED
def test_smtplib_lmtp_single_recipient(tandem):
    """Python's smtplib.LMTP (single recipient only: cpython issue 76984),
    over TCP and over the unix socket (a host starting with '/')."""
    import smtplib
    t = tandem
    msg = b"Subject: smtplib\r\n\r\nline\r\n.starts with a dot\r\n"
    with smtplib.LMTP("127.0.0.1", t.lmtp_port) as s:
        assert s.sendmail("s@example.net", ["alice@example.org"], msg) == {}
    with smtplib.LMTP(str(t.lmtp_socket)) as s:
        assert s.sendmail("s@example.net", ["alice@example.org"], msg,
                          mail_options=["BODY=8BITMIME"]) == {}
        try:
            s.sendmail("s@example.net", ["nobody@example.org"], msg)
            raise AssertionError("unknown user accepted")
        except smtplib.SMTPRecipientsRefused as e:
            assert e.recipients["nobody@example.org"][0] == 550
    want = b"Return-Path: <s@example.net>\r\n" + msg
    assert pop3_messages(t, "alice", "secret") == [want, want]


@pytest.mark.tandem_config({"limits": {"max_line": "1024", "max_bad_commands": "5"}})
def test_abuse_long_lines_nul_and_bad_commands(tandem):
    t = tandem
    c = Lmtp(t)
    assert c.cmd("LHLO mx.test")[0] == 250
    # A line over max_line: 500 5.5.6, the rest of it skipped, the session
    # goes on (RFC 5321 4.5.3.1.4).
    c.send(b"NOOP " + b"x" * 5000 + b"\r\n")
    code, text = c.reply()
    assert (code, text[0][:5]) == (500, "5.5.6")
    assert c.cmd("NOOP")[0] == 250
    # A NUL in a command line is refused.
    c.send(b"NO\x00OP\r\n")
    assert c.reply()[0] == 500
    # Garbage piles up to max_bad_commands: 421 and the connection closes.
    for _ in range(2):
        assert c.cmd("BOGUS")[0] == 500
    c.send(b"BOGUS\r\n")
    assert c.reply()[0] == 500
    assert c.reply()[0] == 421
    assert c.f.read() == b""


@NO_RECEIVED
def test_user_deleted_between_rcpt_and_data(tandem):
    t = tandem
    t.ctl("user", "add", "dave", "--password", "pw")
    c = Lmtp(t)
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<dave@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
    t.ctl("user", "del", "dave")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: late\r\n\r\nx\r\n.\r\n")
    code, text = c.reply()
    assert (code, text[0][:5]) == (550, "5.1.1")
    assert c.reply()[0] == 250
    c.close()
    assert not (t.data_dir / "mail" / "dave" / "store.db").exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_unix_socket_path_too_long_is_refused(tandem, workers):
    """A unix socket path longer than sun_path holds is refused at start
    (libuv before 1.46 would have bound a cut-short path without a word,
    and the MTA would knock at another one)."""
    from conftest import DAEMONS, need
    need("lmtpd")
    d = tandem.root / ("d" * 110)
    d.mkdir()
    path = d / "lmtp.sock"
    cfg = tandem.config_path.read_text()
    cfg = re.sub(r"(?m)^listen = 127\.0\.0\.1:%d unix:.*$" % tandem.lmtp_port,
                 f"listen = unix:{path}", cfg)
    cfg = cfg.replace("[server]\n", f"[server]\nworkers = {workers}\n", 1)
    conf = tandem.root / "long.conf"
    conf.write_text(cfg)
    r = subprocess.run([str(DAEMONS["lmtpd"]), "-c", str(conf)],
                       capture_output=True, timeout=30)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0, out
    assert f"cannot listen on unix:{path}: path too long" in out, out
    assert not any(p.name.startswith("lmtp.s") for p in d.iterdir())  # no cut-short socket
