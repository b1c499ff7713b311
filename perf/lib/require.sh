# Sourced (bash) by every perf/ entry point, right after `set -euo pipefail`:
#   . "$root/perf/lib/require.sh"
#   require_tools ip:iproute2 tcpdump:tcpdump tshark:tshark ...   (COMMAND:DEBIAN-PACKAGE)
# require_tools checks every command the script uses before anything starts, installs the missing Debian packages
# (as root, through build/install-deps.sh, which waits for apt's lock) and stops with the list of what is still
# missing. The ERR trap names the script, line, command and exit code of a step that fails under `set -e`, so a
# script never ends silently with a bare exit code.
set -E
_require_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_require_name=$(basename "$0")
trap 'rc=$?; echo "$_require_name: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc)" >&2' ERR

require_tools() {
  local spec cmd pkg missing_cmds="" missing_pkgs=""
  for spec in "$@"; do
    cmd=${spec%%:*} pkg=${spec#*:}
    if ! command -v "$cmd" >/dev/null 2>&1; then missing_cmds="$missing_cmds $cmd"; missing_pkgs="$missing_pkgs $pkg"; fi
  done
  [ -z "$missing_cmds" ] && { _require_check_only; return 0; }
  echo "$_require_name: needs$missing_cmds (Debian packages:$missing_pkgs)" >&2
  if [ "$(id -u)" = 0 ] && [ -z "${SWITCHYARD_NO_INSTALL:-}" ]; then
    echo "$_require_name: installing$missing_pkgs" >&2
    SWITCHYARD_DEPS_PACKAGES="$missing_pkgs" sh "$_require_root/build/install-deps.sh" >&2 || true
  fi
  local still=""
  for spec in "$@"; do
    cmd=${spec%%:*} pkg=${spec#*:}
    command -v "$cmd" >/dev/null 2>&1 || still="$still $cmd ($pkg)"
  done
  if [ -n "$still" ]; then
    echo "$_require_name: cannot run without:$still; install them (as root: apt-get install -y$missing_pkgs) and run again" >&2
    exit 1
  fi
  _require_check_only
}

# SWITCHYARD_PERF_CHECK_ONLY=1: stop after the prerequisites (what PerfPrerequisiteTests runs for every entry point).
_require_check_only() {
  if [ -n "${SWITCHYARD_PERF_CHECK_ONLY:-}" ]; then
    echo "$_require_name: prerequisites present"
    exit 0
  fi
}
