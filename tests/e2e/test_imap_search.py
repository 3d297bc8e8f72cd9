"""SEARCH and UID SEARCH against the real tandem-imapd (RFC 9051 6.4.4,
6.4.9; RFC 3501; RFC 4731 ESEARCH; RFC 5182 SAVE/$; RFC 7162 MODSEQ;
RFC 5032 WITHIN), with imaplib and raw sockets."""
import base64
import imaplib
import re

from test_imap_fetch import Raw, login, tagged

M1 = (b"From: Alice Example <alice@example.org>\r\n"
      b"To: bob@example.org\r\n"
      b"Cc: carol@example.org\r\n"
      b"Subject: Quarterly report\r\n"
      b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
      b"X-Color: Blue\r\n"
      b"\r\n"
      b"The numbers look GOOD this quarter.\r\n")
M2 = (b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\r\n"
      b"To: alice@example.org\r\n"
      b"Subject: =?ISO-8859-1?Q?=DCber_den_Stra=DFenbau?=\r\n"
      b"Date: 15 Apr 2026 08:00:00 +0200\r\n"
      b"MIME-Version: 1.0\r\n"
      b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
      b"\r\n"
      b"--b1\r\n"
      b"Content-Type: text/plain; charset=iso-8859-1\r\n"
      b"Content-Transfer-Encoding: quoted-printable\r\n"
      b"\r\n"
      b"Gr=FC=DFe aus M=FCnchen, soft=\r\nbreak word\r\n"
      b"--b1\r\n"
      b"Content-Type: text/plain; charset=utf-8\r\n"
      b"Content-Transfer-Encoding: base64\r\n"
      b"\r\n" + base64.encodebytes("Привет, секретное слово ZEBRA".encode())
      .replace(b"\n", b"\r\n") +
      b"--b1--\r\n")
M3 = (b"From: bob@example.org\r\n"
      b"To: alice@example.org\r\n"
      b"Subject: lunch\r\n"
      b"Date: Tue, 20 Oct 2026 12:00:00 +0000\r\n"
      b"\r\n" + b"filler line\r\n" * 3000 + b"needle at the end\r\n")


def three(t):
    for m in (M1, M2, M3):
        t.deliver("alice", m)


def search(m, *crit, uid=False):
    if uid:
        typ, data = m.uid("SEARCH", *crit)
    else:
        typ, data = m.search(None, *crit)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


def test_search_keys(tandem):
    three(tandem)
    m = login(tandem)
    m.select("INBOX")
    assert search(m, "ALL") == [1, 2, 3]
    assert search(m, "FROM", "alice") == [1]
    assert search(m, "TO", "alice@example.org") == [2, 3]
    assert search(m, "CC", "CAROL") == [1]
    assert search(m, "BCC", "x") == []
    assert search(m, "SUBJECT", "quarterly") == [1]
    assert search(m, "HEADER", "X-Color", "blue") == [1]
    assert search(m, "HEADER", "X-Color", '""') == [1]
    assert search(m, "BODY", "good") == [1]
    assert search(m, "BODY", "needle") == [3]
    assert search(m, "BODY", "Subject") == []
    assert search(m, "TEXT", "quarterly") == [1]
    assert search(m, "LARGER", "10000") == [3]
    assert search(m, "SMALLER", "10000") == [1, 2]
    assert search(m, "NOT", "FROM", "bob") == [1, 2]
    assert search(m, "OR", "FROM", "alice", "SUBJECT", "lunch") == [1, 3]
    assert search(m, "(FROM", "bob", "SUBJECT", "lunch)") == [3]
    assert search(m, "2:*") == [2, 3]
    assert search(m, "1,3", "NOT", "3") == [1]
    assert search(m, "UID", "2") == [2]
    assert search(m, "SENTBEFORE", "1-Apr-2026") == [1]
    assert search(m, "SENTON", "15-Apr-2026") == [2]
    assert search(m, "SENTSINCE", "15-Apr-2026") == [2, 3]
    assert search(m, "SINCE", "1-Jan-2020") == [1, 2, 3]
    assert search(m, "BEFORE", "1-Jan-2020") == []
    assert search(m, "YOUNGER", "3600") == [1, 2, 3]
    assert search(m, "OLDER", "3600") == []
    m.logout()


def test_search_flags(tandem):
    three(tandem)
    m = login(tandem)
    m.select("INBOX")
    m.store("1", "+FLAGS", r"(\Seen \Flagged)")
    m.store("2", "+FLAGS", r"(\Answered $Label1)")
    m.store("3", "+FLAGS", r"(\Deleted \Draft)")
    assert search(m, "SEEN") == [1]
    assert search(m, "UNSEEN") == [2, 3]
    assert search(m, "FLAGGED") == [1]
    assert search(m, "UNFLAGGED") == [2, 3]
    assert search(m, "ANSWERED") == [2]
    assert search(m, "UNANSWERED") == [1, 3]
    assert search(m, "DELETED") == [3]
    assert search(m, "UNDELETED") == [1, 2]
    assert search(m, "DRAFT") == [3]
    assert search(m, "UNDRAFT") == [1, 2]
    assert search(m, "KEYWORD", "$Label1") == [2]
    assert search(m, "UNKEYWORD", "$Label1") == [1, 3]
    assert search(m, "RECENT") == [1, 2, 3]
    assert search(m, "NEW") == [2, 3]
    assert search(m, "OLD") == []
    m.logout()


def test_search_decoded_text(tandem):
    three(tandem)
    m = login(tandem)
    m.select("INBOX")
    # RFC 2047 headers, Latin-1 QP body and UTF-8 base64 body, any case
    for crit, want in ((("FROM", "jürgen"), [2]), (("FROM", "MÜLLER"), [2]),
                       (("SUBJECT", "straßenbau"), [2]),
                       (("SUBJECT", "über"), [2]),
                       (("BODY", "grüße aus münchen"), [2]),
                       (("BODY", "softbreak"), [2]),
                       (("BODY", "ПРИВЕТ"), [2]), (("BODY", "zebra"), [2]),
                       (("TEXT", "секретное"), [2])):
        arg = crit[1].encode()
        m.literal = arg
        typ, data = m.search("UTF-8", crit[0])
        assert typ == "OK"
        assert [int(x) for x in data[0].split()] == want, crit
    m.logout()


def test_search_uid_and_charset(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    r.cmd("STORE 1 +FLAGS (\\Deleted)")
    r.cmd("EXPUNGE")
    out = r.cmd("UID SEARCH ALL")
    assert out[0] == b"* SEARCH 2 3\r\n"
    out = r.cmd("SEARCH ALL")
    assert out[0] == b"* SEARCH 1 2\r\n"
    out = r.cmd("SEARCH CHARSET US-ASCII SUBJECT lunch")
    assert out[0] == b"* SEARCH 2\r\n"
    out = r.cmd("SEARCH CHARSET KOI8-R SUBJECT lunch")
    assert tagged(out) == b"NO" and b"[BADCHARSET (UTF-8 US-ASCII)]" in out[-1]
    out = r.cmd("SEARCH FROB")
    assert tagged(out) == b"BAD"
    out = r.cmd("SEARCH SINCE 31-Feb-2026")
    assert tagged(out) == b"BAD"
    out = r.cmd("SEARCH OR ALL")
    assert tagged(out) == b"BAD"
    out = r.cmd("SEARCH " + "NOT " * 1000 + "ALL")
    assert tagged(out) == b"BAD"
    out = r.cmd("SEARCH " + "(" * 1000 + "ALL" + ")" * 1000)
    assert tagged(out) == b"BAD"
    out = r.cmd("SEARCH UNDELETED")
    assert tagged(out) == b"OK"
    r.close()


def test_esearch_and_save(tandem):
    three(tandem)
    r = Raw(tandem)
    caps = r.cmd("CAPABILITY")[0]
    assert b"ESEARCH" in caps
    r.cmd("SELECT INBOX")
    out = r.cmd("SEARCH RETURN (MIN MAX COUNT) ALL")
    assert out[0] == b'* ESEARCH (TAG "X4") MIN 1 MAX 3 COUNT 3\r\n'
    out = r.cmd("UID SEARCH RETURN () TO alice")
    assert out[0] == b'* ESEARCH (TAG "X5") UID ALL 2:3\r\n'
    out = r.cmd("SEARCH RETURN (COUNT) SUBJECT nothing-matches")
    assert out[0] == b'* ESEARCH (TAG "X6") COUNT 0\r\n'
    out = r.cmd("SEARCH RETURN (SAVE) FROM bob")
    assert len(out) == 1 and tagged(out) == b"OK"
    out = r.cmd("SEARCH $")
    assert out[0] == b"* SEARCH 3\r\n"
    out = r.cmd("UID SEARCH OR $ 1")
    assert out[0] == b"* SEARCH 1 3\r\n"
    out = r.cmd("SEARCH RETURN (BOGUS) ALL")
    assert tagged(out) == b"BAD"
    r.close()


def test_rev2_gets_esearch(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("ENABLE IMAP4rev2")
    r.cmd("SELECT INBOX")
    out = r.cmd("SEARCH TO alice")
    assert out[0] == b'* ESEARCH (TAG "X4") ALL 2:3\r\n'
    out = r.cmd("UID SEARCH NOT ALL")
    assert out[0] == b'* ESEARCH (TAG "X5") UID\r\n'
    r.close()


def test_search_modseq(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    out = r.cmd("FETCH 1:3 (MODSEQ)")
    ms = [int(re.search(rb"MODSEQ \((\d+)\)", l).group(1)) for l in out[:3]]
    r.cmd("STORE 2 +FLAGS (\\Seen)")
    out = r.cmd("FETCH 2 (MODSEQ)")
    m2 = int(re.search(rb"MODSEQ \((\d+)\)", out[0]).group(1))
    assert m2 > max(ms)
    out = r.cmd(f"SEARCH MODSEQ {max(ms) + 1}")
    assert out[0] == f"* SEARCH 2 (MODSEQ {m2})\r\n".encode()
    out = r.cmd(f'SEARCH MODSEQ "/flags/\\\\seen" all {max(ms) + 1}')
    assert out[0] == f"* SEARCH 2 (MODSEQ {m2})\r\n".encode()
    r.close()


def test_search_no_expunge_by_msn(tandem):
    three(tandem)
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    m = login(tandem)
    m.select("INBOX")
    m.store("1", "+FLAGS", r"(\Deleted)")
    m.expunge()
    m.logout()
    out = r.cmd("SEARCH ALL")
    # MSNs unchanged (message 1 is gone but keeps its number until the
    # EXPUNGE can be sent)
    assert not any(l.endswith(b"EXPUNGE\r\n") for l in out)
    assert out[0] == b"* SEARCH 2 3\r\n"
    out = r.cmd("NOOP")
    assert b"* 1 EXPUNGE\r\n" in out
    r.close()


def _part(ctype, cte, body):
    return (f"--b2\r\nContent-Type: {ctype}\r\n"
            f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode() + body + b"\r\n"


def test_search_body_charsets_and_slices(tandem):
    # Text across the store's 64 KiB chunks, QP soft breaks, base64 lines,
    # Latin-1/Windows/KOI8/Shift_JIS parts and folded non-ASCII letters:
    # what BODY finds must not depend on how the bytes are cut or coded.
    filler = b"abcdefghij" * 6553 + b"ab"  # the next line starts at 65 532
    utf8 = ("Größe ÆRGER Łódź ΣΟΦΙΑ Ѡмега "
            "Привет Straße quarterly").encode()
    b64 = base64.encodebytes(filler + b"\n" + utf8 + b"\n").replace(b"\n", b"\r\n")
    qp = (b"Gr=FC=DFe, Stra=DF=\r\ne, ol=\r\nd-Fashioned Caf=E9=\r\n\r\n"
          b"=C6bler line\r\n")
    msg = (b"From: x@example.org\r\nTo: y@example.org\r\nSubject: mix\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n" +
           _part("text/plain; charset=utf-8", "8bit",
                 filler + b"\r\nNEEDLE\xc3\x84-over-the-edge\r\n") +
           _part("text/plain; charset=utf-8", "base64", b64) +
           _part("text/plain; charset=iso-8859-1", "quoted-printable", qp) +
           _part("text/plain; charset=windows-1252", "8bit",
                 "Euro € sign, “quoted” Œuvre".encode("cp1252")) +
           _part("text/plain; charset=koi8-r", "8bit",
                 "Рыба KOI-Word".encode("koi8-r")) +
           _part("text/plain; charset=shift_jis", "8bit",
                 "日本語 ascii-in-sjis".encode("shift_jis")) +
           _part("application/octet-stream", "base64",
                 base64.encodebytes(b"hidden-binary-word")) +
           b"--b2--\r\n")
    tandem.deliver("alice", msg)
    tandem.deliver("alice", M1)
    m = login(tandem)
    m.select("INBOX")
    for needle, want in (("needleä-over", [1]), ("NEEDLEÄ-OVER-THE-EDGE", [1]),
                         ("ab\r\nneedle", [1]), ("größe ærger", [1]),
                         ("ŁÓDŹ σοφια", [1]), ("ѡМЕГА привет", [1]),
                         ("STRASSE", []), ("straße QUARTERLY", [1]),
                         ("jabcdefghij", [1]), ("grüße, straße", [1]),
                         ("old-fashioned café", [1]), ("æbler", [1]),
                         ("€ sign, “quoted” œuvre", [1]), ("euro", [1]),
                         ("рыба koi-word", [1]), ("РЫБА", [1]),
                         ("日本語 ASCII-IN-SJIS", [1]), ("hidden-binary", []),
                         ("quarter", [1, 2]), ("QUARTER.", [2]),
                         ("zzz-nothing", [])):
        m.literal = needle.encode()
        typ, data = m.search("UTF-8", "BODY")
        assert typ == "OK"
        assert [int(x) for x in data[0].split()] == want, needle
    m.literal = "Łódź".encode()
    typ, data = m.search("UTF-8", "TEXT")
    assert [int(x) for x in data[0].split()] == [1]
    typ, data = m.search(None, "TEXT", "x@EXAMPLE.org")
    assert [int(x) for x in data[0].split()] == [1]
    m.logout()
