"""Operations: tandemctl who / kick / stats over the daemons' control
sockets, and the Prometheus metrics endpoint ([server] metrics_listen)."""
import datetime
import imaplib
import poplib
import re
import socket
import ssl
import time

import pytest

from conftest import need, ssl_ctx

pytestmark = pytest.mark.usefixtures("tandem")


# ---- helpers -----------------------------------------------------------------


def ask_to_eof(s, req):
    """Sends req on the connected socket s; everything the peer answers
    until it closes (a peer that hangs makes s time out)."""
    s.sendall(req)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def control_ask(path, req):
    """Sends req to the control socket at path; everything it answers
    until it closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(path))
    return ask_to_eof(s, req)


def who(t, *args):
    """`tandemctl who` rows as dicts (header checked, MAILBOX may hold spaces)."""
    out = t.ctl("who", *args).stdout.decode()
    lines = out.splitlines()
    assert lines[0].split() == ["USER", "PROTO", "REMOTE", "SINCE", "TLS", "MAILBOX"]
    rows = []
    for line in lines[1:]:
        user, proto, remote, since, tls, mailbox = line.split(None, 5)
        rows.append({"user": user, "proto": proto, "remote": remote,
                     "since": since, "tls": tls, "mailbox": mailbox})
    return rows


def stats(t):
    """`tandemctl stats` as {daemon: {counter: int}}."""
    lines = t.ctl("stats").stdout.decode().splitlines()
    daemons = lines[0].split()
    out = {d: {} for d in daemons}
    for line in lines[1:]:
        name, *values = line.split()
        assert len(values) == len(daemons), line
        for d, v in zip(daemons, values):
            out[d][name] = int(v)
    return out


def delta(before, after, daemon):
    return {k: after[daemon][k] - before[daemon][k] for k in after[daemon]}


def wait_for(cond, what, limit=10.0):
    """Polls cond() (state that settles asynchronously, e.g. a session the
    server is still closing); fails with what if it never holds."""
    end = time.monotonic() + limit
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            pytest.fail(f"never true: {what}")
        time.sleep(0.05)


def control_up(t):
    """The fixture waits for the mail ports; each daemon opens its control
    socket a moment later (after dropping privileges)."""
    for name in t.procs:
        path = t.data_dir / "control" / f"{name}.sock"
        wait_for(path.is_socket, f"{path} exists")


def read_to_eof(f):
    """Lines until the server closes (EOF, or a TLS/socket error at close)."""
    lines = []
    while True:
        try:
            line = f.readline()
        except (OSError, ssl.SSLError):
            break
        if not line:
            break
        lines.append(line)
    return lines


class Raw:
    """A line-oriented client that counts the bytes it sends and receives
    (plain TCP: the server's wire counters must match exactly)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.f = self.sock.makefile("rb")
        self.sent = self.received = 0

    def line(self):
        line = self.f.readline()
        self.received += len(line)
        return line

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)
        self.sent += len(data)

    def until(self, prefix):
        """Lines up to and including the one starting with prefix."""
        lines = []
        while True:
            line = self.line()
            assert line, f"EOF waiting for {prefix!r}: {lines}"
            lines.append(line)
            if line.startswith(prefix):
                return lines

    def finish(self):
        """Reads what is left until the server closes."""
        while True:
            line = self.line()
            if not line:
                break
        self.sock.close()


def imap_raw(t, *commands):
    """One plain IMAP session: greeting, each command (tag aN) to its tagged
    reply. Returns (client, list of tagged lines)."""
    c = Raw(t.imap_port)
    c.until(b"* OK")
    tagged = []
    for i, cmd in enumerate(commands):
        tag = f"a{i}"
        c.send(f"{tag} {cmd}\r\n")
        tagged.append(c.until(tag.encode() + b" ")[-1])
    return c, tagged


def pop3_raw(t, *commands):
    c = Raw(t.pop3_port)
    c.until(b"+OK")
    replies = []
    for cmd in commands:
        c.send(cmd + "\r\n")
        line = c.line()
        assert line, cmd
        replies.append(line)
    return c, replies


# ---- who -----------------------------------------------------------------------

def open_sessions(t):
    """alice: IMAP (plain, INBOX selected) and POP3 (implicit TLS);
    bob: IMAP (implicit TLS), nothing selected."""
    a_imap = imaplib.IMAP4("127.0.0.1", t.imap_port)
    a_imap.login("alice", "secret")
    a_imap.select("INBOX")
    a_pop = poplib.POP3_SSL("127.0.0.1", t.pop3s_port, context=ssl_ctx())
    a_pop.user("alice")
    a_pop.pass_("secret")
    b_imap = imaplib.IMAP4_SSL("127.0.0.1", t.imaps_port, ssl_context=ssl_ctx())
    b_imap.login("bob", "hunter2")
    return a_imap, a_pop, b_imap


def addr(sock):
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def test_who_lists_sessions(tandem):
    t = tandem
    control_up(t)
    need("imapd"), need("pop3d")
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    a_imap, a_pop, b_imap = open_sessions(t)
    end = datetime.datetime.now(datetime.timezone.utc)
    try:
        rows = who(t)
        got = sorted((r["user"], r["proto"], r["remote"], r["tls"], r["mailbox"])
                     for r in rows)
        assert got == sorted([
            ("alice", "imap", addr(a_imap.sock), "no", "INBOX"),
            ("alice", "pop3", addr(a_pop.sock), "yes", "-"),
            ("bob", "imap", addr(b_imap.sock), "yes", "-"),
        ])
        for r in rows:
            since = datetime.datetime.strptime(r["since"], "%Y-%m-%dT%H:%M:%SZ")
            since = since.replace(tzinfo=datetime.timezone.utc)
            assert start - datetime.timedelta(seconds=1) <= since <= end

        # a selected folder other than INBOX, with a space in its name
        a_imap.create('"Old mail"')
        a_imap.select('"Old mail"')
        rows = who(t, "alice")
        assert sorted((r["proto"], r["mailbox"]) for r in rows) == [
            ("imap", "Old mail"), ("pop3", "-")]
        assert [r["user"] for r in who(t, "bob")] == ["bob"]
        assert who(t, "nobody-here") == []
    finally:
        for c in (a_imap, b_imap):
            c.logout()
        a_pop.quit()


def test_kick_closes_alices_sessions(tandem):
    t = tandem
    control_up(t)
    need("imapd"), need("pop3d")
    a_imap, a_pop, b_imap = open_sessions(t)

    out = t.ctl("kick", "alice").stdout.decode()
    assert re.match(r"kicked 2 session\(s\) of alice \(imapd 1, pop3d 1\)$",
                    out.strip()), out

    # RFC 9051 7.1.5: an untagged BYE, then the connection closes.
    lines = read_to_eof(a_imap.file)
    assert lines and lines[0].startswith(b"* BYE "), lines
    assert len(lines) == 1, lines
    # POP3: one -ERR line, then the close.
    lines = read_to_eof(a_pop.file)
    assert len(lines) == 1 and lines[0].startswith(b"-ERR "), lines

    # bob is untouched
    assert b_imap.noop()[0] == "OK"
    assert b_imap.select("INBOX")[0] == "OK"
    rows = wait_for(lambda: [r for r in who(t)] if len(who(t)) == 1 else None,
                    "only bob's session left")
    assert [(r["user"], r["proto"], r["mailbox"]) for r in rows] == [
        ("bob", "imap", "INBOX")]

    # nobody left to kick
    out = t.ctl("kick", "alice").stdout.decode()
    assert out.strip() == "kicked 0 session(s) of alice"
    b_imap.logout()

    # alice can log in again
    again = imaplib.IMAP4("127.0.0.1", t.imap_port)
    again.login("alice", "secret")
    again.logout()


# ---- stats -----------------------------------------------------------------------

def test_stats_counters_move_exactly(tandem):
    t = tandem
    control_up(t)
    need("imapd"), need("pop3d"), need("lmtpd")
    before = stats(t)
    assert set(before) == {"imapd", "pop3d", "lmtpd"}
    assert list(before) == ["imapd", "pop3d", "lmtpd"]
    # the readiness probes of the fixture may still be closing
    wait_for(lambda: all(v["connections"] == 0 for v in stats(t).values()),
             "no connection open")
    before = stats(t)

    imap_in = imap_out = 0
    c, tagged = imap_raw(t, "LOGIN alice secret", "LOGOUT")
    assert tagged[0].startswith(b"a0 OK")
    c.finish()
    imap_in += c.sent
    imap_out += c.received
    c, tagged = imap_raw(t, "LOGIN bob wrong", "LOGIN bob hunter2", "LOGOUT")
    assert tagged[0].startswith(b"a0 NO") and tagged[1].startswith(b"a1 OK")
    c.finish()
    imap_in += c.sent
    imap_out += c.received

    c, replies = pop3_raw(t, "USER alice", "PASS nope", "USER alice",
                          "PASS secret", "QUIT")
    assert [r[:3] for r in replies] == [b"+OK", b"-ER", b"+OK", b"+OK", b"+OK"]
    c.finish()
    pop_in, pop_out = c.sent, c.received

    c = Raw(t.lmtp_port)
    c.until(b"220 ")
    c.send("LHLO test\r\n")
    c.until(b"250 ")
    rcpts = ["alice", "bob", "nosuchuser"]
    c.send("MAIL FROM:<sender@example.org>\r\n")
    assert c.line().startswith(b"250")
    for r in rcpts:
        c.send(f"RCPT TO:<{r}@example.org>\r\n")
        assert c.line()[:3] == (b"550" if r == "nosuchuser" else b"250")
    c.send("DATA\r\n")
    assert c.line().startswith(b"354")
    c.send("Subject: counted\r\n\r\nhello\r\n.\r\n")
    assert [c.line()[:3] for _ in range(2)] == [b"250", b"250"]
    c.send("QUIT\r\n")
    assert c.line().startswith(b"221")
    c.finish()
    lmtp_in, lmtp_out = c.sent, c.received

    after = wait_for(lambda: (lambda s: s if all(
        v["connections"] == 0 for v in s.values()) else None)(stats(t)),
        "every test session closed")
    d = delta(before, after, "imapd")
    assert d["connections_total"] == 2
    assert d["logins"] == 2
    assert d["auth_failures"] == 1
    assert d["commands"] == 5
    assert d["deliveries_ok"] == 0 and d["deliveries_failed"] == 0
    # plain TCP: the wire bytes are exactly what the client saw
    assert d["bytes_in"] == imap_in
    assert d["bytes_out"] == imap_out

    d = delta(before, after, "pop3d")
    assert d["connections_total"] == 1
    assert d["logins"] == 1
    assert d["auth_failures"] == 1
    assert d["commands"] == 5
    assert d["bytes_in"] == pop_in
    assert d["bytes_out"] == pop_out

    d = delta(before, after, "lmtpd")
    assert d["connections_total"] == 1
    assert d["logins"] == 0 and d["auth_failures"] == 0
    assert d["commands"] == 7  # LHLO MAIL RCPT RCPT RCPT DATA QUIT
    assert d["deliveries_ok"] == 2
    assert d["deliveries_failed"] == 0
    assert d["bytes_in"] == lmtp_in
    assert d["bytes_out"] == lmtp_out

    for v in after.values():
        assert v["uptime"] >= 0

    # a held session counts as open
    held = imaplib.IMAP4("127.0.0.1", t.imap_port)
    try:
        assert stats(t)["imapd"]["connections"] == 1
    finally:
        held.logout()


def test_control_socket_line_protocol(tandem):
    t = tandem
    control_up(t)
    need("imapd")
    path = t.data_dir / "control" / "imapd.sock"
    assert path.is_socket()
    assert path.stat().st_mode & 0o777 == 0o660

    def ask(req):
        return control_ask(path, req)

    assert ask(b"FROB\n") == b"ERR unknown command\n"
    assert ask(b"KICK\n") == b"ERR missing argument\n"
    assert ask(b"STATS now\n") == b"ERR no argument expected\n"
    assert ask(b"WHO a b\n") == b"ERR expected one argument\n"
    assert ask(b"x" * 600) == b"ERR line too long\n"
    assert ask(b"who\r\n") == b"OK 0\n"
    st = ask(b"STATS\n").decode().splitlines()
    assert st[0] == "daemon imapd" and st[-1] == "OK"
    # the other daemons have theirs
    for name in ("pop3d", "lmtpd"):
        assert (t.data_dir / "control" / f"{name}.sock").is_socket()


def test_no_daemon_running(tandem):
    t = tandem
    for name in list(t.procs):
        t.stop(name)
    cp = t.ctl("who", check=False)
    assert cp.returncode == 69  # EX_UNAVAILABLE
    assert b"no running daemon" in cp.stderr


# ---- metrics -----------------------------------------------------------------------

METRICS = {"server": {"metrics_listen": "127.0.0.1:0"}}

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{({LABEL}(?:,{LABEL})*)?\}})? "
                    r"(-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|NaN|[+-]Inf)"
                    r"(?: -?[0-9]+)?$")
HELP = re.compile(rf"^# HELP ({NAME}) .*$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")


def metrics_port(t, name):
    m = wait_for(lambda: re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics",
                                   t.log(name)), f"{name} logs its metrics port")
    return int(m.group(1))


def http(port, request, timeout=10):
    """Sends raw bytes, returns (status line, headers dict, body) read to EOF.
    A server that hangs makes the socket time out (the test fails)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    data = ask_to_eof(s, request)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(l.split(": ", 1) for l in lines[1:])
    return lines[0], headers, body


def parse_exposition(text, daemon):
    """Checks the text format 0.0.4 line by line; returns {sample: value}."""
    assert text.endswith("\n")
    types, helps, samples = {}, set(), {}
    for line in text.splitlines():
        if line.startswith("# HELP"):
            m = HELP.match(line)
            assert m, line
            assert m.group(1) not in helps, f"second HELP: {line}"
            helps.add(m.group(1))
        elif line.startswith("# TYPE"):
            m = TYPE.match(line)
            assert m, line
            assert m.group(1) not in types, f"second TYPE: {line}"
            types[m.group(1)] = m.group(2)
        else:
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name, labels, value = m.group(1), m.group(2) or "", m.group(3)
            # the family was typed before its first sample
            assert name in types, f"sample before # TYPE: {line}"
            if types[name] == "counter":
                assert name.endswith("_total"), name
            assert f'daemon="{daemon}"' in labels.split(","), line
            key = name + "{" + labels + "}"
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = float(value)
    for name in types:
        assert any(k.startswith(name + "{") for k in samples), f"{name} has no sample"
    return samples


@pytest.mark.tandem_config(METRICS)
def test_metrics_endpoint(tandem):
    t = tandem
    control_up(t)
    need("imapd"), need("pop3d"), need("lmtpd")
    ports = {name: metrics_port(t, name) for name in ("imapd", "pop3d", "lmtpd")}
    assert len(set(ports.values())) == 3

    # one login and one failure on imapd, then the numbers agree with stats
    c, tagged = imap_raw(t, "LOGIN alice wrong", "LOGIN alice secret", "LOGOUT")
    assert tagged[0].startswith(b"a0 NO") and tagged[1].startswith(b"a1 OK")
    c.finish()
    st = stats(t)

    for name, port in ports.items():
        status, headers, body = http(port, b"GET /metrics HTTP/1.0\r\n\r\n")
        assert status == "HTTP/1.0 200 OK"
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert int(headers["Content-Length"]) == len(body)
        samples = parse_exposition(body.decode(), name)
        lbl = f'{{daemon="{name}"}}'
        assert samples["tandem_logins_total" + lbl] == st[name]["logins"]
        assert samples["tandem_auth_failures_total" + lbl] == st[name]["auth_failures"]
        assert samples["tandem_connections_accepted_total" + lbl] == \
            st[name]["connections_total"]
        for k in ("tandem_connections", "tandem_commands_total",
                  "tandem_received_bytes_total", "tandem_sent_bytes_total",
                  "tandem_uptime_seconds"):
            assert k + lbl in samples, k
        assert f'tandem_deliveries_total{{daemon="{name}",result="ok"}}' in samples
        assert f'tandem_deliveries_total{{daemon="{name}",result="failed"}}' in samples
    assert stats(t)["imapd"]["logins"] >= 1

    port = ports["imapd"]
    # HTTP/1.1 with headers, a query string
    status, _, body = http(port, b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n"
                                 b"Accept: */*\r\n\r\n")
    assert status == "HTTP/1.0 200 OK" and b"tandem_logins_total" in body
    # HEAD: headers only
    status, headers, body = http(port, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    assert status == "HTTP/1.0 200 OK" and body == b""
    # anything else: 404
    assert http(port, b"GET / HTTP/1.0\r\n\r\n")[0] == "HTTP/1.0 404 Not Found"
    assert http(port, b"GET /metricsx HTTP/1.0\r\n\r\n")[0] == "HTTP/1.0 404 Not Found"
    assert http(port, b"POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n")[0] \
        == "HTTP/1.0 404 Not Found"
    # malformed: an answer at once, not a wait
    assert http(port, b"HELLO\r\n\r\n")[0] == "HTTP/1.0 400 Bad Request"
    assert http(port, b"GET /metrics\r\n")[0] == "HTTP/1.0 400 Bad Request"
    assert http(port, b"GET /metrics HTTP/2.0\r\n\r\n")[0] == "HTTP/1.0 400 Bad Request"
    # an endless head is cut off
    status = http(port, b"GET /metrics HTTP/1.0\r\n" + b"X-A: b\r\n" * 2000)[0]
    assert status == "HTTP/1.0 431 Request Header Fields Too Large"
    # the daemon still serves mail and metrics
    assert http(port, b"GET /metrics HTTP/1.0\r\n\r\n")[0] == "HTTP/1.0 200 OK"
    i = imaplib.IMAP4("127.0.0.1", t.imap_port)
    i.login("bob", "hunter2")
    i.logout()


def test_metrics_off_by_default(tandem):
    t = tandem
    control_up(t)
    need("imapd")
    assert "metrics on" not in t.log("imapd")
