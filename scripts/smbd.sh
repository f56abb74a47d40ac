#!/usr/bin/env bash
# A private Samba server for tests, benchmarks and demos: smbd in the foreground with its own
# config, on 127.0.0.1 at a port that is not 445, shares in a folder of its own and a test user
# with a password. Nothing of the machine's Samba (/etc/samba, /var/lib/samba) is used or changed.
#
#   scripts/smbd.sh install
#       installs samba and smbclient (Debian packages) if they are missing; needs root then.
#   scripts/smbd.sh start --dir DIR --port PORT [--user NAME] [--password PW] [--share NAME]...
#       writes DIR/smb.conf and DIR/client.conf, makes one folder per share (DIR/shares/NAME;
#       default one share, "share"), adds the user (default "pkgxfer", password "pkgxfer-test") to
#       a passdb in DIR/private, starts smbd in the background and waits (10 s at most) until the
#       user can list the first share. Prints nothing on success; exits 1 with smbd's output if it
#       did not come up (e.g. the port was taken). Needs root (smbd switches to the share owner).
#   scripts/smbd.sh stop --dir DIR
#       stops that smbd and every child it forked (its process group) and waits until they are
#       gone (10 s at most, then SIGKILL), so a connection a client held is dropped when it
#       returns and the port can be bound again at once. OK if it is not running.
#   scripts/smbd.sh smbclient --dir DIR [SHARE] -- ARGS...
#       runs smbclient against SHARE of that server as the test user (for checks and benchmarks).
#
# Notes (Samba has no inline comments in smb.conf, so they are here):
# - The test user name is mapped to root (username map): Samba needs a Unix account behind a
#   passdb user, and root exists everywhere; files on the shares belong to root.
# - `map to guest = Never` and no guest shares: a wrong password is refused, never let in as a
#   guest (libsmbclient would otherwise fall back to an anonymous login and succeed).
# - Do not pass --no-process-group to smbd: its parent would then signal the whole process group
#   on SIGTERM, killing whoever started it. Without it, `--foreground` smbd calls setsid(), so its
#   pid is its process group, which is what `stop` signals.
# - `server min protocol = SMB2_02`: the product asks for SMB2 or later; `server smb encrypt =
#   if_required` lets a client ask for encryption (`"smb": {"encrypt": true}`) without forcing it.
set -euo pipefail

die() {
  echo "smbd.sh: $*" >&2
  exit 1
}

find_tool() {
  local name=$1
  command -v "$name" 2> /dev/null && return 0
  for dir in /usr/sbin /usr/bin /sbin; do
    [[ -x $dir/$name ]] && { echo "$dir/$name"; return 0; }
  done
  return 1
}

cmd_install() {
  local missing=()
  for p in samba smbclient; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2> /dev/null || true) == "install ok installed" ]] ||
      missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) -eq 0 ]] || die "installing ${missing[*]} needs root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
}

dir= port= user=pkgxfer password=pkgxfer-test shares=()
parse() {
  while (($#)); do
    case $1 in
      --dir) dir=$2; shift 2 ;;
      --port) port=$2; shift 2 ;;
      --user) user=$2; shift 2 ;;
      --password) password=$2; shift 2 ;;
      --share) shares+=("$2"); shift 2 ;;
      --) shift; rest=("$@"); return 0 ;;
      *) rest=("$@"); return 0 ;;
    esac
  done
  rest=()
}

# running: the pid of this DIR's smbd if it is alive.
running() {
  [[ -f $dir/smbd.pid ]] || return 1
  local pid
  pid=$(cat "$dir/smbd.pid")
  [[ -n $pid ]] && kill -0 "$pid" 2> /dev/null && echo "$pid"
}

client() {
  local share=$1
  shift
  "$SMBCLIENT" "//127.0.0.1/$share" -p "$(cat "$dir/port")" -s "$dir/client.conf" \
    -U "$(cat "$dir/user")%$(cat "$dir/password")" -m SMB3 "$@"
}

cmd_start() {
  [[ -n $dir && -n $port ]] || die "start needs --dir and --port"
  [[ $port =~ ^[0-9]+$ && $port -ne 445 && $port -ne 139 ]] || die "--port must be a number, not 445 or 139"
  ((${#shares[@]})) || shares=(share)
  SMBD=$(find_tool smbd) || die "smbd not found (scripts/smbd.sh install)"
  SMBPASSWD=$(find_tool smbpasswd) || die "smbpasswd not found (scripts/smbd.sh install)"
  SMBCLIENT=$(find_tool smbclient) || die "smbclient not found (scripts/smbd.sh install)"
  [[ $(id -u) -eq 0 ]] || die "smbd needs root"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if pid=$(running); then die "an smbd (pid $pid) already runs for $dir"; fi
  mkdir -p "$dir"/{private,lock,state,cache,run,log,ncalrpc,client,shares}
  chmod 700 "$dir/private"
  echo "root = $user" > "$dir/users.map"
  {
    cat << EOF
[global]
  server role = standalone server
  workgroup = WORKGROUP
  netbios name = PKGXFERTEST
  interfaces = 127.0.0.1/8
  bind interfaces only = yes
  smb ports = $port
  disable netbios = yes
  server min protocol = SMB2_02
  server smb encrypt = if_required
  passdb backend = tdbsam:$dir/private/passdb.tdb
  username map = $dir/users.map
  map to guest = Never
  private dir = $dir/private
  lock directory = $dir/lock
  state directory = $dir/state
  cache directory = $dir/cache
  pid directory = $dir/run
  ncalrpc dir = $dir/ncalrpc
  log file = $dir/log/log.%m
  max log size = 1000
  log level = 1
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  usershare path =
EOF
    for s in "${shares[@]}"; do
      mkdir -p "$dir/shares/$s"
      cat << EOF
[$s]
  path = $dir/shares/$s
  read only = no
  guest ok = no
  force user = root
  create mask = 0644
  directory mask = 0755
EOF
    done
  } > "$dir/smb.conf"
  cat > "$dir/client.conf" << EOF
[global]
  client min protocol = SMB2_02
  client max protocol = SMB3
  disable netbios = yes
  lock directory = $dir/client
  state directory = $dir/client
  cache directory = $dir/client
  private dir = $dir/client
EOF
  echo "$port" > "$dir/port"
  echo "$user" > "$dir/user"
  (umask 077 && echo "$password" > "$dir/password")
  echo "${shares[0]}" > "$dir/first_share"
  printf '%s\n%s\n' "$password" "$password" |
    "$SMBPASSWD" -c "$dir/smb.conf" -s -a root > "$dir/smbpasswd.out" 2>&1 ||
    die "smbpasswd failed: $(cat "$dir/smbpasswd.out")"
  # setsid() by smbd itself makes it the leader of a process group of its own (see the notes).
  "$SMBD" --foreground --debug-stdout -s "$dir/smb.conf" > "$dir/smbd.out" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$dir/smbd.pid"
  local deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2> /dev/null; then
      die "smbd exited at start (port $port taken?): $(tail -20 "$dir/smbd.out")"
    fi
    if client "${shares[0]}" -c ls > /dev/null 2>&1; then
      return 0
    fi
    sleep 0.05
  done
  kill -TERM -- "-$pid" 2> /dev/null || true
  die "smbd did not answer on 127.0.0.1:$port within 10 s: $(tail -20 "$dir/smbd.out")"
}

cmd_stop() {
  [[ -n $dir ]] || die "stop needs --dir"
  local pid
  pid=$(running) || return 0
  kill -TERM -- "-$pid" 2> /dev/null || kill -TERM "$pid" 2> /dev/null || true
  local deadline=$((SECONDS + 10))
  # The group is gone when no process is left in it (the parent and every connection's child).
  while pgrep -g "$pid" > /dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      kill -KILL -- "-$pid" 2> /dev/null || true
      sleep 0.1
      break
    fi
    sleep 0.02
  done
  rm -f "$dir/smbd.pid"
}

cmd_smbclient() {
  [[ -n $dir ]] || die "smbclient needs --dir"
  SMBCLIENT=$(find_tool smbclient) || die "smbclient not found (scripts/smbd.sh install)"
  local share
  share=$(cat "$dir/first_share")
  if ((${#rest[@]})) && [[ ${rest[0]} != -* ]]; then
    share=${rest[0]}
    rest=("${rest[@]:1}")
  fi
  [[ ${rest[0]:-} == -- ]] && rest=("${rest[@]:1}")
  client "$share" "${rest[@]}"
}

sub=${1:-}
shift || true
rest=()
case $sub in
  install) cmd_install ;;
  start) parse "$@"; cmd_start ;;
  stop) parse "$@"; cmd_stop ;;
  smbclient) parse "$@"; cmd_smbclient ;;
  *) die "usage: smbd.sh install | start --dir DIR --port PORT [--user U] [--password P] [--share NAME]... | stop --dir DIR | smbclient --dir DIR [SHARE] -- ARGS" ;;
esac
