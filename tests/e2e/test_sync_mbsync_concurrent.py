"""mbsync (isync) two-way sync while another IMAP client changes flags and
MOVEs messages between INBOX and Archive and LMTP delivers (issue 6):
after the traffic stops, two quiet runs must leave the local Maildir and
the server holding the same messages (by Message-ID) with the same flags,
nothing duplicated or lost, and the second quiet run must change nothing.

Builds on test_mbsync.py (its configuration and helpers); the local side
also changes flags between runs, so the sync is two-way. The concurrent
client is bounded by a count of operations and a stop flag."""
import imaplib
import os
import random
import re
import shutil
import smtplib
import threading
import time

import pytest

from conftest import need
from test_mbsync import imap, local_msgs, mbsync, write_conf

BOXES = ("INBOX", "Archive")
FLAGS = ("\\Seen", "\\Flagged", "\\Answered")
# Maildir info letters (as mbsync writes them) -> IMAP flags
LETTERS = {"S": "\\Seen", "F": "\\Flagged", "R": "\\Answered",
           "D": "\\Draft", "T": "\\Deleted"}


def msg(mid, subject):
    return (f"From: bob@example.org\r\nTo: alice@example.org\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{mid}@example.org>\r\n"
            f"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\n"
            f"body of {subject}\r\n").encode()


def server_state(t):
    """{mailbox: {message-id: set(flags)}} and the list of every
    Message-ID seen (duplicates kept)."""
    m = imap(t)
    state, every = {}, []
    for box in BOXES:
        typ, data = m.select(box, readonly=True)
        assert typ == "OK", data
        state[box] = {}
        if int(data[0]) == 0:
            continue
        typ, data = m.uid("FETCH", "1:*",
                          "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK", data
        for item in data:
            if not isinstance(item, tuple):
                continue
            mid = re.search(rb"<([^@>]+)@", item[1]).group(1).decode()
            fl = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode()
            flags = {f for f in fl.split() if f != "\\Recent"}
            every.append(mid)
            state[box][mid] = flags
    m.logout()
    return state, every


def local_state(mail):
    """The same for the Maildir: messages flagged T (deleted, waiting for
    an expunge) do not count."""
    state, every = {}, []
    for box in BOXES:
        state[box] = {}
        for p in local_msgs(mail / box):
            info = p.name.split(":2,", 1)[1] if ":2," in p.name else ""
            flags = {LETTERS[c] for c in info if c in LETTERS}
            if "\\Deleted" in flags:
                continue
            mid = re.search(rb"Message-ID: <([^@>]+)@", p.read_bytes()).group(1)
            every.append(mid.decode())
            state[box][mid.decode()] = flags
    return state, every


def listing(mail):
    """Every file name of the Maildir, to see that a run changed nothing."""
    out = []
    for root, _, files in os.walk(mail):
        out += [os.path.join(root, f) for f in files
                if not f.startswith(".mbsyncstate")]
    return sorted(out)


class Churn(threading.Thread):
    """The other client: flag changes and MOVEs over IMAP, deliveries over
    LMTP, in a seeded random order, until stopped or max_ops done."""

    def __init__(self, t, max_ops=3000):
        super().__init__(daemon=True)
        self.t = t
        self.max_ops = max_ops
        self.stop = threading.Event()
        self.rng = random.Random(6)
        self.delivered = []
        self.ops = 0
        self.error = None

    def deliver(self, box):
        mid = f"new{len(self.delivered)}"
        rcpt = "alice@example.org" if box == "INBOX" else f"alice+{box}@example.org"
        with smtplib.LMTP("127.0.0.1", self.t.lmtp_port, timeout=30) as l:
            l.sendmail("bob@example.org", [rcpt], msg(mid, mid))
        self.delivered.append(mid)

    def run(self):
        try:
            m = imaplib.IMAP4("127.0.0.1", self.t.imap_port, timeout=30)
            m.login("alice", "secret")
            while not self.stop.is_set() and self.ops < self.max_ops:
                self.ops += 1
                box = self.rng.choice(BOXES)
                op = self.rng.random()
                if op < 0.15:
                    self.deliver(box)
                    continue
                typ, data = m.select(box)
                assert typ == "OK", data
                typ, data = m.uid("SEARCH", "ALL")
                uids = data[0].split()
                if not uids:
                    continue
                uid = self.rng.choice(uids).decode()
                if op < 0.45:
                    dst = "Archive" if box == "INBOX" else "INBOX"
                    typ, data = m.uid("MOVE", uid, dst)
                else:
                    sign = self.rng.choice("+-")
                    flag = self.rng.choice(FLAGS)
                    typ, data = m.uid("STORE", uid, f"{sign}FLAGS",
                                      f"({flag})")
                assert typ == "OK", (typ, data)
                # pacing, so the changes spread over the mbsync runs
                time.sleep(0.005)
            m.logout()
        except Exception as e:  # reported by the test
            self.error = e


def test_mbsync_converges_under_concurrent_changes(tandem, tmp_path):
    need("imapd")
    need("lmtpd")
    if not shutil.which("mbsync"):
        pytest.skip("mbsync (isync) not installed")
    initial = []
    for i in range(20):
        tandem.deliver("alice", msg(f"in{i}", f"in{i}"))
        initial.append(f"in{i}")
    for i in range(10):
        tandem.deliver("alice", msg(f"ar{i}", f"ar{i}"), mailbox="Archive")
        initial.append(f"ar{i}")
    conf, mail = write_conf(tandem, tmp_path)
    # moves expunge the source: let mbsync expunge what vanished on
    # either side instead of keeping it flagged \Deleted
    with open(conf, "a") as f:
        f.write("Expunge Both\n")
    mbsync(conf)

    churn = Churn(tandem)
    churn.start()
    rng = random.Random(7)
    try:
        during = []
        for _ in range(4):
            # two-way: the local side marks a few messages seen/flagged
            for p in rng.sample(local_msgs(mail / "INBOX"), 3):
                base, _, info = p.name.partition(":2,")
                letters = set(info) | {rng.choice("SF")}
                new = p.parent.parent / "cur" / (base + ":2," +
                                                 "".join(sorted(letters)))
                if p.exists():
                    p.rename(new)
            before = churn.ops
            mbsync(conf)
            during.append(churn.ops - before)
    finally:
        churn.stop.set()
        churn.join(timeout=120)
    assert not churn.is_alive()
    assert churn.error is None, churn.error
    assert churn.ops > 0
    print(f"concurrent operations: {churn.ops} ({during} during the "
          f"runs), deliveries: {len(churn.delivered)}")

    # two quiet runs: the first converges, the second changes nothing
    mbsync(conf)
    srv1, _ = server_state(tandem)
    files1 = listing(mail)
    m = imap(tandem)
    status1 = [m.status(b, "(MESSAGES UIDNEXT HIGHESTMODSEQ)")[1] for b in BOXES]
    m.logout()
    mbsync(conf)
    srv2, srv_every = server_state(tandem)
    loc, loc_every = local_state(mail)
    m = imap(tandem)
    status2 = [m.status(b, "(MESSAGES UIDNEXT HIGHESTMODSEQ)")[1] for b in BOXES]
    m.logout()

    assert srv2 == srv1
    assert status2 == status1, (status1, status2)
    assert listing(mail) == files1
    # nothing duplicated, on either side
    assert len(srv_every) == len(set(srv_every)), sorted(srv_every)
    assert len(loc_every) == len(set(loc_every)), sorted(loc_every)
    # nothing lost: every message ever delivered is on the server
    assert sorted(srv_every) == sorted(initial + churn.delivered)
    # the same messages, in the same mailboxes, with the same flags
    for box in BOXES:
        assert loc[box] == srv2[box], (box, loc[box], srv2[box])
