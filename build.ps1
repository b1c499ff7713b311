#!/usr/bin/env pwsh
# PowerShell twin of build.sh: both only forward to build/Build.proj, which holds the build logic.
# Usage: ./build.ps1 [deps|native|build|test|run|publish|bench|load|pktgen|clean] [-p:Property=Value ...]
param([string]$Target = "build", [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest = @())
$ErrorActionPreference = "Stop"
$t = $Target.Substring(0, 1).ToUpperInvariant() + $Target.Substring(1)
& dotnet msbuild (Join-Path $PSScriptRoot "build/Build.proj") -nologo -v:m "-t:$t" @Rest
exit $LASTEXITCODE
