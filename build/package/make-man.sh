#!/bin/sh
# Writes the man page switchyard(1) on stdout from the program's own --help texts (switchyard --help and
# switchyard ctl --help), so that the page and the program cannot disagree.
#   make-man.sh EXECUTABLE VERSION
set -eu
exe=$1 version=$2
# Verbatim text in roff: backslashes doubled, a leading dot or quote protected.
verbatim() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }
cat <<ROFF
.TH SWITCHYARD 1 "" "switchyard $version" "Switchyard"
.SH NAME
switchyard \- MPTCP-aware Layer-4 load balancer on DPDK, and its control client
.SH SYNOPSIS
.B switchyard
[\fB\-\-config\fR \fIFILE\fR] [\fB\-\-check\fR [\fIFILE\fR]] [\fB\-\-\fISection\fB:\fIKey\fB=\fIvalue\fR ...] [\fB\-\-\fR \fIEAL-ARGS\fR...]
.br
.B switchyard ctl
[\fB\-\-socket\fR \fIPATH\fR] [\fB\-\-json\fR] \fICOMMAND\fR ...
.SH DESCRIPTION
The text below is what \fBswitchyard \-\-help\fR prints.
.PP
.nf
ROFF
"$exe" --help | verbatim
cat <<ROFF
.fi
.SH SWITCHYARD CTL
The text below is what \fBswitchyard ctl \-\-help\fR prints.
.PP
.nf
ROFF
"$exe" ctl --help | verbatim
cat <<ROFF
.fi
.SH FILES
.TP
.I /etc/switchyard/appliance.json
the configuration of the \fBswitchyard\fR service (an example to edit; reference in
/usr/share/doc/switchyard/configuration.md.gz)
.TP
.I /etc/switchyard/path-manager.json
the configuration of the \fBswitchyard-pm\fR service (mptcpd plugin, on backends)
.TP
.I /run/switchyard/switchyard.sock
the control socket of the running appliance (\fBControl.Socket\fR)
.TP
.I /usr/lib/switchyard/mptcpd/switchyard_pm.so
the load-balancing path manager, an \fBmptcpd\fR(8) plugin
.SH SYSTEMD
\fBswitchyard.service\fR runs the appliance on /etc/switchyard/appliance.json: it reserves hugepages, checks
the file, stops with SIGTERM (BGP withdraw and drain) and reloads with \fBswitchyard ctl reload\fR.
\fBswitchyard\-pm.service\fR runs \fBmptcpd\fR with the plugin. Neither is enabled on install.
.SH SEE ALSO
\fBmptcpd\fR(8), \fBdpdk\-hugepages.py\fR, \fBdpdk\-devbind.py\fR, /usr/share/doc/switchyard/README.md.gz
ROFF
