"""FETCH and UID FETCH against the real tandem-imapd (RFC 9051 6.4.5, 6.4.9;
RFC 3501; RFC 3516 BINARY; RFC 7162 CONDSTORE/QRESYNC), with imaplib and
raw sockets; ENVELOPE/BODYSTRUCTURE/BODY[section] compared with Dovecot."""
import imaplib
import re
import socket

import pytest

from conftest import need

MSG1 = (b"From: Alice <alice@example.org>\r\n"
        b"To: Bob <bob@example.org>, carol@example.org\r\n"
        b"Subject: hello\r\n"
        b"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <m1@example.org>\r\n"
        b"\r\n"
        b"line one\r\nline two\r\n")

MSG2 = (b"From: bob@example.org\r\n"
        b"Subject: multi\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
        b"\r\n"
        b"preamble\r\n"
        b"--XX\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"part one\r\n"
        b"--XX\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"AAECAwQFBgcICQ==\r\n"
        b"--XX--\r\n")


def connect(t):
    need("imapd")
    return imaplib.IMAP4("127.0.0.1", t.imap_port, timeout=30)


def login(t, user="alice", pw="secret", rev2=False):
    m = connect(t)
    m.login(user, pw)
    if rev2:
        m._simple_command("ENABLE", "IMAP4rev2")
    return m


class Raw:
    """A raw IMAP connection: send lines, read replies up to the tag."""

    def __init__(self, t, user="alice", pw="secret"):
        need("imapd")
        self.s = socket.create_connection(("127.0.0.1", t.imap_port), timeout=30)
        self.f = self.s.makefile("rb")
        self.f.readline()
        self.n = 0
        if user:
            self.cmd(f"LOGIN {user} {pw}")

    def read_reply(self):
        """One response line with its literals inlined."""
        line = self.f.readline()
        out = line
        while True:
            mm = re.search(rb"~?\{(\d+)\}\r\n$", line)
            if not mm:
                return out
            out += self.f.read(int(mm.group(1)))
            line = self.f.readline()
            out += line

    def cmd(self, text):
        self.n += 1
        tag = f"X{self.n}".encode()
        if isinstance(text, str):
            text = text.encode()
        self.s.sendall(tag + b" " + text + b"\r\n")
        lines = []
        while True:
            r = self.read_reply()
            if not r:
                raise EOFError(b"".join(lines))
            lines.append(r)
            if r.startswith(tag + b" "):
                return lines

    def close(self):
        self.s.close()


def tagged(lines):
    return lines[-1].split(b" ", 2)[1]


def test_fetch_basic_items(tandem):
    tandem.deliver("alice", MSG1)
    tandem.deliver("alice", MSG2)
    m = login(tandem)
    m.select("INBOX")
    typ, data = m.fetch("1:2", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert typ == "OK"
    assert f"RFC822.SIZE {len(MSG1)}".encode() in data[0]
    assert f"RFC822.SIZE {len(MSG2)}".encode() in data[1]
    assert b"UID 1 " in data[0] and b"INTERNALDATE \"" in data[0]
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == MSG1
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    m.logout()


def lit(out, name):
    """The literal following `name {n}\\r\\n` in one response."""
    i = out.index(name)
    mm = re.compile(rb" ~?\{(\d+)\}\r\n").match(out, i + len(name))
    assert mm, out[i:i + 80]
    n = int(mm.group(1))
    return out[mm.end():mm.end() + n]


def test_fetch_sections(tandem):
    tandem.deliver("alice", MSG2)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    hdr, body = MSG2.split(b"\r\n\r\n", 1)
    out = r.cmd("FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[TEXT])")[0]
    assert lit(out, b"BODY[HEADER]") == hdr + b"\r\n\r\n"
    assert lit(out, b"BODY[TEXT]") == body
    out = r.cmd("FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[2])")[0]
    assert lit(out, b"BODY[1]") == b"part one"
    assert lit(out, b"BODY[2.MIME]") == (b"Content-Type: application/octet-stream\r\n"
                                        b"Content-Transfer-Encoding: base64\r\n\r\n")
    assert lit(out, b"BODY[2]") == b"AAECAwQFBgcICQ=="
    out = r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (subject FROM)])")[0]
    assert lit(out, b"BODY[HEADER.FIELDS (SUBJECT FROM)]") == (
        b"From: bob@example.org\r\nSubject: multi\r\n\r\n")
    out = r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (Subject From MIME-Version)])")[0]
    assert b"Subject" not in out and b"Content-Type: multipart/mixed" in out
    # partial: origin echoed, length cut, past the end empty
    out = r.cmd("FETCH 1 (BODY.PEEK[]<6.10> BODY.PEEK[1]<100.5>)")[0]
    assert lit(out, b"BODY[]<6>") == MSG2[6:16]
    assert lit(out, b"BODY[1]<100>") == b""
    # a part that does not exist is empty, as in Dovecot
    out = r.cmd("FETCH 1 (BODY.PEEK[7])")
    assert out[-1].split()[1] == b"OK"
    out = r.cmd("FETCH 1 (RFC822.HEADER RFC822.SIZE)")[0]
    assert lit(out, b"RFC822.HEADER") == hdr + b"\r\n\r\n"
    assert b"\\Seen" not in out
    out = r.cmd("FETCH 1 (RFC822.TEXT)")[0]
    assert lit(out, b"RFC822.TEXT") == body and b"\\Seen" in out
    assert tagged(r.cmd("FETCH 1 (BODY[HEADER.FIELDS])")) == b"BAD"
    assert tagged(r.cmd("FETCH 1 (BOGUS)")) == b"BAD"
    assert tagged(r.cmd("FETCH 1 ()")) == b"BAD"
    r.close()


def test_fetch_binary(tandem):
    tandem.deliver("alice", MSG2)
    tandem.deliver("alice", MSG2.replace(b"base64", b"x-uuencode"))
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1])")
    assert tagged(out) == b"OK"
    assert b"BINARY[2] ~{10}\r\n" + bytes(range(10)) in out[0]
    assert b"BINARY.SIZE[2] 10" in out[0]
    assert b"BINARY[1] {8}\r\npart one" in out[0]  # identity, no NUL
    out = r.cmd("FETCH 1 (BINARY.PEEK[2]<2.3>)")
    # literal8 because the decoded part holds NUL (Dovecot decides per part)
    assert b"BINARY[2]<2> ~{3}\r\n\x02\x03\x04" in out[0]
    out = r.cmd("FETCH 1 (FLAGS)")
    assert b"\\Seen" not in out[0]
    out = r.cmd("FETCH 2 (BINARY.PEEK[2])")
    assert tagged(out) == b"NO" and b"[UNKNOWN-CTE]" in out[-1]
    out = r.cmd("FETCH 1 (BINARY[2])")
    assert b"\\Seen" in out[0]
    r.close()


def test_fetch_nul_bytes(tandem):
    msg = b"Subject: nul\r\n\r\nab\x00cd\r\n"
    tandem.deliver("alice", msg)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1 (BODY.PEEK[TEXT] BINARY.PEEK[1] BINARY.PEEK[])")
    # BODY[] as the bytes are (like Dovecot); BINARY as literal8
    assert b"BODY[TEXT] {7}\r\nab\x00cd\r\n" in out[0]
    assert b"BINARY[1] ~{7}\r\nab\x00cd\r\n" in out[0]
    assert b"BINARY[] ~{%d}\r\n" % len(msg) + msg in out[0]
    r.close()


def test_fetch_implicit_seen(tandem):
    tandem.deliver("alice", MSG1)
    tandem.deliver("alice", MSG1)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1 (BODY.PEEK[])")
    assert b"FLAGS" not in out[0]
    out = r.cmd("FETCH 1:2 (BODY[TEXT])")
    fetches = [l for l in out if l.startswith(b"* ") and b" FETCH (" in l]
    # the \Seen change is reported inside the FETCH responses, once
    assert len(fetches) == 2
    assert all(b"FLAGS (\\Seen" in l for l in fetches)
    out = r.cmd("FETCH 1:2 (BODY[TEXT])")
    assert not any(b"FLAGS" in l for l in out)
    o = Raw(tandem)
    o.cmd("EXAMINE INBOX")
    out = o.cmd("FETCH 1:2 FLAGS")
    assert all(b"\\Seen" in l for l in out[:-1])
    o.close()
    r.close()


def test_fetch_read_only_does_not_set_seen(tandem):
    tandem.deliver("alice", MSG1)
    r = Raw(tandem)
    r.cmd("EXAMINE INBOX")
    out = r.cmd("FETCH 1 (RFC822 FLAGS)")
    assert lit(out[0], b"RFC822") == MSG1
    assert b"\\Seen" not in out[0]
    r.close()


def test_fetch_macros_and_revisions(tandem):
    tandem.deliver("alice", MSG1)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1 FAST")[0]
    assert b"FLAGS (\\Recent)" in out  # IMAP4rev1: \Recent
    assert b"INTERNALDATE" in out and b"RFC822.SIZE" in out
    assert b"ENVELOPE" not in out
    out = r.cmd("FETCH 1 ALL")[0]
    assert b'ENVELOPE ("Wed, 25 Nov 2026 10:00:00 +0000" "hello" (("Alice" NIL "alice" "example.org"))' in out
    assert b"BODY (" not in out
    out = r.cmd("FETCH 1 FULL")[0]
    assert b'BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 20 2)' in out
    out = r.cmd("FETCH 1 BODYSTRUCTURE")[0]
    assert b'BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 20 2 NIL NIL NIL NIL)' in out
    r.close()
    r = Raw(tandem)
    r.cmd("ENABLE IMAP4rev2")
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1 FLAGS")[0]
    assert b"FLAGS ()" in out  # IMAP4rev2 has no \Recent
    r.close()


def test_fetch_sequence_sets(tandem):
    for i in range(4):
        tandem.deliver("alice", MSG1)
    r = Raw(tandem)
    out = r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 3:1 (UID)")
    assert [l.split()[1] for l in out[:-1]] == [b"1", b"2", b"3"]
    out = r.cmd("FETCH *:3 (UID)")
    assert [l.split()[1] for l in out[:-1]] == [b"3", b"4"]
    out = r.cmd("FETCH 1,3,2:2 (UID)")
    assert len(out) == 4
    assert tagged(r.cmd("FETCH 5 (UID)")) == b"BAD"
    assert tagged(r.cmd("FETCH 0 (UID)")) == b"BAD"
    assert tagged(r.cmd("FETCH 1:x (UID)")) == b"BAD"
    # UID FETCH: UID always there, unknown UIDs are no error
    out = r.cmd("UID FETCH 2:3 (FLAGS)")
    assert b"UID 2" in out[0] and b"UID 3" in out[1]
    out = r.cmd("UID FETCH 100:200 (FLAGS)")
    assert out[-1].split()[1] == b"OK" and len(out) == 1
    out = r.cmd("UID FETCH 9:* (FLAGS)")  # "*" is the highest UID: 4
    assert len(out) == 2 and b"UID 4" in out[0]
    r.cmd("CREATE Empty")
    r.cmd("SELECT Empty")
    assert tagged(r.cmd("FETCH 1:* (UID)")) == b"BAD"
    assert tagged(r.cmd("UID FETCH 1:* (UID)")) == b"OK"
    r.close()


def test_fetch_condstore_changedsince(tandem):
    for i in range(3):
        tandem.deliver("alice", MSG1)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1:3 (MODSEQ)")
    ms = [int(re.search(rb"MODSEQ \((\d+)\)", l).group(1)) for l in out[:-1]]
    top = max(ms)
    r.cmd("STORE 2 +FLAGS.SILENT (\\Flagged)")
    out = r.cmd(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {top})")
    fetches = [l for l in out if l.startswith(b"* ") and b" FETCH (" in l]
    assert len(fetches) == 1 and fetches[0].startswith(b"* 2 FETCH")
    assert b"MODSEQ (" in fetches[0] and b"\\Flagged" in fetches[0]
    # with CONDSTORE on, FLAGS come with MODSEQ
    out = r.cmd("FETCH 1 (FLAGS)")
    assert b"MODSEQ (" in out[0]
    assert tagged(r.cmd("FETCH 1 (FLAGS) (CHANGEDSINCE x)")) == b"BAD"
    assert tagged(r.cmd("FETCH 1 (FLAGS) (VANISHED)")) == b"BAD"
    r.close()


def test_fetch_qresync_vanished(tandem):
    for i in range(5):
        tandem.deliver("alice", MSG1)
    r = Raw(tandem)
    r.cmd("ENABLE QRESYNC")
    out = r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1:5 (MODSEQ)")
    top = max(int(re.search(rb"MODSEQ \((\d+)\)", l).group(1)) for l in out[:-1])
    o = Raw(tandem)
    o.cmd("SELECT INBOX")
    o.cmd("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    o.cmd("EXPUNGE")
    o.cmd("UID STORE 5 +FLAGS.SILENT (\\Flagged)")
    o.close()
    r.cmd("NOOP")
    out = r.cmd(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {top} VANISHED)")
    assert b"* VANISHED (EARLIER) 2,4\r\n" in out, out
    fetches = [l for l in out if l.startswith(b"* ") and b" FETCH (" in l]
    assert len(fetches) == 1 and b"UID 5" in fetches[0]
    assert tagged(r.cmd(f"FETCH 1 (FLAGS) (CHANGEDSINCE {top} VANISHED)")) == b"BAD"
    r.close()


def test_fetch_objectid_savedate(tandem):
    tandem.deliver("alice", MSG1)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1 (EMAILID THREADID SAVEDATE)")[0]
    assert re.search(rb"EMAILID \([A-Za-z0-9_-]+\)", out), out
    assert re.search(rb"THREADID (\([A-Za-z0-9_-]+\)|NIL)", out)
    assert re.search(rb'SAVEDATE "\d\d-[A-Z][a-z][a-z]-\d{4} \d\d:\d\d:\d\d [+-]\d{4}"', out)
    r.close()


def test_fetch_expungeissued(tandem):
    for i in range(3):
        tandem.deliver("alice", MSG1)
    a, b = Raw(tandem), Raw(tandem)
    a.cmd("SELECT INBOX")
    b.cmd("SELECT INBOX")
    b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.cmd("EXPUNGE")
    out = a.cmd("FETCH 1:3 (UID)")
    assert out[-1].split()[1] == b"NO" and b"[EXPUNGEISSUED]" in out[-1]
    assert [l.split()[1] for l in out[:-1]] == [b"1", b"3"]
    # by UID the expunged message is just left out; EXPUNGE comes first
    out = a.cmd("UID FETCH 1:* (UID)")
    assert tagged(out) == b"OK" and b"* 2 EXPUNGE\r\n" in out
    a.close()
    b.close()


def big_message(size):
    """A message of about `size` bytes: base64 lines of varied content."""
    import base64
    import hashlib
    head = b"From: big@example.org\r\nSubject: big\r\n\r\n"
    blocks = []
    seed = b"x"
    total = len(head)
    while total < size:
        seed = hashlib.sha512(seed).digest()
        line = base64.b64encode(seed * 1)[:76] + b"\r\n"
        blocks.append(line)
        total += len(line)
    return head + b"".join(blocks)


def sanitized_build():
    import json
    from conftest import BUILD
    try:
        opts = json.loads((BUILD / "meson-info" / "intro-buildoptions.json").read_text())
    except OSError:
        return False
    return any(o["name"] == "sanitize" and o["value"] in (True, "true")
               for o in opts)


def vm_hwm(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def fetch_concurrently(tandem, size, n, timeout):
    """Delivers one message of size bytes, then n clients FETCH BODY.PEEK[]
    of it at once. Asserts every copy is exact and the reply well formed;
    returns how much imapd's peak RSS grew meanwhile (None under ASan,
    whose quarantine keeps freed slices: RSS says nothing there)."""
    import hashlib
    import threading
    msg = big_message(size)
    size = len(msg)  # big_message rounds to whole lines
    want = hashlib.sha256(msg).hexdigest()
    tandem.deliver("alice", msg)
    del msg
    pid = tandem.procs["imapd"].pid
    # one client first: the MIME tree (stored at delivery) and one pass
    # over the body, so what the daemon holds for any reader of these
    # bytes (the store's mapping of a big body) counts before, and the
    # growth below is what the concurrent readers add
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1 (RFC822.SIZE BODYSTRUCTURE)")
    assert f"RFC822.SIZE {size}".encode() in out[0]
    out = r.cmd("FETCH 1 (BODY.PEEK[])")
    assert len(out[0]) > size
    del out
    r.close()
    before = vm_hwm(pid)
    results = [None] * n
    conns = []
    for _ in range(n):
        c = Raw(tandem)
        c.cmd("SELECT INBOX")
        conns.append(c)
    go = threading.Barrier(n)

    def worker(i):
        c = conns[i]
        go.wait()
        c.s.sendall(b"B1 FETCH 1 (BODY.PEEK[])\r\n")
        head = c.f.readline()
        got = int(re.search(rb"\{(\d+)\}\r\n$", head).group(1))
        h = hashlib.sha256()
        left = got
        while left:
            chunk = c.f.read(min(left, 1 << 20))
            assert chunk
            h.update(chunk)
            left -= len(chunk)
        results[i] = (got, h.hexdigest(), c.f.readline(), c.f.readline())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout)
    for c in conns:
        c.close()
    after = vm_hwm(pid)
    for res in results:
        assert res is not None
        got, digest, tail, done = res
        assert got == size and digest == want
        assert tail == b")\r\n" and done.startswith(b"B1 OK")
    return None if sanitized_build() else after - before


def test_fetch_large_message_concurrent_memory(tandem):
    """Several clients fetch one 20 MB message at once: the bytes are exact
    and the daemon's peak RSS grows by far less than clients x size
    (bodies stream in slices under backpressure)."""
    size = 20 * 1024 * 1024
    grew = fetch_concurrently(tandem, size, 8, 120)
    # measured: ~1.6 MB for one client, ~23 MB for 8 or 16 (160/320 MB if
    # each held a copy)
    if grew is not None:
        assert grew < 2 * size, f"peak RSS grew by {grew} bytes"


DOVECOT_CASES = ["py-msg_02.msg", "py-msg_10.msg", "py-msg_21.msg", "py-msg_33.msg",
                 "py-msg_07.msg", "py-msg_13.msg", "py-msg_22.msg", "py-msg_38.msg",
                 "crafted/digest.msg", "crafted/addresses.msg", "crafted/rfc2231.msg",
                 "crafted/broken-missing-final.msg"]
DOVECOT_ITEMS = ["ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.SIZE", "BODY.PEEK[]",
                 "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]", "BODY.PEEK[1]", "BODY.PEEK[1.MIME]",
                 "BODY.PEEK[2]", "BODY.PEEK[2.HEADER]", "BODY.PEEK[2.TEXT]", "BODY.PEEK[3.1]",
                 "BODY.PEEK[HEADER.FIELDS (From Subject Content-Type)]",
                 "BODY.PEEK[1]<3.20>", "BINARY.PEEK[1]", "BINARY.SIZE[1]",
                 "BINARY.PEEK[2]", "BINARY.SIZE[2]", "BINARY.PEEK[2]<10.30>",
                 "BODY.PEEK[2.MIME]", "BODY.PEEK[1.2]", "BINARY.PEEK[1.2]",
                 "BODY.PEEK[1.HEADER.FIELDS.NOT (Content-Type)]",
                 "BODY.PEEK[HEADER.FIELDS.NOT (Received Subject)]", "BODY.PEEK[]<0.50>"]


def crlf(b):
    return re.sub(rb"(?<!\r)\n", b"\r\n", b)


# Known differences, not FETCH's: py-msg_38 has boundary lines with
# trailing blanks inside a text part, and Dovecot's BODY[1] carries two
# bytes more than Tandem's: the CRLF in front of the outer delimiter line,
# which RFC 2046 5.1.1 attaches to the delimiter (Dovecot is wrong here;
# test_msg38_part_ends_before_delimiter_crlf asserts Tandem's answer
# byte for byte; BODYSTRUCTURE agrees); BINARY of a
# message/rfc822 part is re-encoded by Dovecot (nested base64 parts turned
# binary, headers rewritten), Tandem sends it undecoded (RFC 3516 4.2:
# message parts are not decoded).
DOVECOT_KNOWN = {("py-msg_38.msg", "BODY.PEEK[1]"), ("py-msg_38.msg", "BINARY.PEEK[1]"),
                 ("py-msg_38.msg", "BINARY.SIZE[1]"), ("py-msg_13.msg", "BINARY.PEEK[2]"),
                 ("py-msg_13.msg", "BINARY.SIZE[2]"), ("py-msg_13.msg", "BINARY.PEEK[2]<10.30>")}


def test_msg38_part_ends_before_delimiter_crlf(tandem):
    """py-msg_38: part 1 (multipart "aaaaaaaaaa1") ends where the outer
    delimiter line "------- =_aaaaaaaaaa0 " starts. The line counts as a
    delimiter although a blank follows the boundary (RFC 2046 5.1.1:
    "boundary delimiter line ... *LWSP-char"), and "the CRLF preceding
    the boundary delimiter line is conceptually attached to the boundary
    so that it is possible to have a part that does not end with a CRLF".
    So BODY[1] (RFC 3501 6.4.5: the part's content, without its MIME
    header) ends with "and", not with "and \r\n". Debian's Dovecot sends
    the two bytes more (its header-only part 1.2, "and ", keeps the CRLF
    that belongs to the delimiter): Dovecot is wrong by the RFC, and
    test_fetch_same_as_dovecot lists this case in DOVECOT_KNOWN."""
    from pathlib import Path
    data = Path(__file__).resolve().parents[1] / "data" / "mime"
    raw = crlf((data / "py-msg_38.msg").read_bytes())
    tandem.deliver("alice", raw)
    # independent of core/mime: the part starts after the first blank
    # line that follows the first outer delimiter, and stops at the CRLF
    # before the next outer delimiter line (trailing blank allowed)
    first = raw.index(b"------- =_aaaaaaaaaa0\r\n")
    start = raw.index(b"\r\n\r\n", first) + 4
    end = raw.index(b"\r\n------- =_aaaaaaaaaa0 \r\n", start)
    want = raw[start:end]
    assert want.endswith(b"outer boundary tags \r\n------- =_aaaaaaaaaa1 "
                         b"\r\nand ")
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1 (BODY.PEEK[1])")
    assert out[0] == b"* 1 FETCH (BODY[1] {%d}\r\n" % len(want) + want + \
        b")\r\n"
    # BINARY.SIZE of a multipart is its BODY[] size: the same rule
    out = r.cmd("FETCH 1 (BINARY.SIZE[1])")
    assert out[0] == b"* 1 FETCH (BINARY.SIZE[1] %d)\r\n" % len(want)
    r.close()


def fetch_item(conn, msn, item):
    out = conn.cmd(f"FETCH {msn} ({item})")
    status = out[-1].split(b" ", 2)[1]
    body = [l for l in out[:-1] if l.startswith(b"* %d FETCH (" % msn)]
    return status, body


def test_fetch_same_as_dovecot(tandem):
    """ENVELOPE, BODYSTRUCTURE and BODY[section] answers for corpus messages
    are byte for byte what Debian's Dovecot answers for the same bytes."""
    import os
    import shutil
    import tempfile
    from pathlib import Path
    import dovecot_ref
    from conftest import TMP_BASE
    if not dovecot_ref.available():
        pytest.skip("dovecot is not installed")
    data = Path(__file__).resolve().parents[1] / "data" / "mime"
    msgs = [crlf((data / name).read_bytes()) for name in DOVECOT_CASES]
    for m in msgs:
        tandem.deliver("alice", m)
    root = Path(tempfile.mkdtemp(prefix="dovecot-", dir=TMP_BASE))
    d = dovecot_ref.Dovecot(root, users={"alice": "secret"})
    md = d.maildir("alice")
    for sub in ("new", "cur", "tmp"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    # APPEND is not ours: the same bytes go straight into Maildir/new
    for i, m in enumerate(msgs):
        (md / "new" / f"{1000 + i}.M{i}P1.test,S={len(m)}").write_bytes(m)
    if os.geteuid() == 0:
        for p in [d.home("alice")] + list(d.home("alice").rglob("*")):
            shutil.chown(p, "nobody", "nogroup")
    d.start()
    try:
        dv = Raw.__new__(Raw)
        dv.s = socket.create_connection(("127.0.0.1", d.imap_port), timeout=30)
        dv.f = dv.s.makefile("rb")
        dv.f.readline()
        dv.n = 0
        assert tagged(dv.cmd("LOGIN alice secret")) == b"OK"
        assert tagged(dv.cmd("SELECT INBOX")) == b"OK"
        # Dovecot's order of new/ is its own: map by content
        dmsn = {}
        for k in range(1, len(msgs) + 1):
            _, body = fetch_item(dv, k, "BODY.PEEK[]")
            dmsn[msgs.index(lit(body[0], b"BODY[]"))] = k
        tv = Raw(tandem)
        tv.cmd("SELECT INBOX")
        diffs = []
        for i, name in enumerate(DOVECOT_CASES):
            for item in DOVECOT_ITEMS:
                if (name, item) in DOVECOT_KNOWN:
                    continue
                ts, tb = fetch_item(tv, i + 1, item)
                ds, db = fetch_item(dv, dmsn[i], item)
                tb = [re.sub(rb"^\* \d+ FETCH", b"*", l) for l in tb]
                db = [re.sub(rb"^\* \d+ FETCH", b"*", l) for l in db]
                if (ts, tb) != (ds, db):
                    diffs.append(f"{name} {item}:\n tandem  {ts} {tb!r:.300}\n dovecot {ds} {db!r:.300}")
        tv.close()
        dv.close()
        assert not diffs, "\n".join(diffs)
    finally:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_fetch_caches_mime_tree(tandem):
    """The first FETCH needing the MIME tree parses the message and stores
    the result as the body's "mime.v1" blob; later answers come from it."""
    import sqlite3
    import time
    tandem.deliver("alice", MSG2)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    first = r.cmd("FETCH 1 (BODYSTRUCTURE ENVELOPE)")
    db = tandem.data_dir / "mail" / "alice" / "store.db"
    deadline = time.time() + 30
    n = 0
    while time.time() < deadline:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            n = con.execute("SELECT count(*) FROM blob WHERE name = 'mime.v1'").fetchone()[0]
        finally:
            con.close()
        if n:
            break
        time.sleep(0.1)
    assert n == 1
    assert r.cmd("FETCH 1 (BODYSTRUCTURE ENVELOPE)")[:-1] == first[:-1]
    r.close()


def test_fetch_capabilities(tandem):
    m = login(tandem)
    typ, data = m.capability()
    caps = data[0].split()
    for c in (b"IDLE", b"MOVE", b"CONDSTORE", b"BINARY", b"SAVEDATE", b"UIDPLUS"):
        assert c in caps
    m.logout()
