#!/usr/bin/env pwsh
# PowerShell twin of build.sh: both only forward to build/Build.proj, which holds the build logic and the list of
# targets (./build.ps1 help prints it; a mistyped target is refused with that list).
# Usage: ./build.ps1 [TARGET] [-p:Property=Value ...]
param([string]$Target = "build", [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest = @())
$ErrorActionPreference = "Stop"
if ($Target -in @("-h", "--help")) { $Target = "help" }
$t = $Target.Substring(0, 1).ToUpperInvariant() + $Target.Substring(1)
& dotnet msbuild (Join-Path $PSScriptRoot "build/Build.proj") -nologo -v:m "-t:$t" "-p:RequestedTarget=$Target" @Rest
exit $LASTEXITCODE
