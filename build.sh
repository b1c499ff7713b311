#!/bin/sh
# POSIX twin of build.ps1: both only forward to build/Build.proj, which holds the build logic.
# Usage: ./build.sh [deps|native|build|test|run|publish|bench|load|pktgen|clean] [-p:Property=Value ...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
target=${1:-build}
[ $# -gt 0 ] && shift
case "$target" in
  -h|--help|help) sed -n '2,3p' "$0"; exit 0 ;;
esac
# First letter upper-cased: "test" -> "Test" (MSBuild target names).
target=$(printf '%s' "$target" | cut -c1 | tr '[:lower:]' '[:upper:]')$(printf '%s' "$target" | cut -c2-)
exec dotnet msbuild "$here/build/Build.proj" -nologo -v:m -t:"$target" "$@"
