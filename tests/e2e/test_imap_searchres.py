"""SEARCHRES (RFC 5182) against the real tandem-imapd: SEARCH RETURN (SAVE)
saves the result on the session, "$" names it in FETCH, STORE, COPY, MOVE,
UID EXPUNGE and SEARCH (MSN and UID forms); expunged messages drop out;
SELECT/EXAMINE/CLOSE/UNSELECT and a failed SEARCH with SAVE empty it."""
import re

import pytest

from test_imap_fetch import Raw, tagged


def msg(i):
    return (f"From: sender{i}@example.org\r\nTo: alice@example.org\r\n"
            f"Subject: message {i}\r\n\r\nbody {i}\r\n").encode()


def setup5(t, rev2=False):
    for i in range(1, 6):
        t.deliver("alice", msg(i))
    r = Raw(t)
    if rev2:
        assert tagged(r.cmd("ENABLE IMAP4rev2")) == b"OK"
    assert tagged(r.cmd("SELECT INBOX")) == b"OK"
    return r


def fetched(out):
    """[(msn, uid or None)] of the untagged FETCH replies."""
    res = []
    for line in out:
        mm = re.match(rb"\* (\d+) FETCH \((.*)", line)
        if mm:
            u = re.search(rb"UID (\d+)", mm.group(2))
            res.append((int(mm.group(1)), int(u.group(1)) if u else None))
    return res


def search_nums(out):
    for line in out:
        if line.startswith(b"* SEARCH"):
            return [int(x) for x in line.split()[2:]]
        if line.startswith(b"* ESEARCH"):
            mm = re.search(rb" ALL ([\d:,]+)", line)
            if not mm:
                return []
            nums = []
            for part in mm.group(1).split(b","):
                a, _, b = part.partition(b":")
                nums += range(int(a), int(b or a) + 1)
            return nums
    raise AssertionError(out)


REVS = pytest.mark.parametrize("rev2", [False, True], ids=["rev1", "rev2"])


def test_capability_lists_searchres(tandem):
    r = Raw(tandem)
    caps = r.cmd("CAPABILITY")[0].split()
    assert b"SEARCHRES" in caps
    r.close()


@REVS
def test_dollar_before_save_is_empty(tandem, rev2):
    r = setup5(tandem, rev2)
    out = r.cmd("FETCH $ (FLAGS)")
    assert tagged(out) == b"OK" and fetched(out) == []
    out = r.cmd("UID FETCH $ (FLAGS)")
    assert tagged(out) == b"OK" and fetched(out) == []
    out = r.cmd("SEARCH $")
    assert tagged(out) == b"OK" and search_nums(out) == []
    r.close()


@REVS
def test_save_then_fetch(tandem, rev2):
    r = setup5(tandem, rev2)
    out = r.cmd("SEARCH RETURN (SAVE) OR SUBJECT \"message 2\" "
                "SUBJECT \"message 4\"")
    # RFC 5182 2.4: SAVE alone gives no ESEARCH (nor SEARCH) reply
    assert out == [out[-1]] and tagged(out) == b"OK"
    out = r.cmd("FETCH $ (UID)")
    assert tagged(out) == b"OK" and fetched(out) == [(2, 2), (4, 4)]
    out = r.cmd("UID FETCH $ (FLAGS)")
    assert tagged(out) == b"OK" and fetched(out) == [(2, 2), (4, 4)]
    out = r.cmd("SEARCH $")
    assert search_nums(out) == [2, 4]
    out = r.cmd("UID SEARCH NOT $")
    assert search_nums(out) == [1, 3, 5]
    r.close()


def test_uid_search_save_with_results(tandem):
    r = setup5(tandem)
    out = r.cmd("UID SEARCH RETURN (SAVE ALL) 3:5")
    assert out[0] == b'* ESEARCH (TAG "X3") UID ALL 3:5\r\n'
    out = r.cmd("FETCH $ (UID)")
    assert fetched(out) == [(3, 3), (4, 4), (5, 5)]
    # SAVE with MIN/MAX only saves those (RFC 5182 2.4)
    out = r.cmd("SEARCH RETURN (SAVE MIN MAX) 2:4")
    assert out[0] == b'* ESEARCH (TAG "X5") MIN 2 MAX 4\r\n'
    out = r.cmd("FETCH $ (UID)")
    assert fetched(out) == [(2, 2), (4, 4)]
    r.close()


@REVS
def test_store_dollar(tandem, rev2):
    r = setup5(tandem, rev2)
    r.cmd("SEARCH RETURN (SAVE) 1:2")
    out = r.cmd("STORE $ +FLAGS (\\Flagged)")
    assert tagged(out) == b"OK"
    assert sorted(m for m, _ in fetched(out)) == [1, 2]
    r.cmd("UID SEARCH RETURN (SAVE) UID 5")
    out = r.cmd("UID STORE $ +FLAGS.SILENT (\\Answered)")
    assert tagged(out) == b"OK"
    out = r.cmd("SEARCH FLAGGED")
    assert search_nums(out) == [1, 2]
    out = r.cmd("SEARCH ANSWERED")
    assert search_nums(out) == [5]
    r.close()


@REVS
def test_copy_dollar(tandem, rev2):
    r = setup5(tandem, rev2)
    assert tagged(r.cmd("CREATE Keep")) == b"OK"
    r.cmd("SEARCH RETURN (SAVE) 2:3")
    out = r.cmd("COPY $ Keep")
    assert tagged(out) == b"OK"
    assert b"[COPYUID " in out[-1] and b" 2:3 1:2]" in out[-1]
    r.cmd("SEARCH RETURN (SAVE) 5")
    out = r.cmd("UID COPY $ Keep")
    assert b" 5 3]" in out[-1], out
    out = r.cmd("STATUS Keep (MESSAGES)")
    assert b"MESSAGES 3" in out[0]
    r.close()


@REVS
def test_move_dollar(tandem, rev2):
    r = setup5(tandem, rev2)
    assert tagged(r.cmd("CREATE Away")) == b"OK"
    r.cmd("SEARCH RETURN (SAVE) 4:5")
    out = r.cmd("MOVE $ Away")
    assert tagged(out) == b"OK"
    assert any(b"[COPYUID " in line and b" 4:5 1:2]" in line for line in out)
    r.cmd("UID SEARCH RETURN (SAVE) UID 1")
    out = r.cmd("UID MOVE $ Away")
    assert tagged(out) == b"OK"
    out = r.cmd("STATUS Away (MESSAGES)")
    assert b"MESSAGES 3" in out[0]
    out = r.cmd("UID SEARCH ALL")
    assert search_nums(out) == [2, 3]
    r.close()


@REVS
def test_uid_expunge_dollar(tandem, rev2):
    r = setup5(tandem, rev2)
    r.cmd("STORE 1:5 +FLAGS.SILENT (\\Deleted)")
    r.cmd("SEARCH RETURN (SAVE) 2,4")
    out = r.cmd("UID EXPUNGE $")
    assert tagged(out) == b"OK"
    # 4 then 2 by MSN, or VANISHED; either way two messages go
    out = r.cmd("UID SEARCH ALL")
    assert search_nums(out) == [1, 3, 5]
    r.close()


def test_expunged_messages_drop_out(tandem):
    r = setup5(tandem)
    r.cmd("SEARCH RETURN (SAVE) 2:4")
    r.cmd("STORE 3 +FLAGS.SILENT (\\Deleted)")
    out = r.cmd("EXPUNGE")
    assert b"* 3 EXPUNGE\r\n" in out
    out = r.cmd("UID FETCH $ (UID)")
    assert fetched(out) == [(2, 2), (3, 4)]
    out = r.cmd("FETCH $ (UID)")
    assert fetched(out) == [(2, 2), (3, 4)]
    out = r.cmd("SEARCH $")
    assert search_nums(out) == [2, 3]
    r.close()


def test_expunge_by_other_session_drops_out(tandem):
    r = setup5(tandem)
    other = Raw(tandem)
    other.cmd("SELECT INBOX")
    r.cmd("SEARCH RETURN (SAVE) 1:2")
    other.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.cmd("EXPUNGE")
    out = r.cmd("NOOP")
    assert b"* 1 EXPUNGE\r\n" in out
    out = r.cmd("UID FETCH $ (UID)")
    assert fetched(out) == [(1, 2)]
    other.close()
    r.close()


def test_dollar_in_a_set_is_bad(tandem):
    r = setup5(tandem)
    r.cmd("SEARCH RETURN (SAVE) 1:2")
    for c in ("FETCH 1,$ (UID)", "FETCH $:3 (UID)", "UID FETCH $,4 (UID)",
              "STORE $,1 +FLAGS (\\Seen)", "COPY 3,$ INBOX",
              "SEARCH 1,$"):
        assert tagged(r.cmd(c)) == b"BAD", c
    r.close()


@pytest.mark.parametrize("reset", ["SELECT INBOX", "EXAMINE INBOX",
                                   "UNSELECT", "CLOSE"])
def test_reset_on_select_close(tandem, reset):
    r = setup5(tandem)
    r.cmd("SEARCH RETURN (SAVE) 1:3")
    assert len(fetched(r.cmd("FETCH $ (UID)"))) == 3
    assert tagged(r.cmd(reset)) == b"OK"
    if not reset.startswith(("SELECT", "EXAMINE")):
        assert tagged(r.cmd("SELECT INBOX")) == b"OK"
    out = r.cmd("FETCH $ (UID)")
    assert tagged(out) == b"OK" and fetched(out) == []
    r.close()


def test_failed_search_with_save_empties(tandem):
    r = setup5(tandem)
    r.cmd("SEARCH RETURN (SAVE) ALL")
    assert len(fetched(r.cmd("FETCH $ (UID)"))) == 5
    out = r.cmd("SEARCH RETURN (SAVE) CHARSET KOI8-R ALL")
    assert tagged(out) == b"NO" and b"[BADCHARSET" in out[-1]
    assert fetched(r.cmd("FETCH $ (UID)")) == []
    r.cmd("SEARCH RETURN (SAVE) ALL")
    out = r.cmd("SEARCH RETURN (SAVE) NOSUCHKEY")
    assert tagged(out) == b"BAD"
    assert fetched(r.cmd("FETCH $ (UID)")) == []
    # a failed SEARCH without SAVE leaves "$" alone
    r.cmd("SEARCH RETURN (SAVE) 1")
    assert tagged(r.cmd("SEARCH NOSUCHKEY")) == b"BAD"
    assert fetched(r.cmd("FETCH $ (UID)")) == [(1, 1)]
    r.close()


def test_save_uses_previous_dollar(tandem):
    r = setup5(tandem)
    r.cmd("SEARCH RETURN (SAVE) 1:4")
    out = r.cmd("SEARCH RETURN (SAVE) $ NOT 2")
    assert tagged(out) == b"OK"
    assert fetched(r.cmd("FETCH $ (UID)")) == [(1, 1), (3, 3), (4, 4)]
    r.close()


def test_dollar_is_per_session(tandem):
    r = setup5(tandem)
    other = Raw(tandem)
    other.cmd("SELECT INBOX")
    r.cmd("SEARCH RETURN (SAVE) 1")
    assert fetched(other.cmd("FETCH $ (UID)")) == []
    assert fetched(r.cmd("FETCH $ (UID)")) == [(1, 1)]
    other.close()
    r.close()
