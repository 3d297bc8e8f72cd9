"""Per-user quota (issue 4): one LMTP transaction, several recipients, one
of them over quota.

RFC 2033 4.2: after the final "." one reply per recipient accepted at
RCPT, in RCPT order; a full mailbox is 552 5.2.2 (RFC 3463 3.3 X.2.2) for
that recipient only, while the others get 250 and are stored. The stores
are read back over IMAP (UID FETCH BODY.PEEK[]), byte for byte. Also:
IMAP APPEND/COPY -> NO [OVERQUOTA] (RFC 9051 7.1), tandem-deliver's exit
status (sysexits: 73 bounce, 75 retry), [storage] quota_full_tempfail
(452 4.2.2), and EXPUNGE giving space back.
"""
import imaplib
import re
import socket
import subprocess

import pytest

from conftest import need

EX_CANTCREAT, EX_TEMPFAIL = 73, 75
NO_RECEIVED = {"lmtp": {"add_received": "no"}}
SENDER_HDR = b"Return-Path: <s@example.net>\r\n"


class Lmtp:
    """A raw LMTP client: exact bytes out, reply lines in."""

    def __init__(self, t):
        self.sock = socket.create_connection(("127.0.0.1", t.lmtp_port))
        self.sock.settimeout(30)
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self):
        """One (possibly multi-line) reply: (code, text of the last line)."""
        while True:
            ln = self.f.readline()
            assert ln.endswith(b"\r\n"), ln
            ln = ln[:-2].decode()
            if ln[3:4] != "-":
                return int(ln[:3]), ln[4:]

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


def lmtp_send(t, rcpts, body, sender="s@example.net"):
    """One transaction: returns ([RCPT replies], [replies after DATA])."""
    c = Lmtp(t)
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    at_rcpt = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
    accepted = sum(1 for code, _ in at_rcpt if code == 250)
    assert c.cmd("DATA")[0] == 354
    c.sock.sendall(body + b".\r\n")
    after = [c.reply() for _ in range(accepted)]
    # Nothing else was queued: the next reply is NOOP's.
    assert c.cmd("NOOP") == (250, "2.0.0 Ok")
    assert c.cmd("QUIT")[0] == 221
    c.close()
    return at_rcpt, after


def imap_login(t, user, password):
    m = imaplib.IMAP4("127.0.0.1", t.imap_port)
    m.login(user, password)
    return m


def imap_bodies(t, user, password, mailbox="INBOX"):
    """Every message of mailbox, BODY[] bytes, in UID order."""
    m = imap_login(t, user, password)
    typ, _ = m.select(mailbox, readonly=True)
    assert typ == "OK"
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert typ == "OK"
    out = [part[1] for part in data if isinstance(part, tuple)]
    m.logout()
    return out


def usage(t, user):
    """tandemctl user show USER as a dict of str -> str."""
    out = t.ctl("user", "show", user).stdout.decode()
    d = {}
    for ln in out.splitlines():
        k, _, v = ln.partition(" ")
        d[k] = v
    return d


def fill(t, user, n=1, size=300):
    """Stores n filler messages for user (tandemctl deliver); returns them
    as stored (CRLF)."""
    msgs = []
    for i in range(n):
        body = b"Subject: filler %d\r\n\r\n" % i + b"f" * size + b"\r\n"
        t.deliver(user, body)
        msgs.append(body)
    return msgs


@pytest.mark.tandem_config(NO_RECEIVED)
def test_raw_three_recipients_one_over_quota(tandem):
    """alice normal, ghost unknown (550 at RCPT), bob one octet short: after
    DATA exactly two replies, 250 for alice then 552 5.2.2 for bob."""
    t = tandem
    filler = fill(t, "bob")
    used = int(usage(t, "bob")["bytes"])
    assert used == len(filler[0])
    body = (b"Subject: quota\r\n\r\n8bit: \xc3\xa9t\xc3\xa9\r\n"
            b"..leading dot\r\nline\r\n")
    stored = SENDER_HDR + b"Subject: quota\r\n\r\n8bit: \xc3\xa9t\xc3\xa9\r\n" \
        b".leading dot\r\nline\r\n"
    # One octet short of room for this message.
    t.ctl("user", "set", "bob", "quota_bytes=%d" % (used + len(stored) - 1))

    at_rcpt, after = lmtp_send(
        t, ["alice@example.org", "ghost@example.org", "bob@example.org"], body)
    assert [c for c, _ in at_rcpt] == [250, 550, 250]
    assert at_rcpt[1][1].startswith("5.1.1 <ghost@example.org>")
    assert len(after) == 2
    assert after[0][0] == 250 and after[0][1].startswith("2.0.0 <alice@example.org>")
    assert after[1][0] == 552 and after[1][1].startswith("5.2.2 <bob@example.org>")

    # Byte-exact in alice's INBOX, absent from bob's, bob's usage unchanged.
    assert imap_bodies(t, "alice", "secret") == [stored]
    assert imap_bodies(t, "bob", "hunter2") == filler
    assert int(usage(t, "bob")["bytes"]) == used
    assert "quota" in t.log("lmtpd")

    # Exactly the room it needs: accepted (the limit may be reached, not
    # passed).
    t.ctl("user", "set", "bob", "quota_bytes=%d" % (used + len(stored)))
    _, after = lmtp_send(t, ["bob@example.org"], body)
    assert after[0][0] == 250
    assert imap_bodies(t, "bob", "hunter2") == filler + [stored]
    assert int(usage(t, "bob")["bytes"]) == used + len(stored)


def swaks(t, *args):
    need("swaks")
    return subprocess.run(["swaks", "--protocol", "LMTP", "--helo", "mx.test",
                           "--hide-informational",
                           "--server", "127.0.0.1:%d" % t.lmtp_port, *args],
                          capture_output=True, timeout=60)


def test_swaks_three_recipients_one_over_quota(tandem):
    """The same with swaks, bob full by message count (quota_messages)."""
    t = tandem
    filler = fill(t, "bob")
    t.ctl("user", "set", "bob", "quota_messages=1")
    r = swaks(t, "--from", "s@example.net",
              "--to", "alice@example.org,nobody@example.org,bob@example.org",
              "--data", "Subject: swaks quota\r\n\r\nfor one of three")
    out = r.stdout.decode()
    assert "<** 550 5.1.1 <nobody@example.org>" in out, out
    data_at = out.index("<-  354 ")
    replies = [ln for ln in out[data_at:].splitlines()
               if re.match(r"<(-|\*\*) +\d{3} ", ln)][1:]
    # After the dot: exactly one 250 and one 552 5.2.2, in RCPT order.
    finals = [ln for ln in replies if re.match(r"<(-|\*\*) +(250|552|452|451) \d\.", ln)
              and "@example.org>" in ln]
    assert len(finals) == 2, out
    assert finals[0].startswith("<-  250 2.0.0 <alice@example.org>"), out
    assert finals[1].startswith("<** 552 5.2.2 <bob@example.org>"), out

    alice = imap_bodies(t, "alice", "secret")
    assert len(alice) == 1
    assert alice[0].startswith(b"Return-Path: <s@example.net>\r\nReceived: from mx.test")
    assert alice[0].endswith(b"\r\nSubject: swaks quota\r\n\r\nfor one of three\r\n")
    assert imap_bodies(t, "bob", "hunter2") == filler


@pytest.mark.tandem_config({"storage": {"quota_messages": "1"}, **NO_RECEIVED})
def test_default_quota_and_expunge_frees_it(tandem):
    """[storage] quota_messages applies to users without their own limit;
    EXPUNGE lowers the running total so mail gets in again; a user's own 0
    means unlimited."""
    t = tandem
    body = b"Subject: n\r\n\r\nx\r\n"
    _, after = lmtp_send(t, ["bob@example.org"], body)
    assert after[0][0] == 250
    _, after = lmtp_send(t, ["bob@example.org", "alice@example.org"], body)
    assert after[0][0] == 552 and after[0][1].startswith("5.2.2 <bob@example.org>")
    assert after[1][0] == 250
    assert usage(t, "bob")["messages"] == "1"
    assert usage(t, "bob")["quota_messages"] == "1 (default)"

    m = imap_login(t, "bob", "hunter2")
    assert m.select("INBOX")[0] == "OK"
    assert m.store("1", "+FLAGS", r"(\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    m.logout()
    assert usage(t, "bob")["messages"] == "0"
    _, after = lmtp_send(t, ["bob@example.org"], body)
    assert after[0][0] == 250
    assert imap_bodies(t, "bob", "hunter2") == [SENDER_HDR + body]

    # alice's own limit (0 = unlimited) beats the default.
    t.ctl("user", "set", "alice", "quota_messages=0")
    _, after = lmtp_send(t, ["alice@example.org"], body)
    assert after[0][0] == 250
    assert len(imap_bodies(t, "alice", "secret")) == 2
    # Back to the default: over it now, refused again.
    t.ctl("user", "set", "alice", "quota_messages=default")
    _, after = lmtp_send(t, ["alice@example.org"], body)
    assert after[0][0] == 552


@pytest.mark.tandem_config({"storage": {"quota_full_tempfail": "yes"}})
def test_quota_full_tempfail(tandem):
    """quota_full_tempfail = yes: 452 4.2.2 for the full mailbox (the MTA
    keeps the message), tandem-deliver exits 75."""
    t = tandem
    fill(t, "bob")
    t.ctl("user", "set", "bob", "quota_messages=1")
    _, after = lmtp_send(t, ["alice@example.org", "bob@example.org"],
                         b"Subject: t\r\n\r\nx\r\n")
    assert after[0][0] == 250
    assert after[1][0] == 452 and after[1][1].startswith("4.2.2 <bob@example.org>")
    r = subprocess.run([str(t.build / "lmtp" / "tandem-deliver"), "-c",
                        str(t.config_path), "bob"], input=b"Subject: lda\n\nx\n",
                       capture_output=True, timeout=60)
    assert r.returncode == EX_TEMPFAIL, r.stderr.decode()
    assert len(imap_bodies(t, "bob", "hunter2")) == 1


def test_deliver_exit_code_over_quota(tandem):
    """tandem-deliver: a full mailbox exits 73 (EX_CANTCREAT: the MTA
    bounces), nothing stored; with room again it exits 0."""
    t = tandem
    exe = str(t.build / "lmtp" / "tandem-deliver")
    msg = b"Subject: lda\n\n" + b"y" * 500 + b"\n"
    t.ctl("user", "set", "bob", "quota_bytes=400")
    r = subprocess.run([exe, "-c", str(t.config_path), "bob"], input=msg,
                       capture_output=True, timeout=60)
    assert r.returncode == EX_CANTCREAT, r.stderr.decode()
    assert b"quota" in r.stderr
    assert imap_bodies(t, "bob", "hunter2") == []
    t.ctl("user", "set", "bob", "quota_bytes=1K")
    r = subprocess.run([exe, "-c", str(t.config_path), "bob"], input=msg,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert imap_bodies(t, "bob", "hunter2") == [msg.replace(b"\n", b"\r\n")]


def test_imap_append_copy_move_over_quota(tandem):
    """APPEND and COPY that would pass the limit: NO [OVERQUOTA], nothing
    stored; MOVE adds nothing and is allowed; STATUS SIZE unaffected."""
    t = tandem
    msg = b"Subject: a\r\n\r\n" + b"z" * 200 + b"\r\n"
    t.ctl("user", "set", "alice", "quota_bytes=%d" % (len(msg) + 10))
    m = imap_login(t, "alice", "secret")
    typ, data = m.append("INBOX", None, None, msg)
    assert typ == "OK", data
    typ, data = m.append("INBOX", None, None, msg)
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
    typ, data = m.status("INBOX", "(MESSAGES SIZE)")
    assert typ == "OK" and b"MESSAGES 1" in data[0] and b"SIZE %d" % len(msg) in data[0]

    assert m.select("INBOX")[0] == "OK"
    typ, data = m.copy("1", "Archive")
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
    typ, data = m.status("Archive", "(MESSAGES)")
    assert b"MESSAGES 0" in data[0]
    typ, data = m._simple_command("MOVE", "1", "Archive")
    assert typ == "OK", data
    m.logout()
    assert imap_bodies(t, "alice", "secret", "Archive") == [msg]
    assert imap_bodies(t, "alice", "secret") == []
    assert usage(t, "alice")["bytes"] == str(len(msg))


def test_tandemctl_user_set_show(tandem):
    t = tandem
    d = usage(t, "alice")
    assert d == {"user": "alice", "messages": "0", "bytes": "0",
                 "quota_bytes": "0 (default)", "quota_messages": "0 (default)"}
    t.ctl("user", "set", "alice", "quota_bytes=2M", "quota_messages=10")
    fill(t, "alice", n=2, size=100)
    d = usage(t, "alice")
    assert d["quota_bytes"] == str(2 << 20) and d["quota_messages"] == "10"
    assert d["messages"] == "2" and int(d["bytes"]) > 200
    t.ctl("user", "set", "alice", "quota_bytes=default")
    assert usage(t, "alice")["quota_bytes"] == "0 (default)"
    assert usage(t, "alice")["quota_messages"] == "10"
    assert t.ctl("user", "set", "alice", "quota_bytes=1X", check=False).returncode == 65
    assert t.ctl("user", "set", "alice", "colour=blue", check=False).returncode == 64
    assert t.ctl("user", "set", "nobody", "quota_bytes=1", check=False).returncode == 67
    assert t.ctl("user", "show", "nobody", check=False).returncode == 67
    # Dovecot's userdb extra field: storage in KiB unless a suffix says.
    t.ctl("user", "set", "alice", "quota_rule=*:storage=100:messages=7")
    d = usage(t, "alice")
    assert d["quota_bytes"] == str(100 * 1024) and d["quota_messages"] == "7"
    t.ctl("user", "set", "alice", "quota_rule=*:storage=1G")
    assert usage(t, "alice")["quota_bytes"] == str(1 << 30)
    t.ctl("user", "set", "alice", "quota_rule=*:bytes=1234")
    assert usage(t, "alice")["quota_bytes"] == "1234"
    for bad in ("Trash:storage=+100M", "*:storage=10%", "*:ignore", "*:nothing=1"):
        assert t.ctl("user", "set", "alice", "quota_rule=" + bad,
                     check=False).returncode == 65, bad
    assert usage(t, "alice")["quota_bytes"] == "1234"
    t.ctl("user", "set", "alice", "quota_bytes=default", "quota_messages=10")
    # tandemctl deliver over quota fails and stores nothing.
    t.ctl("user", "set", "alice", "quota_messages=2")
    r = t.ctl("deliver", "alice", input=b"Subject: x\n\nx\n", check=False)
    assert r.returncode != 0 and b"quota" in r.stderr
    assert usage(t, "alice")["messages"] == "2"


@pytest.mark.tandem_config(NO_RECEIVED)
def test_bdat_per_recipient_quota(tandem):
    """BDAT LAST (RFC 3030 4.2 via RFC 2033 4.2): the same per-recipient
    replies, bob (full) first this time, alice stored."""
    t = tandem
    filler = fill(t, "bob")
    t.ctl("user", "set", "bob", "quota_messages=1")
    body = b"Subject: bdat\r\n\r\nchunked\r\n"
    c = Lmtp(t)
    assert c.cmd("LHLO mx.test")[0] == 250
    assert c.cmd("MAIL FROM:<s@example.net> BODY=BINARYMIME")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
    c.sock.sendall(b"BDAT %d\r\n" % 10 + body[:10])
    assert c.reply()[0] == 250
    c.sock.sendall(b"BDAT %d LAST\r\n" % (len(body) - 10) + body[10:])
    r1, r2 = c.reply(), c.reply()
    assert r1[0] == 552 and r1[1].startswith("5.2.2 <bob@example.org>")
    assert r2[0] == 250 and r2[1].startswith("2.0.0 <alice@example.org>")
    assert c.cmd("QUIT")[0] == 221
    c.close()
    assert imap_bodies(t, "alice", "secret") == [SENDER_HDR + body]
    assert imap_bodies(t, "bob", "hunter2") == filler
