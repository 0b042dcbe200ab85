#!/usr/bin/env bash
# Regenerates tests/testdata/mime/<name>.dovecot.txt: Dovecot's FETCH ENVELOPE, BODYSTRUCTURE and BODY for every
# <name>.eml in this directory, used by mail/parse_test.ts as the reference.
#
# Needs Debian's dovecot-imapd (`apt-get install -y dovecot-imapd`) and python3. Runs a private Dovecot (config,
# Maildir and sockets in a temp dir, nothing in /etc) on a loopback port, APPENDs each message to a fresh mailbox
# over IMAP and saves the three untagged FETCH responses exactly as sent (literals included).
# Usage: tests/testdata/mime/make_fixtures.sh [port]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
port="${1:-31143}"
tmp="$(mktemp -d)"
pid=""
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
# Dovecot refuses to access mail as root: the mail user is "nobody".
mkdir -p "$tmp/run" "$tmp/home"
chown nobody:nogroup "$tmp/home"
chmod 755 "$tmp"

cat >"$tmp/dovecot.conf" <<EOF
base_dir = $tmp/run
state_dir = $tmp/state
instance_name = silvermail-fixtures-$port
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
log_path = $tmp/dovecot.log
mail_location = maildir:$tmp/home/%u/Maildir
passdb {
  driver = static
  args = password=fixtures
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$tmp/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
EOF

/usr/sbin/dovecot -F -c "$tmp/dovecot.conf" </dev/null >"$tmp/stdout.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  [ -f "$tmp/run/master.pid" ] && (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.1
done

python3 - "$port" "$here" <<'PY'
import glob, os, re, socket, sys

port, here = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
buf = b""

def read_until_tag(tag):
    """Reads responses until the tagged one; returns (untagged bytes, tagged line)."""
    global buf
    while True:
        m = re.search(rb"(^|\r\n)" + re.escape(tag) + rb" [^\r\n]*\r\n", buf)
        if m:
            start = m.start() + (2 if m.group(1) else 0)
            untagged, tagged = buf[:start], buf[start:m.end()]
            buf = buf[m.end():]
            return untagged, tagged
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk

def cmd(tag, line):
    s.sendall(tag + b" " + line + b"\r\n")
    untagged, tagged = read_until_tag(tag)
    return untagged, tagged

while b"\r\n" not in buf:
    buf += s.recv(65536)
buf = buf[buf.index(b"\r\n") + 2:]
cmd(b"a", b"LOGIN fixtures fixtures")
n = 0
for path in sorted(glob.glob(os.path.join(here, "*.eml"))):
    name = os.path.basename(path)[:-4]
    raw = open(path, "rb").read()
    n += 1
    box = b"m%d" % n
    cmd(b"c", b"CREATE " + box)
    s.sendall(b"p APPEND " + box + b" {%d+}\r\n" % len(raw) + raw + b"\r\n")
    _, tagged = read_until_tag(b"p")
    if not tagged.startswith(b"p OK"):
        print(f"{name}: APPEND refused: {tagged.decode(errors='replace').strip()}", file=sys.stderr)
        continue
    cmd(b"s", b"SELECT " + box)
    out = b""
    for item in (b"ENVELOPE", b"BODYSTRUCTURE", b"BODY"):
        untagged, tagged = cmd(b"f", b"FETCH 1 (" + item + b")")
        if not tagged.startswith(b"f OK"):
            raise SystemExit(f"{name}: FETCH {item!r} failed: {tagged!r}")
        out += untagged
    open(os.path.join(here, name + ".dovecot.txt"), "wb").write(out)
    print(f"{name}: {len(out)} bytes")
cmd(b"z", b"LOGOUT")
PY
