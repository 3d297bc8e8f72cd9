"""tandem-deliver, the LDA: exit codes per sysexits.h, CRLF normalization,
Return-Path from -f, -m with INBOX fallback."""
import socket
import subprocess

EX_USAGE, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL, EX_CONFIG = 64, 65, 67, 75, 78


def deliver(t, *args, input=b""):
    exe = t.build / "lmtp" / "tandem-deliver"
    return subprocess.run([str(exe), *args], input=input,
                          capture_output=True, timeout=60)


def pop3_messages(t, user, password):
    s = socket.create_connection(("127.0.0.1", t.pop3_port))
    s.settimeout(30)
    f = s.makefile("rb")

    def ok():
        ln = f.readline()
        assert ln.startswith(b"+OK"), ln

    def multi():
        out = b""
        while True:
            ln = f.readline()
            if ln == b".\r\n":
                return out
            out += ln[1:] if ln.startswith(b".") else ln

    ok()
    s.sendall(b"USER %s\r\nPASS %s\r\n" % (user.encode(), password.encode()))
    ok()
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


def test_deliver_lf_message_with_sender(tandem):
    t = tandem
    msg = b"Subject: lda\n\nline one\n.dot line\nline three\n"
    r = deliver(t, "-c", str(t.config_path), "-f", "sender@example.net",
                "alice", input=msg)
    assert r.returncode == 0, r.stderr.decode()
    assert pop3_messages(t, "alice", "secret") == [
        b"Return-Path: <sender@example.net>\r\n" + msg.replace(b"\n", b"\r\n")]


def test_deliver_crlf_without_sender_and_mbox_from_line(tandem):
    t = tandem
    msg = b"Subject: crlf\r\n\r\nbody\r\n"
    r = deliver(t, "-c", str(t.config_path), "bob",
                input=b"From sender@example.net Wed Nov 25 12:00:00 2026\n" + msg)
    assert r.returncode == 0, r.stderr.decode()
    # No -f, no Return-Path; the mbox separator line is not stored.
    assert pop3_messages(t, "bob", "hunter2") == [msg]


def test_deliver_null_sender_and_address_user(tandem):
    t = tandem
    r = deliver(t, "-c", str(t.config_path), "-f", "", "alice@example.org",
                input=b"Subject: bounce\n\nx\n")
    assert r.returncode == 0, r.stderr.decode()
    assert pop3_messages(t, "alice", "secret") == [
        b"Return-Path: <>\r\nSubject: bounce\r\n\r\nx\r\n"]


def test_deliver_missing_mailbox_falls_back_to_inbox(tandem):
    t = tandem
    r = deliver(t, "-c", str(t.config_path), "-m", "NoSuchFolder", "alice",
                input=b"Subject: fallback\n\nx\n")
    assert r.returncode == 0, r.stderr.decode()
    assert pop3_messages(t, "alice", "secret") == [
        b"Subject: fallback\r\n\r\nx\r\n"]


def test_deliver_exit_codes(tandem):
    t = tandem
    cfg = str(t.config_path)
    assert deliver(t, "-c", cfg, "nosuchuser", input=b"x\n").returncode == EX_NOUSER
    assert deliver(t, "-c", cfg).returncode == EX_USAGE
    assert deliver(t, "-c", cfg, "alice", "bob").returncode == EX_USAGE
    assert deliver(t, "-x", "alice").returncode == EX_USAGE
    bad = t.data_dir / "bad.conf"
    bad.write_text("[lmtp]\nno_such_key = 1\n")
    assert deliver(t, "-c", str(bad), "alice", input=b"x\n").returncode == EX_CONFIG
    assert deliver(t, "-c", str(t.data_dir / "missing.conf"), "alice",
                   input=b"x\n").returncode == EX_CONFIG
    # Nothing of the failed runs was stored.
    assert pop3_messages(t, "alice", "secret") == []


def test_deliver_too_big(tandem):
    t = tandem
    conf = t.data_dir / "small.conf"
    conf.write_text(t.config_path.read_text().replace("[lmtp]", "[lmtp]\nmax_message_size = 1024", 1)
                    if "[lmtp]" in t.config_path.read_text()
                    else t.config_path.read_text() + "\n[lmtp]\nmax_message_size = 1024\n")
    r = deliver(t, "-c", str(conf), "alice", input=b"Subject: big\n\n" + b"x" * 2000 + b"\n")
    assert r.returncode == EX_DATAERR
    assert pop3_messages(t, "alice", "secret") == []
