#!/usr/bin/env bash
# A real Orthanc archive (DICOM store with DICOMweb) for development, tests and the bench.
#
#   scripts/orthanc.sh start    install the packages (once), write the config, start, wait until it answers
#   scripts/orthanc.sh stop     stop the Orthanc started by this script (pid file)
#   scripts/orthanc.sh status   exit 0 and print "running" when an authenticated GET /system succeeds
#   scripts/orthanc.sh reset    stop and delete storage and index (the credentials are kept)
#   scripts/orthanc.sh env      print DICOMWEB_UPSTREAM, DICOMWEB_UPSTREAM_CREDENTIALS_FILE,
#                               ORTHANC_URL and ORTHANC_AUTH, one NAME=value a line
#
# Debian's `orthanc` and `orthanc-dicomweb` packages (apt-get install -y when missing); the
# package's own service is not used (no init system here): the binary runs in the background
# with a pid file. HTTP authentication is on, with the user `custos` and a password generated
# once into a 0600 file ($ORTHANC_HOME/credentials, `user:password`): only Custos (and tests,
# operators) hold it, an anonymous request is refused. Every command is idempotent.
#
# Environment (all optional):
#   ORTHANC_HTTP_PORT   REST and DICOMweb port on 127.0.0.1   (default 8042)
#   ORTHANC_DICOM_PORT  DICOM (C-STORE...) port                (default 4252 + HTTP port - 8042:
#                       4252 for the default, off Orthanc's 4242, and distinct per HTTP port)
#   ORTHANC_HOME        state: credentials, and per HTTP port run-PORT/ with orthanc.json,
#                       storage/, index/ (SQLite), orthanc.log, orthanc.pid
#                       (default ${CUSTOS_CACHE:-~/.cache/custos}/orthanc)
set -euo pipefail

HTTP_PORT="${ORTHANC_HTTP_PORT:-8042}"
DICOM_PORT="${ORTHANC_DICOM_PORT:-$((4252 + HTTP_PORT - 8042))}"
HOME_DIR="${ORTHANC_HOME:-${CUSTOS_CACHE:-$HOME/.cache/custos}/orthanc}"
CREDENTIALS="$HOME_DIR/credentials"
RUN="$HOME_DIR/run-$HTTP_PORT"
CONFIG="$RUN/orthanc.json"
PIDFILE="$RUN/orthanc.pid"
LOGFILE="$RUN/orthanc.log"
BINARY=/usr/sbin/Orthanc
PLUGIN=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
USER_NAME=custos

log() { echo "[orthanc.sh] $*" >&2; }

install_packages() {
  if [[ -x "$BINARY" && -f "$PLUGIN" ]]; then return; fi
  log "installing orthanc and orthanc-dicomweb (apt-get)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc orthanc-dicomweb >&2; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc orthanc-dicomweb >&2
  fi
  [[ -x "$BINARY" && -f "$PLUGIN" ]] || { log "$BINARY or $PLUGIN still missing after install"; exit 1; }
}

# user:password, made once (0600); later starts, resets and ports reuse it.
credentials() {
  if [[ ! -s "$CREDENTIALS" ]]; then
    mkdir -p "$HOME_DIR"
    (umask 077; printf '%s:%s\n' "$USER_NAME" "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >"$CREDENTIALS")
    log "made the archive's credentials in $CREDENTIALS"
  fi
  chmod 600 "$CREDENTIALS"
  AUTH="$(head -1 "$CREDENTIALS")"
}

write_config() {
  mkdir -p "$RUN/storage" "$RUN/index"
  local password="${AUTH#*:}"
  # Binding: Orthanc 1.10 has no option to choose the HTTP listen address (HttpBindAddresses
  # came in 2025, after 1.12); it listens on all interfaces and RemoteAccessAllowed: false
  # refuses every request that does not come from the loopback. The DICOM port listens on all
  # interfaces too (DCMTK), with no modality registered: C-FIND/GET/MOVE are refused, C-ECHO
  # and C-STORE are accepted (a modality pushing into the archive is part of the scenario).
  (umask 077; cat >"$CONFIG" <<EOF
{
  "Name": "custos-orthanc-$HTTP_PORT",
  "StorageDirectory": "$RUN/storage",
  "IndexDirectory": "$RUN/index",
  "StorageCompression": false,
  "OverwriteInstances": false,
  "StableAge": 2,
  "HttpPort": $HTTP_PORT,
  "HttpTimeout": 60,
  "HttpRequestTimeout": 60,
  "HttpDescribeErrors": true,
  "KeepAlive": true,
  "HttpCompressionEnabled": false,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": true,
  "RegisteredUsers": { "$USER_NAME": "$password" },
  "SslEnabled": false,
  "ExecuteLuaEnabled": false,
  "RestApiWriteToFileSystemEnabled": false,
  "DicomServerEnabled": true,
  "DicomAet": "CUSTOSARCHIVE",
  "DicomPort": $DICOM_PORT,
  "DicomModalities": {},
  "Plugins": ["$PLUGIN"],
  "DicomWeb": {
    "Enable": true,
    "Root": "/dicom-web/",
    "EnableWado": false,
    "Ssl": false,
    "StudiesMetadata": "Full",
    "SeriesMetadata": "Full"
  }
}
EOF
  )
}

# Alive, and really our Orthanc (a stale pid file may name a pid reused by something else).
pid_alive() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$CONFIG"
}

# An authenticated request (credentials through curl's config on stdin, not on the command line).
answers() {
  [[ -s "$CREDENTIALS" ]] || return 1
  printf 'user = "%s"\n' "$(head -1 "$CREDENTIALS")" |
    curl -fsS -o /dev/null --max-time 3 -K - "http://127.0.0.1:$HTTP_PORT/system" 2>/dev/null
}

start() {
  if pid_alive && answers; then log "already running on 127.0.0.1:$HTTP_PORT"; return; fi
  install_packages
  credentials
  write_config
  if ! pid_alive; then
    log "starting Orthanc on 127.0.0.1:$HTTP_PORT (DICOM $DICOM_PORT, state $RUN)"
    : >"$LOGFILE"
    setsid nohup "$BINARY" "$CONFIG" --logfile="$LOGFILE" >>"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  for _ in $(seq 1 60); do
    if answers; then log "ready on 127.0.0.1:$HTTP_PORT"; return; fi
    if ! pid_alive; then log "Orthanc exited; last log lines:"; tail -30 "$LOGFILE" >&2 || true; exit 1; fi
    sleep 0.5
  done
  log "Orthanc did not answer in 30 s; last log lines:"; tail -30 "$LOGFILE" >&2 || true; exit 1
}

stop() {
  if pid_alive; then
    local pid; pid="$(cat "$PIDFILE")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do pid_alive || break; sleep 0.25; done
    if pid_alive; then kill -KILL "$pid" 2>/dev/null || true; fi
    log "stopped"
  fi
  rm -f "$PIDFILE"
}

print_env() {
  credentials
  echo "DICOMWEB_UPSTREAM=http://127.0.0.1:$HTTP_PORT/dicom-web"
  echo "DICOMWEB_UPSTREAM_CREDENTIALS_FILE=$CREDENTIALS"
  echo "ORTHANC_URL=http://127.0.0.1:$HTTP_PORT"
  echo "ORTHANC_AUTH=$AUTH"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if pid_alive && answers; then echo running; else echo stopped; exit 1; fi ;;
  reset) stop; rm -rf "$RUN"; log "reset $RUN (credentials kept)" ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|reset|env" >&2; exit 2 ;;
esac
