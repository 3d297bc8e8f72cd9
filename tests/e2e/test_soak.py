"""A bounded soak test (issue 6): for TANDEM_SOAK_SECONDS (default 60)
several threads work on the same two users at once -- IMAP sessions
(APPEND, STORE, COPY, MOVE, UID EXPUNGE; one with QRESYNC), a POP3 session
per user (RETR, DELE, QUIT), LMTP and tandemctl deliveries, and a watcher
polling STATUS -- while a ledger records what the server acknowledged.
Then an audit from fresh sessions checks that every acknowledged message
is there exactly as often as the ledger says (by Message-ID, in INBOX and
the mailbox it was copied/moved to), UIDs unique and ascending, MODSEQs
within HIGHESTMODSEQ, UIDNEXT/HIGHESTMODSEQ never going down, POP3 UIDLs of
survivors unchanged, and `tandemctl check` clean. A second test proves the
audit reports a message removed behind its back."""
import collections
import os
import poplib
import random
import re
import smtplib
import sqlite3
import threading
import time

from conftest import need
from test_imap_fetch import Raw, tagged

USERS = {"alice": "secret", "bob": "hunter2"}
OTHER = "Soak"
SOAK_SECONDS = float(os.environ.get("TANDEM_SOAK_SECONDS", "60"))


def message(mid, n=0):
    return (f"From: soak@example.org\r\nTo: someone@example.org\r\n"
            f"Subject: soak {n}\r\nMessage-ID: {mid}\r\n\r\n"
            + f"line {n}\r\n" * (1 + n % 20)).encode()


class Ledger:
    """What the server acknowledged, per user, by Message-ID. Only INBOX
    receives mail; COPY/MOVE go from INBOX to OTHER; deletions (UID
    EXPUNGE, POP3 DELE+QUIT) remove the INBOX instance."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = collections.defaultdict(set)
        self.uncertain = collections.defaultdict(set)
        self.deleted = collections.defaultdict(set)
        self.moved = collections.defaultdict(set)
        self.copies = collections.defaultdict(collections.Counter)
        self.errors = []
        self.counter = 0

    def new_mid(self, user, kind):
        with self.lock:
            self.counter += 1
            return f"<soak-{user}-{kind}-{self.counter}@test>", self.counter

    def add(self, what, user, mid):
        with self.lock:
            getattr(self, what)[user].add(mid)

    def copied(self, user, mid):
        with self.lock:
            self.copies[user][mid] += 1

    def error(self, text):
        with self.lock:
            self.errors.append(text)


# ---- reading a mailbox ------------------------------------------------

def mailbox_contents(r, mbox):
    """EXAMINE mbox; returns (uidnext, highestmodseq, [(uid, modseq, mid)])
    in MSN order."""
    out = r.cmd(f"EXAMINE {mbox}")
    assert tagged(out) == b"OK", out
    text = b"".join(out)
    uidnext = int(re.search(rb"\[UIDNEXT (\d+)\]", text).group(1))
    hms = int(re.search(rb"\[HIGHESTMODSEQ (\d+)\]", text).group(1))
    rows = []
    out = r.cmd("FETCH 1:* (UID MODSEQ BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    for l in out[:-1]:
        if b" FETCH (" not in l:
            continue
        uid = int(re.search(rb"UID (\d+)", l).group(1))
        ms = int(re.search(rb"MODSEQ \((\d+)\)", l).group(1))
        m = re.search(rb"Message-ID: (<[^>]*>)", l, re.I)
        rows.append((uid, ms, m.group(1).decode() if m else None))
    return uidnext, hms, rows


def uid_map(r):
    """UID -> Message-ID of the selected mailbox."""
    out = r.cmd("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    m = {}
    for l in out[:-1]:
        u = re.search(rb"UID (\d+)", l)
        i = re.search(rb"Message-ID: (<[^>]*>)", l, re.I)
        if u and i:
            m[int(u.group(1))] = i.group(1).decode()
    return m


def pop3_uidls(t, user):
    """Message-ID -> POP3 UIDL of the user's maildrop."""
    p = poplib.POP3("127.0.0.1", t.pop3_port, timeout=30)
    p.user(user)
    p.pass_(USERS[user])
    out = {}
    for line in p.uidl()[1]:
        n, u = line.split()
        head = b"\n".join(p.top(int(n), 0)[1])
        m = re.search(rb"Message-ID: (<[^>]*>)", head, re.I)
        if m:
            out[m.group(1).decode()] = u.decode()
    p.quit()
    return out


def copyuid_sources(lines):
    """Source UIDs named by [COPYUID uv src dst] in the replies."""
    src = set()
    for l in lines:
        m = re.search(rb"\[COPYUID \d+ ([0-9:,]+) [0-9:,]+\]", l)
        if m:
            for part in m.group(1).split(b","):
                a, _, b = part.partition(b":")
                lo, hi = int(a), int(b or a)
                src.update(range(min(lo, hi), max(lo, hi) + 1))
    return src


# ---- the audit ----------------------------------------------------------

def audit(t, ledger, uidls_before):
    """Returns a list of problems (empty when everything adds up)."""
    problems = []
    for user, pw in USERS.items():
        r = Raw(t, user, pw)
        seen = {}
        for mbox in ("INBOX", OTHER):
            uidnext, hms, rows = mailbox_contents(r, mbox)
            uids = [u for u, _, _ in rows]
            if uids != sorted(set(uids)):
                problems.append(f"{user}/{mbox}: UIDs not unique ascending")
            if uids and uids[-1] >= uidnext:
                problems.append(f"{user}/{mbox}: UID {uids[-1]} >= UIDNEXT")
            for u, ms, mid in rows:
                if ms > hms:
                    problems.append(f"{user}/{mbox}: UID {u} MODSEQ {ms} "
                                    f"> HIGHESTMODSEQ {hms}")
            seen[mbox] = collections.Counter(mid for _, _, mid in rows)
        r.close()
        acked = ledger.acked[user]
        unsure = ledger.uncertain[user]
        for mid in acked | unsure | set(seen["INBOX"]) | set(seen[OTHER]):
            gone = mid in ledger.deleted[user] or mid in ledger.moved[user]
            want_in = 1 if mid in acked and not gone else 0
            want_other = ledger.copies[user][mid] + (mid in ledger.moved[user])
            got_in, got_other = seen["INBOX"][mid], seen[OTHER][mid]
            if mid not in acked and mid not in unsure:
                problems.append(f"{user}: {mid} present but never acknowledged")
                continue
            if mid in unsure and mid not in acked:
                if got_in > 1:
                    problems.append(f"{user}/INBOX: {mid} duplicated")
                continue
            if got_in != want_in:
                what = "missing" if got_in < want_in else "unexpected/duplicated"
                problems.append(f"{user}/INBOX: {mid} {what} "
                                f"(found {got_in}, expected {want_in})")
            if got_other != want_other:
                what = "missing" if got_other < want_other else "unexpected/duplicated"
                problems.append(f"{user}/{OTHER}: {mid} {what} "
                                f"(found {got_other}, expected {want_other})")
        if "pop3d" in t.procs:
            after = pop3_uidls(t, user)
            for mid, u in uidls_before.get(user, {}).items():
                if mid in after and after[mid] != u:
                    problems.append(f"{user}: POP3 UIDL of {mid} changed "
                                    f"{u} -> {after[mid]}")
        cp = t.ctl("check", user, check=False)
        if cp.returncode != 0:
            problems.append(f"{user}: tandemctl check: "
                            f"{(cp.stdout + cp.stderr).decode(errors='replace')}")
    return problems


# ---- the workers --------------------------------------------------------

def imap_worker(t, ledger, user, deadline, seed, qresync):
    rnd = random.Random(seed)
    r = Raw(t, user, USERS[user])
    if qresync:
        r.cmd("ENABLE QRESYNC")
    r.cmd(f"CREATE {OTHER}")  # NO when it exists
    assert tagged(r.cmd("SELECT INBOX")) == b"OK"
    umap = {}
    ops = 0
    while time.time() < deadline and ops < 100000:
        ops += 1
        if ops % 5 == 1:
            umap = uid_map(r)
        op = rnd.random()
        uids = sorted(umap)
        if op < 0.2 or not uids:
            mid, n = ledger.new_mid(user, "append")
            body = message(mid, n)
            ledger.add("uncertain", user, mid)
            out = r.cmd(f"APPEND INBOX {{{len(body)}+}}\r\n".encode() + body)
            if tagged(out) == b"OK":
                ledger.add("acked", user, mid)
            continue
        uid = rnd.choice(uids)
        mid = umap[uid]
        if op < 0.5:
            flag = rnd.choice(["\\Seen", "\\Flagged", "\\Answered", "$Soak"])
            sign = rnd.choice("+-")
            out = r.cmd(f"UID STORE {uid} {sign}FLAGS.SILENT ({flag})")
        elif op < 0.65:
            out = r.cmd(f"UID COPY {uid} {OTHER}")
            if tagged(out) == b"OK" and uid in copyuid_sources(out):
                ledger.copied(user, mid)
        elif op < 0.75:
            out = r.cmd(f"UID MOVE {uid} {OTHER}")
            if tagged(out) == b"OK" and uid in copyuid_sources(out):
                ledger.add("moved", user, mid)
        elif op < 0.9:
            r.cmd(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
            out = r.cmd(f"UID EXPUNGE {uid}")
            if tagged(out) == b"OK":
                ledger.add("deleted", user, mid)
        else:
            out = r.cmd("NOOP")
        if tagged(out) == b"BAD":
            ledger.error(f"{user}: BAD {out[-1]!r}")
    r.cmd("LOGOUT")
    r.close()


def pop3_worker(t, ledger, user, deadline, seed):
    rnd = random.Random(seed)
    rounds = 0
    while time.time() < deadline and rounds < 10000:
        rounds += 1
        try:
            p = poplib.POP3("127.0.0.1", t.pop3_port, timeout=30)
            p.user(user)
            p.pass_(USERS[user])
        except poplib.error_proto:
            time.sleep(0.2)  # [IN-USE] and the like: try again later
            continue
        n = p.stat()[0]
        victim = None
        if n:
            i = rnd.randint(1, n)
            try:
                p.retr(i)
                if rnd.random() < 0.5:
                    head = b"\n".join(p.top(i, 0)[1])
                    m = re.search(rb"Message-ID: (<[^>]*>)", head, re.I)
                    p.dele(i)
                    victim = m.group(1).decode() if m else None
            except poplib.error_proto:
                pass  # the snapshot message went away meanwhile
        try:
            p.quit()
            if victim:
                ledger.add("deleted", user, victim)
        except poplib.error_proto as e:
            if victim:
                ledger.add("uncertain", user, victim)
                ledger.error(f"{user}: POP3 QUIT: {e}")
        time.sleep(rnd.random() * 0.3)


def lmtp_worker(t, ledger, deadline, seed):
    rnd = random.Random(seed)
    n = 0
    while time.time() < deadline and n < 100000:
        n += 1
        user = rnd.choice(list(USERS))
        kind = "ctl" if n % 5 == 0 else "lmtp"
        mid, k = ledger.new_mid(user, kind)
        ledger.add("uncertain", user, mid)
        try:
            if kind == "ctl":
                t.deliver(user, message(mid, k))
            else:
                with smtplib.LMTP("127.0.0.1", t.lmtp_port, timeout=30) as l:
                    l.sendmail("soak@example.org", [user], message(mid, k))
            ledger.add("acked", user, mid)
        except (smtplib.SMTPException, AssertionError, OSError) as e:
            ledger.error(f"delivery of {mid} failed: {e}")


def watcher(t, ledger, user, deadline):
    """UIDNEXT and HIGHESTMODSEQ seen by STATUS never go down."""
    r = Raw(t, user, USERS[user])
    last = {}
    polls = 0
    while time.time() < deadline and polls < 100000:
        polls += 1
        for mbox in ("INBOX", OTHER):
            out = r.cmd(f"STATUS {mbox} (UIDNEXT HIGHESTMODSEQ)")
            if tagged(out) != b"OK":
                continue
            v = tuple(int(x) for x in re.search(
                rb"UIDNEXT (\d+) HIGHESTMODSEQ (\d+)", out[0]).groups())
            if mbox in last and (v[0] < last[mbox][0] or v[1] < last[mbox][1]):
                ledger.error(f"{user}/{mbox}: STATUS went down {last[mbox]} -> {v}")
            last[mbox] = v
        time.sleep(0.1)
    r.close()


def run_threads(targets, limit):
    errors = []

    def wrap(fn, args):
        try:
            fn(*args)
        except Exception as e:  # reported by the test
            errors.append(f"{fn.__name__}{args[2:3]}: {e!r}")

    ths = [threading.Thread(target=wrap, args=(fn, args), daemon=True)
           for fn, args in targets]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout=max(1.0, limit - time.time()))
    assert not any(th.is_alive() for th in ths), "a soak worker hung"
    return errors


def seed_users(t, ledger, per_user):
    for user in USERS:
        for _ in range(per_user):
            mid, n = ledger.new_mid(user, "base")
            t.deliver(user, message(mid, n))
            ledger.add("acked", user, mid)
        r = Raw(t, user, USERS[user])
        r.cmd(f"CREATE {OTHER}")
        r.close()


def test_soak_audit(tandem):
    need("imapd")
    need("pop3d")
    need("lmtpd")
    ledger = Ledger()
    seed_users(tandem, ledger, 10)
    before = {u: pop3_uidls(tandem, u) for u in USERS}
    deadline = time.time() + SOAK_SECONDS
    targets = []
    for i, user in enumerate(USERS):
        targets += [(imap_worker, (tandem, ledger, user, deadline, 10 + i, False)),
                    (imap_worker, (tandem, ledger, user, deadline, 20 + i, True)),
                    (pop3_worker, (tandem, ledger, user, deadline, 30 + i)),
                    (watcher, (tandem, ledger, user, deadline))]
    targets += [(lmtp_worker, (tandem, ledger, deadline, 40)),
                (lmtp_worker, (tandem, ledger, deadline, 41))]
    errors = run_threads(targets, deadline + 120)
    assert errors == [], errors
    assert ledger.errors == [], ledger.errors
    total = sum(len(v) for v in ledger.acked.values())
    print("soak:", {k: sum(len(v) for v in getattr(ledger, k).values())
                    for k in ("acked", "deleted", "moved", "copies")})
    assert total > 20 + 10, "the soak did almost nothing"
    problems = audit(tandem, ledger, before)
    assert problems == [], "\n".join(problems)


def test_soak_audit_detects_a_missing_message(tandem):
    """The audit is not vacuous: a message deleted from the store file
    behind everyone's back (daemons stopped) is reported missing."""
    need("imapd")
    need("pop3d")
    ledger = Ledger()
    seed_users(tandem, ledger, 5)
    before = {u: pop3_uidls(tandem, u) for u in USERS}
    assert audit(tandem, ledger, before) == []
    r = Raw(tandem)
    r.cmd("SELECT INBOX")
    umap = uid_map(r)
    r.close()
    uid = sorted(umap)[2]
    victim = umap[uid]
    names = [n for n in ("imapd", "pop3d", "lmtpd") if n in tandem.procs]
    for n in names:
        tandem.stop(n)
    db = tandem.data_dir / "mail" / "alice" / "store.db"
    st = os.stat(db)
    con = sqlite3.connect(str(db), timeout=30)
    try:
        cur = con.execute("DELETE FROM message WHERE uid = ? AND mailbox_id ="
                          " (SELECT id FROM mailbox WHERE name = 'INBOX')",
                          (uid,))
        assert cur.rowcount == 1
        con.commit()
    finally:
        con.close()
    for f in db.parent.glob("store.db*"):
        os.chown(f, st.st_uid, st.st_gid)
    for n in names:
        tandem.start(n)
    problems = audit(tandem, ledger, before)
    assert any(victim in p and "missing" in p and p.startswith("alice/INBOX")
               for p in problems), problems
