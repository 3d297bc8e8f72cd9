"""kill -9 of tandem-lmtpd while many deliveries are in DATA: every message
that got its 250 is stored, and none twice."""
import socket
import threading
import time

CLIENTS = 8
PER_CLIENT = 40


def pop3_message_ids(t, user, password):
    s = socket.create_connection(("127.0.0.1", t.pop3_port))
    s.settimeout(60)
    f = s.makefile("rb")

    def ok():
        ln = f.readline()
        assert ln.startswith(b"+OK"), ln

    def multi():
        out = []
        while True:
            ln = f.readline()
            if ln == b".\r\n":
                return out
            out.append(ln)

    ok()
    s.sendall(b"USER %s\r\nPASS %s\r\n" % (user.encode(), password.encode()))
    ok()
    ok()
    s.sendall(b"LIST\r\n")
    ok()
    n = len(multi())
    ids = []
    for i in range(1, n + 1):
        s.sendall(b"TOP %d 0\r\n" % i)
        ok()
        for ln in multi():
            if ln.lower().startswith(b"message-id:"):
                ids.append(ln.split(b":", 1)[1].strip().decode())
    s.sendall(b"QUIT\r\n")
    ok()
    return ids


def client(t, cid, acked, stop):
    """Delivers messages one per transaction until the daemon dies."""
    try:
        s = socket.create_connection(("127.0.0.1", t.lmtp_port))
        s.settimeout(30)
        f = s.makefile("rb")

        def reply():
            while True:
                ln = f.readline()
                if not ln:
                    raise ConnectionError("closed")
                if ln[3:4] != b"-":
                    return int(ln[:3])

        assert reply() == 220
        s.sendall(b"LHLO mx.test\r\n")
        assert reply() == 250
        for i in range(PER_CLIENT):
            mid = "<c%d.m%d@crash.test>" % (cid, i)
            s.sendall(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
            assert [reply(), reply(), reply()] == [250, 250, 354]
            body = (b"Message-ID: %s\r\nSubject: crash\r\n\r\n" % mid.encode() +
                    b"line of text to make it longer\r\n" * 200)
            # Send in pieces so the kill lands in the middle of DATA.
            for k in range(0, len(body), 1024):
                s.sendall(body[k:k + 1024])
            s.sendall(b".\r\n")
            if reply() == 250:
                acked.add(mid)
            if stop.is_set() and i > 2:
                time.sleep(0.01)
    except (OSError, ConnectionError, AssertionError):
        pass


def test_kill9_during_data(tandem):
    t = tandem
    acked = set()
    stop = threading.Event()
    # One transaction deliberately left in the middle of DATA at the kill.
    held = socket.create_connection(("127.0.0.1", t.lmtp_port))
    held.sendall(b"LHLO mx.test\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
                 b"Message-ID: <held@crash.test>\r\n\r\nhalf a mess")
    threads = [threading.Thread(target=client, args=(t, c, acked, stop))
               for c in range(CLIENTS)]
    for th in threads:
        th.start()
    # Let a good part of the deliveries through, then kill -9.
    deadline = time.monotonic() + 60
    while len(acked) < CLIENTS * PER_CLIENT // 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    t.kill9("lmtpd")
    stop.set()
    for th in threads:
        th.join(60)
    held.close()
    assert acked, "no delivery finished before the kill"
    t.start("lmtpd")
    # The store is consistent after the kill.
    assert t.ctl("check", "alice").returncode == 0
    ids = pop3_message_ids(t, "alice", "secret")
    # Every 250 is stored; nothing is stored twice; the cut one is absent.
    assert acked <= set(ids), sorted(acked - set(ids))[:5]
    assert len(ids) == len(set(ids))
    assert "<held@crash.test>" not in ids
    # The restarted daemon delivers again.
    s = socket.create_connection(("127.0.0.1", t.lmtp_port))
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.close()
