#!/usr/bin/python3
"""Ask a throwaway Dovecot for the BODYSTRUCTURE, BODY and ENVELOPE of each
message of the MIME corpus and write them to tests/data/mime/expected/.

    tests/tools/dovecot-expected.py [corpus-dir]

Needs Debian's dovecot-core and dovecot-imapd. Starts `dovecot -F` with its
own configuration in a temporary directory, listening on 127.0.0.1 only,
appends every *.msg file of the corpus to a fresh user's INBOX and writes
expected/<name>.txt: the three untagged FETCH responses exactly as Dovecot
sent them on the wire (CRLF line ends, literals inline):

    * 1 FETCH (BODYSTRUCTURE ...)
    * 1 FETCH (BODY ...)
    * 1 FETCH (ENVELOPE ...)

tests/unit/test-bodystructure.c compares Tandem's output with these files.
"""
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{d}/mail/%u
log_path = {d}/log
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
passdb {{
  driver = static
  args = password=pw
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
first_valid_uid = 0
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    def __init__(self, port):
        for _ in range(100):
            try:
                self.sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("dovecot did not start")
        self.buf = b""
        self.tag = 0
        self.read_line()

    def read_line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise SystemExit("connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def read_n(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise SystemExit("connection closed")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def command(self, cmd, literal=None):
        """Sends a command; returns the untagged responses, raw."""
        self.tag += 1
        tag = b"t%d" % self.tag
        if literal is None:
            self.sock.sendall(tag + b" " + cmd + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + cmd + b" {%d+}\r\n" % len(literal)
                              + literal + b"\r\n")
        untagged = b""
        while True:
            line = self.read_line()
            # a line ending in a literal announcement: read it, continue
            while True:
                m = re.search(rb"\{(\d+)\}\r\n$", line)
                if not m:
                    break
                line += self.read_n(int(m.group(1)))
                line += self.read_line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise SystemExit("command failed: %r -> %r" % (cmd, line))
                return untagged
            untagged += line


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "data", "mime")
    outdir = os.path.join(corpus, "expected")
    os.makedirs(outdir, exist_ok=True)
    d = tempfile.mkdtemp(prefix="tandem-dovecot-")
    os.chmod(d, 0o755)
    for sub in ("run", "state", "mail"):
        os.mkdir(os.path.join(d, sub))
    if os.getuid() == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        os.chown(os.path.join(d, "mail"), uid, gid)
        internal, internal_group, login = "dovecot", "dovecot", "dovenull"
    else:
        uid, gid = os.getuid(), os.getgid()
        me = pwd.getpwuid(uid).pw_name
        internal, internal_group, login = me, me, me
    port = free_port()
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(d=d, port=port, uid=uid, gid=gid,
                            internal=internal, internal_group=internal_group,
                            login=login))
    proc = subprocess.Popen(["dovecot", "-c", conf, "-F"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        c = Client(port)
        c.command(b"LOGIN corpus pw")
        names = sorted(n for n in os.listdir(corpus) if n.endswith(".msg"))
        for name in names:
            with open(os.path.join(corpus, name), "rb") as f:
                data = f.read()
            c.command(b"APPEND INBOX", data)
        c.command(b"SELECT INBOX")
        for i, name in enumerate(names, 1):
            out = b""
            for item in (b"BODYSTRUCTURE", b"BODY", b"ENVELOPE"):
                r = c.command(b"FETCH %d %s" % (i, item))
                out += r.replace(b"* %d FETCH" % i, b"* 1 FETCH", 1)
            with open(os.path.join(outdir, name[:-4] + ".txt"), "wb") as f:
                f.write(out)
        c.command(b"LOGOUT")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)
    print("wrote %d files to %s" % (len(names), outdir))


if __name__ == "__main__":
    main()
