#!/bin/sh
# chat.sh: a client for the long-polling chat server, for a box with nothing but curl and a
# POSIX shell (dash, busybox sh, bash, ksh). No jq needed: JSON is read by a small awk parser.
#
#   chat.sh login URL USER [DEVICE]   log in once; the token is kept in a file only you can read
#   chat.sh send USER TEXT...         send a message (TEXT "-": read it from stdin)
#   chat.sh follow                    print each message as it arrives, until stopped
#   chat.sh search [-w USER | -g GROUP] [-n N] [-b ID] WORDS...
#                                     the messages that hold every word, newest first
#   chat.sh logout                    end this device's session and forget the token
#
# follow and search print one line per message, with the time it was sent in local time (TZ) and its
# offset from UTC:  [2026-11-25 20:00:00 +0100] alice -> bob: hi bob
# (with an awk that has no strftime, such as a strictly POSIX one, the time is in UTC and
# says so: [2026-11-25 19:00:00 UTC]).
# New lines, tabs and other control characters in a text are shown escaped (\n, \t, \u001b),
# so one message is always one line and a message cannot send commands to your terminal.
#
# Environment:
#   CHAT_PASSWORD      password for login (else it is asked for, without echo)
#   CHAT_TOKEN_FILE    the token file (default ${XDG_CONFIG_HOME:-~/.config}/chat/token).
#                      The server URL and the stream cursor are kept beside it, in
#                      TOKEN_FILE.url and TOKEN_FILE.cursor.
#   CHAT_URL           the server URL, instead of the one saved at login
#   CHAT_POLL_TIMEOUT  seconds the server may hold one poll (default 25)
#   CHAT_CURL_OPTS     more curl options, e.g. "--cacert /etc/ssl/local-ca.pem"
#
# Exit status: 0 done, 1 wrong usage (also a login with no CHAT_PASSWORD and no terminal to
# ask on), 2 the server refused the request, 3 not logged in (or the token was revoked), 4 the
# server could not be reached.
#
# How follow keeps going: it polls with the cursor of the last answer, saved in a file after
# the messages were printed, so a restarted follow (or a restarted server) continues exactly
# where it stopped. On errors it waits 1 s, doubling up to 60 s, with jitter so a room full of
# kiosks does not reconnect in the same second; it honours Retry-After on 429 and 503.

set -u
set -f
umask 077

PROG=chat.sh
TAB=$(printf '\t')
USER_AGENT='chat.sh/1 (curl)'

msg() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  _code=$1
  shift
  msg "$*"
  exit "$_code"
}

usage() {
  cat <<'EOF'
usage: chat.sh login URL USER [DEVICE]   log in (password from $CHAT_PASSWORD or a prompt)
       chat.sh send USER TEXT...         send a message (TEXT "-" reads stdin)
       chat.sh send '#ID' TEXT...        send to group ID (see GET /groups)
       chat.sh follow                    print messages as they arrive (in local time)
       chat.sh search [-w USER | -g GROUP] [-n N] [-b ID] WORDS...
                                         messages holding every word, newest first: only
                                         those with USER or in GROUP, at most N (1-100,
                                         default 20), older than message ID (to page on)
       chat.sh logout                    log this device out

Environment: CHAT_PASSWORD, CHAT_TOKEN_FILE (default ~/.config/chat/token), CHAT_URL,
CHAT_POLL_TIMEOUT (seconds, default 25), CHAT_CURL_OPTS (more curl options), TZ.
Exit status: 0 done, 1 usage (also: no password and no terminal to ask on), 2 refused by
the server, 3 not logged in, 4 unreachable.
EOF
}

# --- JSON -----------------------------------------------------------------------------------
# json_flat: JSON on stdin -> one "path<TAB>value" line per scalar (events.0.message.body).
# Strings come out unescaped for display, except control characters, which stay escaped
# (\n, \t, \u001b, also DEL and C1 controls), so a value never holds a tab or a new line.
# The input is split on double quotes (RS), so awk's own C code does the scanning and only the
# short text between strings is walked character by character.
JSON_AWK='
function fail(m) { printf "chat.sh: bad JSON: %s\n", m > "/dev/stderr"; bad = 1; exit 2 }
function push(t) { depth++; kind[depth] = t; idx[depth] = 0; key[depth] = ""; wantkey = (t == "o") }
function pop() { if (depth < 1) fail("unbalanced"); depth--; wantkey = 0 }
function path(   d, p) {
  p = ""
  for (d = 1; d <= depth; d++) p = p (d > 1 ? "." : "") (kind[d] == "o" ? key[d] : idx[d])
  return p
}
function emit(v) { print path() "\t" v }
function flushlit() { if (lit != "") { emit(lit); lit = "" } }
function outside(t,   i, c, n) {
  n = length(t)
  for (i = 1; i <= n; i++) {
    c = substr(t, i, 1)
    if (c == "{") push("o")
    else if (c == "[") push("a")
    else if (c == "}" || c == "]") { flushlit(); pop() }
    else if (c == ",") { flushlit(); if (kind[depth] == "a") idx[depth]++; else wantkey = 1 }
    else if (c == ":") wantkey = 0
    else if (c == " " || c == "\t" || c == "\n" || c == "\r") flushlit()
    else lit = lit c
  }
}
function hex4(h,   i, c, v) {
  if (length(h) != 4) return -1
  h = tolower(h); v = 0
  for (i = 1; i <= 4; i++) {
    c = index("0123456789abcdef", substr(h, i, 1))
    if (!c) return -1
    v = v * 16 + c - 1
  }
  return v
}
function utf8(c) {
  if (c < 128) return sprintf("%c", c)
  if (c < 2048) return sprintf("%c%c", 192 + int(c / 64), 128 + c % 64)
  if (c < 65536) return sprintf("%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64)
  return sprintf("%c%c%c%c", 240 + int(c / 262144), 128 + int(c / 4096) % 64, 128 + int(c / 64) % 64, 128 + c % 64)
}
function ctl(t,   r, m) {
  r = ""
  while (match(t, /[\001-\037\177]|\302[\200-\237]/)) {
    m = substr(t, RSTART, RLENGTH)
    r = r substr(t, 1, RSTART - 1) sprintf("\\u%04x", ORD[substr(m, RLENGTH, 1)])
    t = substr(t, RSTART + RLENGTH)
  }
  return r t
}
function unescape(t,   r, i, c, cp, lo) {
  r = ""
  while ((i = index(t, "\\")) > 0) {
    r = r ctl(substr(t, 1, i - 1))
    c = substr(t, i + 1, 1)
    if (c == "u") {
      cp = hex4(substr(t, i + 2, 4))
      if (cp < 0) fail("bad \\u escape")
      t = substr(t, i + 6)
      if (cp >= 55296 && cp < 56320 && substr(t, 1, 2) == "\\u") {
        lo = hex4(substr(t, 3, 4))
        if (lo >= 56320 && lo < 57344) { cp = 65536 + (cp - 55296) * 1024 + (lo - 56320); t = substr(t, 7) }
      }
      if (cp < 32 || (cp >= 127 && cp < 160) || (cp >= 55296 && cp < 57344)) r = r sprintf("\\u%04x", cp)
      else r = r utf8(cp)
    } else {
      if (c == "n" || c == "t" || c == "r" || c == "b" || c == "f") r = r "\\" c
      else r = r c
      t = substr(t, i + 2)
    }
  }
  return r ctl(t)
}
function trailing_backslashes(t,   k, n) {
  n = 0; k = length(t)
  while (k > 0 && substr(t, k, 1) == "\\") { n++; k-- }
  return n
}
BEGIN { RS = "\""; for (i = 1; i < 256; i++) ORD[sprintf("%c", i)] = i }
{
  if (!instring) { outside($0); instring = 1; next }
  buf = buf $0
  if (trailing_backslashes(buf) % 2 == 1) { buf = buf "\""; next }
  if (depth > 0 && kind[depth] == "o" && wantkey) { key[depth] = unescape(buf); wantkey = 0 }
  else emit(unescape(buf))
  buf = ""; instring = 0
}
END { if (bad) exit 2; if (buf != "") fail("unterminated string"); flushlit(); if (depth != 0) fail("unbalanced") }
'

json_flat() { LC_ALL=C awk "$JSON_AWK"; }

# json_get KEY FILE: the value at KEY (e.g. error.message), empty if absent.
json_get() {
  json_flat < "$2" 2>/dev/null | LC_ALL=C awk -F "$TAB" -v k="$1" '$1 == k { print substr($0, length(k) + 2); exit }'
}

# The messages of an answer (flattened on stdin), one display line each: the message events
# of a poll (format_events), or a page of messages (format_messages: GET /search). The time
# (sent_at, ISO 8601 UTC) is shown in local time where awk has strftime (gawk, mawk 1.3.4,
# busybox), else in UTC, saying so.
if LC_ALL=C awk 'BEGIN { if (strftime("%Y", 0) == "") exit 1 }' < /dev/null > /dev/null 2>&1; then
  SHOW_TIME='strftime("%Y-%m-%d %H:%M:%S %z", t)'
else
  SHOW_TIME='utc_text'
fi
format_events() { format_lines events message.; }
format_messages() { format_lines messages ''; }
# format_lines LIST FIELD_PREFIX: LIST.N.FIELD_PREFIX{from,to,...} are the messages.
format_lines() {
  LC_ALL=C awk -F "$TAB" -v list="$1" -v mp="$2" '
    # Days from 1970-01-01 to the date (proleptic Gregorian).
    function days(y, m, d,   era, yoe, doy) {
      y -= (m <= 2)
      era = int((y >= 0 ? y : y - 399) / 400)
      yoe = y - era * 400
      doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
      return era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468
    }
    function when(iso,   p, t, utc_text) {
      if (iso !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]/) return iso
      split(iso, p, /[-T:.Z]/)
      utc_text = p[1] "-" p[2] "-" p[3] " " p[4] ":" p[5] ":" p[6] " UTC"
      t = days(p[1] + 0, p[2] + 0, p[3] + 0) * 86400 + p[4] * 3600 + p[5] * 60 + p[6]
      return '"$SHOW_TIME"'
    }
    index($1, list ".") == 1 && split($1, part, ".") >= 3 && part[2] ~ /^[0-9]+$/ {
      v = substr($0, length($1) + 2)
      i = part[2] + 0
      f = substr($1, length(part[1] "." part[2] ".") + 1)
      if (i > max) max = i
      if (mp == "") type[i] = "message"
      if (f == "type") type[i] = v
      else if (f == mp "sent_at") at[i] = v
      else if (f == mp "from") from[i] = v
      else if (f == mp "to") to[i] = v
      else if (f == mp "group") group[i] = v
      else if (f == mp "body") body[i] = v
    }
    END {
      for (i = 0; i <= max; i++) {
        if (type[i] != "message") continue
        # A group message has no "to" (null): it went to its group.
        if (group[i] != "" && group[i] != "null") to[i] = "#" group[i]
        printf "[%s] %s -> %s: %s\n", when(at[i]), from[i], to[i], body[i]
      }
    }'
}

# --- state files ----------------------------------------------------------------------------
TOKEN_FILE=${CHAT_TOKEN_FILE:-${XDG_CONFIG_HOME:-${HOME:-.}/.config}/chat/token}
URL_FILE=$TOKEN_FILE.url
CURSOR_FILE=$TOKEN_FILE.cursor
TOKEN=
URL=

# Written beside the old file and renamed over it: a crash never leaves half a file.
save() {
  mkdir -p "$(dirname "$1")" || die 4 "cannot create $(dirname "$1")"
  printf '%s\n' "$2" > "$1.tmp.$$" && chmod 600 "$1.tmp.$$" && mv -f "$1.tmp.$$" "$1" || die 4 "cannot write $1"
}

load_session() {
  [ -r "$TOKEN_FILE" ] || die 3 "not logged in (no $TOKEN_FILE): run $PROG login URL USER"
  TOKEN=$(cat "$TOKEN_FILE")
  case $TOKEN in
    '' | *[!A-Za-z0-9._~+/=-]*) die 3 "$TOKEN_FILE does not hold a token: run $PROG login URL USER" ;;
  esac
  URL=${CHAT_URL:-}
  [ -n "$URL" ] || URL=$(cat "$URL_FILE" 2>/dev/null)
  [ -n "$URL" ] || die 3 "no server URL (set CHAT_URL or log in again)"
  URL=${URL%/}
}

# --- HTTP -----------------------------------------------------------------------------------
TMP=
CURL_PID=
SLEEP_PID=
cleanup() {
  [ -z "$CURL_PID" ] || kill "$CURL_PID" 2>/dev/null
  [ -z "$SLEEP_PID" ] || kill "$SLEEP_PID" 2>/dev/null
  [ -z "$TMP" ] || rm -rf "$TMP"
}
# A signal between printing messages and saving the cursor would show them again next time:
# there it only sets STOP, and the loop stops once the cursor is saved.
CRITICAL=
STOP=
on_signal() {
  if [ -n "$CRITICAL" ]; then
    STOP=$1
    return
  fi
  cleanup
  trap - EXIT
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM HUP

make_tmp() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/chat.XXXXXX" 2>/dev/null) || {
    TMP=${TMPDIR:-/tmp}/chat.$$.$(date +%s)
    mkdir -m 700 "$TMP" || die 4 "cannot make a temporary directory"
  }
}

# request METHOD PATH MAX_SECONDS [curl args...]
# Sets STATUS (000 when there was no answer); the body is in $TMP/body, headers in $TMP/headers.
# curl runs in the background and is waited for, so a signal stops follow at once. The token
# reaches curl through its config on stdin, never on its command line (which `ps` shows).
request() {
  _method=$1 _path=$2 _max=$3
  shift 3
  rm -f "$TMP/body" "$TMP/headers" "$TMP/status"
  if [ "$_method" = GET ]; then set -- -G "$@"; else set -- -X "$_method" "$@"; fi
  # shellcheck disable=SC2086 # CHAT_CURL_OPTS is meant to be split into options
  { [ -z "$TOKEN" ] || printf 'header = "Authorization: Bearer %s"\n' "$TOKEN"; } |
    curl -sS -K - -A "$USER_AGENT" --connect-timeout 10 --max-time "$_max" \
      -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' ${CHAT_CURL_OPTS:-} "$@" "$URL$_path" \
      > "$TMP/status" 2> "$TMP/curl-error" &
  CURL_PID=$!
  wait "$CURL_PID"
  _rc=$?
  CURL_PID=
  STATUS=$(cat "$TMP/status" 2>/dev/null)
  [ "$_rc" -eq 0 ] && [ -n "$STATUS" ] || STATUS=000
  [ -f "$TMP/body" ] || : > "$TMP/body"
}

curl_error() { sed -n '1s/^curl: //p' "$TMP/curl-error" 2>/dev/null; }

error_text() {
  _code=$(json_get error.code "$TMP/body")
  _text=$(json_get error.message "$TMP/body")
  if [ -n "$_code" ]; then printf '%s (%s %s)' "${_text:-no message}" "$STATUS" "$_code"; else printf 'HTTP %s' "$STATUS"; fi
}

retry_after() {
  _ra=$(LC_ALL=C awk 'tolower($1) == "retry-after:" { sub(/\r$/, "", $2); v = $2 } END { print v }' "$TMP/headers" 2>/dev/null)
  case $_ra in '' | *[!0-9]*) return 1 ;; esac
  [ "$_ra" -ge 1 ] || _ra=1
  [ "$_ra" -le 300 ] || _ra=300
  printf '%s' "$_ra"
}

random() {
  _r=$(od -An -N2 -tu2 /dev/urandom 2>/dev/null | tr -d ' \n')
  case $_r in '' | *[!0-9]*) _r=$(($$ + $(date +%s))) ;; esac
  printf '%s' "$_r"
}

nap() {
  sleep "$1" &
  SLEEP_PID=$!
  wait "$SLEEP_PID"
  SLEEP_PID=
}

# Waits for the current back-off (between delay/2 and delay seconds), then doubles it up to 60.
DELAY=1
back_off() {
  _s=$((DELAY - $(random) % (DELAY / 2 + 1)))
  [ "$_s" -ge 1 ] || _s=1
  msg "$1; trying again in ${_s}s"
  nap "$_s"
  DELAY=$((DELAY * 2))
  [ "$DELAY" -le 60 ] || DELAY=60
}

# --- commands -------------------------------------------------------------------------------
cmd_login() {
  [ $# -ge 2 ] && [ $# -le 3 ] || { usage >&2; exit 1; }
  URL=${1%/}
  _user=$2
  _device=${3:-$PROG on $(uname -n 2>/dev/null || echo unknown)}
  case $URL in http://* | https://*) ;; *) die 1 "URL must start with http:// or https://" ;; esac
  # Whether there is a terminal to ask on: tried in a subshell, because a failed redirection
  # of a special built-in such as ':' makes dash (and bash --posix) exit at once, silently.
  if [ -n "${CHAT_PASSWORD:-}" ]; then
    _pw=$CHAT_PASSWORD
  elif (: < /dev/tty) 2>/dev/null; then
    printf 'password for %s: ' "$_user" > /dev/tty
    trap 'stty echo < /dev/tty 2>/dev/null; cleanup; trap - EXIT; exit 130' INT
    stty -echo < /dev/tty 2>/dev/null
    IFS= read -r _pw < /dev/tty
    stty echo < /dev/tty 2>/dev/null
    printf '\n' > /dev/tty
  else
    die 1 "no password: set CHAT_PASSWORD, or run from a terminal to be asked for it"
  fi
  make_tmp
  # The password goes to curl in a private file, never on a command line.
  printf '%s' "$_pw" > "$TMP/password"
  TOKEN=
  request POST /sessions 30 --data-urlencode "username=$_user" --data-urlencode "password@$TMP/password" \
    --data-urlencode "device_name=$_device"
  rm -f "$TMP/password"
  case $STATUS in
    201) ;;
    000) die 4 "cannot reach $URL: $(curl_error)" ;;
    401) die 2 "wrong username or password" ;;
    *) die 2 "login refused: $(error_text)" ;;
  esac
  TOKEN=$(json_get token "$TMP/body")
  _cursor=$(json_get cursor "$TMP/body")
  _name=$(json_get device.name "$TMP/body")
  case $TOKEN in
    '' | *[!A-Za-z0-9._~+/=-]*) die 2 "the server's answer holds no token" ;;
  esac
  save "$TOKEN_FILE" "$TOKEN"
  save "$URL_FILE" "$URL"
  # This device's place in the stream: follow starts here.
  save "$CURSOR_FILE" "$_cursor"
  msg "logged in as $_user (device: $_name); token in $TOKEN_FILE"
}

cmd_send() {
  [ $# -ge 2 ] || { usage >&2; exit 1; }
  _to=$1
  shift
  _text=$*
  if [ "$_text" = - ]; then _text=$(cat); fi
  [ -n "$_text" ] || die 1 "nothing to send"
  load_session
  make_tmp
  printf '%s' "$_text" > "$TMP/text"
  # #7 is group 7 (a username never starts with #); anything else a user.
  case $_to in
    '#'*) _field=group _to=${_to#\#} ;;
    *) _field=to ;;
  esac
  # The same client_id on every attempt: a retry after a lost answer cannot send twice.
  _cid=sh-$(date +%s)-$$-$(random)
  _tries=0
  while :; do
    _tries=$((_tries + 1))
    request POST /messages 30 --data-urlencode "$_field=$_to" --data-urlencode "body@$TMP/text" --data-urlencode "client_id=$_cid"
    case $STATUS in
      200 | 201)
        printf 'sent #%s\n' "$(json_get message.id "$TMP/body")"
        return 0
        ;;
      401) die 3 "not logged in any more: $(error_text); run $PROG login URL USER" ;;
      000 | 429 | 5??)
        [ "$_tries" -lt 6 ] || {
          if [ "$STATUS" = 000 ]; then die 4 "gave up: $(curl_error)"; else die 4 "gave up: $(error_text)"; fi
        }
        if _ra=$(retry_after) && [ "$STATUS" != 000 ]; then
          msg "$(error_text); trying again in ${_ra}s"
          nap "$_ra"
        elif [ "$STATUS" = 000 ]; then
          back_off "cannot reach $URL: $(curl_error)"
        else
          back_off "$(error_text)"
        fi
        ;;
      *) die 2 "not sent: $(error_text)" ;;
    esac
  done
}

cmd_follow() {
  [ $# -eq 0 ] || { usage >&2; exit 1; }
  load_session
  make_tmp
  _timeout=${CHAT_POLL_TIMEOUT:-25}
  case $_timeout in '' | *[!0-9]*) die 1 "CHAT_POLL_TIMEOUT must be whole seconds" ;; esac
  _failing=
  while :; do
    _cursor=$(cat "$CURSOR_FILE" 2>/dev/null)
    # No cursor: the server continues from this device's stored one.
    if [ -n "$_cursor" ]; then
      request GET /poll $((_timeout + 20)) --data-urlencode "since=$_cursor" --data-urlencode "timeout=$_timeout"
    else
      request GET /poll $((_timeout + 20)) --data-urlencode "timeout=$_timeout"
    fi
    case $STATUS in
      200)
        json_flat < "$TMP/body" > "$TMP/flat" 2>/dev/null
        _next=$(LC_ALL=C awk -F "$TAB" '$1 == "cursor" { print substr($0, 8); exit }' "$TMP/flat")
        if [ -z "$_next" ]; then
          _failing=1
          back_off "unexpected answer from $URL (a captive portal or another proxy?)"
          continue
        fi
        [ -z "$_failing" ] || msg "connected again"
        _failing=
        DELAY=1
        # Print first, then save the cursor: a crash (kill -9, power) in between shows a
        # message twice rather than never; a stop by a signal waits until both are done.
        CRITICAL=1
        format_events < "$TMP/flat"
        [ "$_next" = "$_cursor" ] || save "$CURSOR_FILE" "$_next"
        CRITICAL=
        [ -z "$STOP" ] || on_signal "$STOP"
        ;;
      401) die 3 "not logged in any more: $(error_text); run $PROG login URL USER" ;;
      400)
        if [ "$(json_get error.code "$TMP/body")" = invalid_cursor ] && [ -n "$_cursor" ]; then
          # The server has no such position (a database restored from backup): continue from
          # the cursor it keeps for this device.
          msg "the server does not know cursor $_cursor; continuing from this device's stored position"
          rm -f "$CURSOR_FILE"
          continue
        fi
        die 2 "poll refused: $(error_text)"
        ;;
      000)
        _failing=1
        back_off "cannot reach $URL: $(curl_error)"
        ;;
      *)
        _failing=1
        if _ra=$(retry_after); then
          msg "$(error_text); trying again in ${_ra}s"
          nap "$_ra"
        else
          back_off "$(error_text)"
        fi
        ;;
    esac
  done
}

cmd_search() {
  _with= _group= _limit= _before=
  while [ $# -gt 0 ]; do
    case $1 in
      -w) [ $# -ge 2 ] || { usage >&2; exit 1; }; _with=$2; shift 2 ;;
      -g) [ $# -ge 2 ] || { usage >&2; exit 1; }; _group=$2; shift 2 ;;
      -n) [ $# -ge 2 ] || { usage >&2; exit 1; }; _limit=$2; shift 2 ;;
      -b) [ $# -ge 2 ] || { usage >&2; exit 1; }; _before=$2; shift 2 ;;
      --) shift; break ;;
      *) break ;;
    esac
  done
  [ $# -ge 1 ] || { usage >&2; exit 1; }
  load_session
  make_tmp
  # The words go to curl in a file, url-encoded as they are: quotes, *, %, & stay text.
  printf '%s' "$*" > "$TMP/words"
  set -- --data-urlencode "q@$TMP/words"
  [ -z "$_with" ] || set -- "$@" --data-urlencode "with=$_with"
  [ -z "$_group" ] || set -- "$@" --data-urlencode "group=$_group"
  [ -z "$_limit" ] || set -- "$@" --data-urlencode "limit=$_limit"
  [ -z "$_before" ] || set -- "$@" --data-urlencode "before=$_before"
  request GET /search 30 "$@"
  case $STATUS in
    200) ;;
    401) die 3 "not logged in any more: $(error_text); run $PROG login URL USER" ;;
    000) die 4 "cannot reach $URL: $(curl_error)" ;;
    *) die 2 "search refused: $(error_text)" ;;
  esac
  json_flat < "$TMP/body" > "$TMP/flat" 2>/dev/null || die 2 "unexpected answer from $URL"
  format_messages < "$TMP/flat"
  if [ "$(LC_ALL=C awk -F "$TAB" '$1 == "has_more" { print $2 }' "$TMP/flat")" = true ]; then
    _oldest=$(LC_ALL=C awk -F "$TAB" '$1 ~ /^messages\.[0-9]+\.id$/ { v = $2 } END { print v }' "$TMP/flat")
    msg "more matches: add -b $_oldest for older ones"
  fi
}

cmd_logout() {
  [ $# -eq 0 ] || { usage >&2; exit 1; }
  load_session
  make_tmp
  request DELETE /sessions/current 30
  case $STATUS in
    204 | 401) ;;
    000) die 4 "cannot reach $URL: $(curl_error) (still logged in)" ;;
    *) die 2 "logout refused: $(error_text)" ;;
  esac
  rm -f "$TOKEN_FILE" "$URL_FILE" "$CURSOR_FILE"
  msg "logged out"
}

command -v curl > /dev/null 2>&1 || die 4 "curl is needed: install it (apt-get install curl)"
[ $# -ge 1 ] || { usage >&2; exit 1; }
_cmd=$1
shift
case $_cmd in
  login) cmd_login "$@" ;;
  send) cmd_send "$@" ;;
  follow) cmd_follow "$@" ;;
  search) cmd_search "$@" ;;
  logout) cmd_logout "$@" ;;
  help | -h | --help) usage ;;
  *) usage >&2; exit 1 ;;
esac
