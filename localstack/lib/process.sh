# shellcheck shell=bash
# Sourced by localstack/emulators: starting, checking and stopping emulator processes. Uses its
# globals (EMU_HOME, RUN_DIR, DATA_DIR, START_TIMEOUT, STOP_TIMEOUT) and helpers.

# Processes. run/NAME.pid holds "PID STARTTIME": the emulator runs as the leader of its own
# session and process group (setsid), so stopping it signals exactly that group, and the start
# time (from /proc) guards against a recycled pid.

proc_start_time() { # PID -> clock ticks since boot, empty if gone or a zombie
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) } # fields after "(comm) "
    local -a f
    read -r -a f <<<"$stat"
    [[ ${f[0]} == Z || ${f[0]} == X ]] && return 0
    echo "${f[19]}"
}

pid_of() { # NAME -> pid of a live emulator started by us, else empty
    local file=$RUN_DIR/$1.pid pid st
    [[ -s $file ]] || return 0
    read -r pid st <"$file" || true
    [[ -n ${pid:-} && -n ${st:-} ]] || return 0
    [[ "$(proc_start_time "$pid")" == "$st" ]] && echo "$pid"
    return 0
}

running() { [[ -n "$(pid_of "$1")" ]]; }

# Live (non-zombie) processes in session SID.
session_members() {
    local p
    for p in $(pgrep -s "$1" 2>/dev/null || true); do
        [[ -n "$(proc_start_time "$p")" ]] && echo "$p"
    done
    return 0
}

port_in_use() { # PORT
    if command -v ss >/dev/null 2>&1; then
        [[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

http_code() { # URL -> HTTP status, 000 when nothing answers
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}

# Does the emulator on PORT answer its readiness request?
answers() { # NAME PORT
    local base=http://127.0.0.1:$2 code
    case $1 in
    localstack) code=$(http_code "$base/_localstack/health") && [[ $code == 200 ]] ;;
    moto) code=$(http_code "$base/moto-api/") && [[ $code == 200 ]] ;;
    gcs) code=$(http_code "$base/storage/v1/b") && [[ $code == 200 ]] ;;
    pubsub) code=$(http_code "$base/") && [[ $code == 200 ]] ;;
    azurite) (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null ;;
    # Its management API answers an unsigned request with 401: the broker is up.
    servicebus) code=$(http_code "$base/\$Resources/Queues") && [[ $code == 401 ]] ;;
    esac
}

# Fills the array CMD with the command line (with `env` settings) that runs NAME on PORT.
build_cmd() { # NAME PORT
    local name=$1 port=$2 data=$DATA_DIR/$1
    mkdir -p "$data"
    case $name in
    localstack)
        # Host mode, S3/SQS/SNS only; path-style SQS queue URLs, since the default host-style
        # names do not resolve offline; no TLS-cert download, no telemetry. LocalStack's default
        # gateway (twisted) ignores the host of GATEWAY_LISTEN and binds 0.0.0.0; hypercorn binds
        # 127.0.0.1 but serves about half the requests per second (README).
        CMD=(env OVERRIDE_IN_DOCKER=0 DNS_ADDRESS=0 SQS_ENDPOINT_STRATEGY=path
            SERVICES="${STRATA_LOCALSTACK_SERVICES:-s3,sqs,sns}"
            GATEWAY_SERVER="${STRATA_LOCALSTACK_GATEWAY_SERVER:-twisted}"
            GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port"
            FILESYSTEM_ROOT="$data" SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1
            "$EMU_HOME/localstack/bin/python" -m localstack.runtime.main)
        ;;
    moto)
        CMD=("$EMU_HOME/moto/bin/moto_server" -H 127.0.0.1 -p "$port")
        ;;
    gcs)
        local backend=${STRATA_GCS_BACKEND:-memory}
        CMD=("$(marker_get gcs binary)" -scheme http -host 127.0.0.1 -port "$port"
            -backend "$backend" -filesystem-root "$data"
            -external-url "http://127.0.0.1:$port" -public-host "127.0.0.1:$port"
            -log-level "${STRATA_GCS_LOG_LEVEL:-info}")
        ;;
    pubsub)
        local -a jopts=()
        read -r -a jopts <<<"${STRATA_PUBSUB_JAVA_OPTS:-}"
        CMD=(java "${jopts[@]}" -jar "$(marker_get pubsub jar)" --host=127.0.0.1 --port="$port")
        ;;
    azurite)
        # Loose mode and no API-version check: SDKs newer than this Azurite still get answers.
        CMD=("$EMU_HOME/azurite/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port"
            --location "$data" --skipApiVersionCheck --loose --disableTelemetry --silent)
        ;;
    servicebus)
        CMD=("$EMU_HOME/servicebus/bin/servicebus-emulator" --host 127.0.0.1 --port "$port")
        [[ -n ${STRATA_SERVICEBUS_CONFIG:-} ]] && CMD+=(--config "$(realpath "$STRATA_SERVICEBUS_CONFIG")")
        [[ ${STRATA_SERVICEBUS_DURABLE:-0} == 1 ]] && CMD+=(--data-dir "$data")
        ;;
    esac
}

log_tail() { # NAME
    local log=$RUN_DIR/$1.log
    [[ -f $log ]] || return 0
    echo "---- last lines of $log ----" >&2
    tail -n "${STRATA_EMULATORS_LOG_LINES:-40}" "$log" >&2
    echo "----" >&2
}

# Launch times of the emulators this command started, by name (wait_ready waits for these).
declare -A LAUNCHED=()

# Starts NAME on PORT in the background without waiting for it; a running one is left alone.
launch_one() { # NAME PORT
    local name=$1 port=$2
    local pidf=$RUN_DIR/$name.pid log=$RUN_DIR/$name.log
    local pid
    pid=$(pid_of "$name")
    if [[ -n $pid ]]; then
        local was
        was=$(cat "$RUN_DIR/$name.port" 2>/dev/null || echo "?")
        if [[ $was != "$port" ]]; then
            say "$name: already running on port $was (pid $pid); $(port_var "$name")=$port ignored: \`emulators down $name\` first to move it"
        else
            say "$name: already running on http://127.0.0.1:$was (pid $pid)"
        fi
        return 0
    fi
    if port_in_use "$port"; then
        say "$name: port $port on 127.0.0.1 is taken by a process this script did not start:"
        ss -Htlnp "sport = :$port" >&2 2>/dev/null || true
        say "$name: stop that process, or choose another port with $(port_var "$name")=PORT"
        return 1
    fi
    # The runtimes may have gone since the install (a new machine with this folder restored).
    case $name in
    pubsub) need_cmd java "the Pub/Sub emulator needs Java 11+: apt-get install openjdk-17-jre-headless" ;;
    azurite) need_cmd node "Azurite needs Node.js: apt-get install nodejs npm" ;;
    esac
    mkdir -p "$RUN_DIR"
    local -a CMD
    if [[ ${REPLAY:-no} == yes && -s $RUN_DIR/$name.cmd ]]; then
        # restart: the very command line of the last start (same port, data dir and settings).
        mapfile -d '' -t CMD <"$RUN_DIR/$name.cmd"
        mkdir -p "$DATA_DIR/$name"
    else
        build_cmd "$name" "$port"
    fi
    printf '%s\0' "${CMD[@]}" >"$RUN_DIR/$name.cmd"
    echo "==== $(date -u +%Y-%m-%dT%H:%M:%SZ) starting $name on 127.0.0.1:$port: ${CMD[*]}" >>"$log"
    rm -f "$pidf.new"
    local t0
    t0=$(now_ms)
    # The inner shell writes its own pid (it is the session leader, setsid having forked or not)
    # and then becomes the emulator with exec.
    # fd 9 (the lock) is closed for the emulator, or it would hold the lock as long as it runs.
    # shellcheck disable=SC2016 # expanded by the inner shell
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidf.new" "${CMD[@]}" >>"$log" 2>&1 </dev/null 9>&- &
    local i
    for ((i = 0; i < 200; i++)); do
        [[ -s $pidf.new ]] && break
        sleep 0.05
    done
    pid=$(cat "$pidf.new" 2>/dev/null || true)
    rm -f "$pidf.new"
    local st=
    [[ -n $pid ]] && st=$(proc_start_time "$pid")
    if [[ -z $pid || -z $st ]]; then
        say "$name: the process exited at once"
        log_tail "$name"
        return 1
    fi
    echo "$pid $st" >"$pidf"
    echo "$port" >"$RUN_DIR/$name.port"
    LAUNCHED[$name]=$t0
}

# One readiness check of an emulator launched by this command: 0 ready, 1 failed (after printing
# the log's last lines and stopping what it started), 2 not yet.
check_ready() { # NAME
    local name=$1
    local t0=${LAUNCHED[$name]} pidf=$RUN_DIR/$name.pid
    local port pid st
    port=$(cat "$RUN_DIR/$name.port")
    read -r pid st <"$pidf"
    if answers "$name" "$port"; then
        say "$name: ready on http://127.0.0.1:$port (pid $pid) in $(secs_since "$t0") s; log: $RUN_DIR/$name.log"
        return 0
    fi
    if [[ "$(proc_start_time "$pid")" != "$st" ]]; then
        say "$name: exited before answering on port $port"
        log_tail "$name"
        rm -f "$pidf"
        return 1
    fi
    if (($(now_ms) > t0 + START_TIMEOUT * 1000)); then
        say "$name: did not answer on port $port within ${START_TIMEOUT}s (STRATA_EMULATORS_START_TIMEOUT); stopping it"
        log_tail "$name"
        stop_one "$name" >/dev/null 2>&1 || true
        return 1
    fi
    return 2
}

# Starts the given emulators together (they boot in parallel) and waits until each answers;
# appends the names that failed to FAILED.
start_many() { # NAME=PORT...
    local arg n rc pending=() next
    for arg in "$@"; do
        n=${arg%%=*}
        if launch_one "$n" "${arg#*=}"; then
            [[ -n ${LAUNCHED[$n]:-} ]] && pending+=("$n")
        else
            FAILED+=("$n")
        fi
    done
    while ((${#pending[@]})); do
        next=()
        for n in "${pending[@]}"; do
            rc=0
            check_ready "$n" || rc=$?
            case $rc in
            1) FAILED+=("$n") ;;
            2) next+=("$n") ;;
            esac
        done
        pending=("${next[@]}")
        ((${#pending[@]} == 0)) || sleep 0.1
    done
}

# Stops NAME's process group and checks that no process of its session is left.
stop_one() { # NAME
    local name=$1 pidf=$RUN_DIR/$1.pid
    local pid
    pid=$(pid_of "$name")
    if [[ -z $pid ]]; then
        [[ -f $pidf ]] && { rm -f "$pidf"; say "$name: was not running (stale pid file removed)"; return 0; }
        say "$name: not running"
        return 0
    fi
    local t0
    t0=$(now_ms)
    # STRATA_EMULATORS_STOP_SIGNAL=KILL makes `down`/`restart` a crash instead of a shutdown.
    kill -"${STRATA_EMULATORS_STOP_SIGNAL:-TERM}" -- "-$pid" 2>/dev/null || true
    local deadline=$(($(now_ms) + STOP_TIMEOUT * 1000)) left
    while :; do
        left=$(session_members "$pid")
        [[ -z $left ]] && break
        if (($(now_ms) > deadline)); then
            say "$name: still running after ${STOP_TIMEOUT}s of SIGTERM; sending SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || true
            pkill -KILL -s "$pid" 2>/dev/null || true
            deadline=$(($(now_ms) + 5000))
            while [[ -n "$(session_members "$pid")" ]] && (($(now_ms) <= deadline)); do sleep 0.1; done
            left=$(session_members "$pid")
            if [[ -n $left ]]; then
                say "$name: processes ${left//$'\n'/ } survived SIGKILL"
                return 1
            fi
            break
        fi
        sleep 0.1
    done
    rm -f "$pidf"
    # After a crash stop (KILL), a listening socket can outlive the process
    # group for a moment (a child outside the session still closing): wait for
    # the port, so a restart on the same port does not find it taken.
    local port until
    port=$(cat "$RUN_DIR/$name.port" 2>/dev/null || true)
    if [[ -n $port ]]; then
        until=$(($(now_ms) + 10000))
        while port_in_use "$port" && (($(now_ms) < until)); do sleep 0.1; done
        port_in_use "$port" && say "$name: stopped, but port $port is still in use after 10 s"
    fi
    echo "==== $(date -u +%Y-%m-%dT%H:%M:%SZ) stopped $name (pid $pid)" >>"$RUN_DIR/$name.log"
    say "$name: stopped (pid $pid) in $(secs_since "$t0") s"
}
