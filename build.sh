#!/bin/sh
# POSIX twin of build.ps1: both only forward to build/Build.proj, which holds the build logic and the list of
# targets (./build.sh help prints it; a mistyped target is refused with that list).
# Usage: ./build.sh [TARGET] [-p:Property=Value ...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
target=${1:-build}
[ $# -gt 0 ] && shift
case "$target" in
  -h|--help) target=help ;;
esac
# First letter upper-cased: "test" -> "Test" (MSBuild target names).
Target=$(printf '%s' "$target" | cut -c1 | tr '[:lower:]' '[:upper:]')$(printf '%s' "$target" | cut -c2-)
exec dotnet msbuild "$here/build/Build.proj" -nologo -v:m -t:"$Target" -p:RequestedTarget="$target" "$@"
