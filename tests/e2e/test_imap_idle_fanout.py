"""Many sessions idling at once (RFC 9051 6.3.13, 7.4.1, 7.5.1, 7.5.2;
RFC 7162 3.1.4, 3.2.10): the sessions of one process that idle on the same
mailbox in the same state share one read of what changed. Whatever they
share, each must get exactly what it would get alone: the lines a session
of the same kind gets from NOOP (which reads for itself). The idlers are
of every kind (IMAP4rev1, IMAP4rev2, CONDSTORE, QRESYNC) on two mailboxes,
opened interleaved, so one feed round serves several kinds and states."""
import pytest

from test_imap_fetch import MSG1, Raw, tagged
from test_imap_idle import start_idle, stop_idle

# one worker: every idler is in the process that shares
pytestmark = pytest.mark.tandem_config({"server": {"workers": "1"}})

KINDS = {
    "rev1": [],
    "rev2": ["ENABLE IMAP4rev2"],
    "condstore": ["ENABLE CONDSTORE"],
    "qresync": ["ENABLE QRESYNC"],
}
BOXES = ["INBOX", "Other"]
IDLERS = 3  # per kind and mailbox


def session(t, kind, box):
    r = Raw(t)
    for c in KINDS[kind]:
        assert tagged(r.cmd(c)) == b"OK"
    assert tagged(r.cmd(f"SELECT {box}")) == b"OK"
    return r


def untagged(lines):
    return [l for l in lines if l.startswith(b"* ")]


def read_n(r, n):
    return [r.f.readline() for _ in range(n)]


def watchers(t, boxes):
    """A reference session per kind and mailbox, and IDLERS idlers per
    kind and mailbox, opened interleaved: ({(kind, box): ref}, [(kind,
    box, session, IDLE tag)])."""
    refs, idlers = {}, []
    for i in range(IDLERS):
        for kind in KINDS:
            for box in boxes:
                if i == 0:
                    refs[kind, box] = session(t, kind, box)
                r = session(t, kind, box)
                idlers.append((kind, box, r, start_idle(r)))
    return refs, idlers


def close_watchers(refs, idlers):
    for kind, box, r, tag in idlers:
        stop_idle(r, tag)
        r.close()
    for r in refs.values():
        r.close()


@pytest.fixture
def fanout(tandem):
    t = tandem
    for _ in range(4):
        t.deliver("alice", MSG1)
    o = Raw(t)
    assert tagged(o.cmd("CREATE Other")) == b"OK"
    for _ in range(3):
        t.deliver("alice", MSG1, "Other")
    # claim \Recent before anyone watches, so no kind counts any
    for box in BOXES:
        assert tagged(o.cmd(f"SELECT {box}")) == b"OK"
    refs, idlers = watchers(t, BOXES)
    yield t, o, refs, idlers
    close_watchers(refs, idlers)
    o.close()


def check_step(refs, idlers):
    """Each idler gets what the reference of its kind and mailbox gets
    from NOOP, line for line; returns the references' lines."""
    want = {k: untagged(r.cmd("NOOP")) for k, r in refs.items()}
    for kind, box, r, _ in idlers:
        assert read_n(r, len(want[kind, box])) == want[kind, box], (kind, box)
    return want


def test_idlers_share_what_changed_and_each_gets_its_own_lines(fanout):
    t, o, refs, idlers = fanout
    # a delivery to INBOX: EXISTS (and RECENT for rev1) there, nothing in Other
    t.deliver("alice", MSG1)
    w = check_step(refs, idlers)
    assert w["rev2", "INBOX"] == [b"* 5 EXISTS\r\n"]
    assert w["rev1", "INBOX"] == [b"* 5 EXISTS\r\n", b"* 0 RECENT\r\n"]
    assert w["qresync", "Other"] == []
    # flags and a keyword on INBOX 2: MODSEQ only for CONDSTORE/QRESYNC
    assert tagged(o.cmd("SELECT INBOX")) == b"OK"
    assert tagged(o.cmd("STORE 2 +FLAGS.SILENT (\\Flagged $Work)")) == b"OK"
    w = check_step(refs, idlers)
    assert w["rev2", "INBOX"] == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged $Work))\r\n"]
    assert w["condstore", "INBOX"][0].startswith(
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged $Work) MODSEQ (")
    # expunge INBOX 1: EXPUNGE by MSN, VANISHED by UID with QRESYNC
    assert tagged(o.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")) == b"OK"
    check_step(refs, idlers)
    assert tagged(o.cmd("EXPUNGE")) == b"OK"
    w = check_step(refs, idlers)
    assert w["rev1", "INBOX"][0] == b"* 1 EXPUNGE\r\n"
    assert w["qresync", "INBOX"][0] == b"* VANISHED 1\r\n"
    assert w["rev2", "Other"] == []
    # one commit changing both mailboxes: MOVE from INBOX to Other
    assert tagged(o.cmd("UID MOVE 3 Other")) == b"OK"
    w = check_step(refs, idlers)
    assert w["rev2", "INBOX"][0] == b"* 2 EXPUNGE\r\n"
    assert w["qresync", "INBOX"][0] == b"* VANISHED 3\r\n"
    assert w["rev2", "Other"] == [b"* 4 EXISTS\r\n"]
    # flags on both mailboxes, one command each, in one burst
    assert tagged(o.cmd("STORE 1 +FLAGS.SILENT (\\Seen)")) == b"OK"
    assert tagged(o.cmd("SELECT Other")) == b"OK"
    assert tagged(o.cmd("STORE 1:2 +FLAGS.SILENT (\\Answered)")) == b"OK"
    w = check_step(refs, idlers)
    assert w["rev2", "INBOX"] == [b"* 1 FETCH (UID 2 FLAGS (\\Flagged \\Seen $Work))\r\n"]
    assert len(w["rev2", "Other"]) == 2
    # and every view ends where a new session starts
    for kind, box, r, tag in idlers:
        stop_idle(r, tag)
        fresh = session(t, kind, box)
        assert (untagged(r.cmd("FETCH 1:* (UID FLAGS)"))
                == untagged(fresh.cmd("FETCH 1:* (UID FLAGS)")))
        fresh.close()
    idlers[:] = [(k, b, r, start_idle(r)) for k, b, r, _ in idlers]


def test_idlers_on_mailboxes_in_the_same_state_keep_apart(tandem):
    """Two new mailboxes have the same HIGHESTMODSEQ and no UIDs: the
    same state but for the mailbox, which must keep their reads apart."""
    t = tandem
    o = Raw(t)
    boxes = ["E1", "E2"]
    for box in boxes:
        assert tagged(o.cmd(f"CREATE {box}")) == b"OK"
    refs, idlers = watchers(t, boxes)
    for box, other in zip(boxes, reversed(boxes)):
        t.deliver("alice", MSG1, box)
        w = check_step(refs, idlers)
        assert w["rev2", box] == [b"* 1 EXISTS\r\n"]
        assert w["rev2", other] == []
    close_watchers(refs, idlers)
    o.close()
