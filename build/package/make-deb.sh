#!/bin/sh
# Lays out and builds the Debian package with Debian's own tools (dpkg-shlibdeps, dpkg-deb); called by the
# Package target of build/Build.proj (./build.sh package), which publishes the appliance first.
#
#   make-deb.sh ROOT PUBLISH_DIR VERSION OUT_DIR WORK_DIR
#
# ROOT: the repository; PUBLISH_DIR: `dotnet publish -r linux-x64 --self-contained` of src/Management (with the
# native shim); the mptcpd plugin comes from ROOT/native/build. Writes OUT_DIR/switchyard_VERSION_amd64.deb.
set -eu
abs() { mkdir -p "$1" && (cd "$1" && pwd); }
root=$(abs "$1") publish=$(abs "$2") version=$3 out=$(abs "$4") work=$(abs "$5")/deb
pkgdir="$root/build/package"

stage="$work/debian/switchyard"
deb="$out/switchyard_${version}_amd64.deb"

fail() { echo "make-deb.sh: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (apt-get install dpkg-dev binutils gzip; build/install-deps.sh package)"
done
[ -x "$publish/switchyard" ] || fail "no published executable in $publish (the Package target publishes it)"
[ -f "$publish/libswitchyard_shim.so" ] || fail "no libswitchyard_shim.so in $publish (make -C native)"
plugin="$root/native/build/mptcpd-plugin/switchyard_pm.so"
[ -f "$plugin" ] || fail "no $plugin (make -C native)"

rm -rf "$work"
mkdir -p "$stage/DEBIAN"
# Debian's tools expect debian/control in the directory they run from (dpkg-shlibdeps reads the package list).
printf 'Source: switchyard\n\nPackage: switchyard\nArchitecture: amd64\n' > "$work/debian/control"

# The appliance: the self-contained publish in /usr/lib/switchyard, /usr/bin/switchyard pointing at it.
lib="$stage/usr/lib/switchyard"
mkdir -p "$lib" "$stage/usr/bin"
cp -R "$publish/." "$lib/"
# Not shipped: debug symbols, the LTTng trace provider (needs liblttng-ust, loaded only when present) and the
# managed debugger's back end (libmscordbi: attaching a debugger to a production appliance is not supported).
find "$lib" -name '*.pdb' -delete
rm -f "$lib/libcoreclrtraceptprovider.so" "$lib/libmscordbi.so" "$lib/appliance.json"
ln -s ../lib/switchyard/switchyard "$stage/usr/bin/switchyard"
# The mptcpd plugin (backends): its own directory, which mptcpd uses as --plugin-dir.
install -D -m 644 "$plugin" "$lib/mptcpd/switchyard_pm.so"
find "$lib" -type f -name '*.so' -exec chmod 644 {} +
find "$lib" -type f -name '*.so' -exec strip --strip-unneeded --remove-section=.comment --remove-section=.note {} +
find "$lib" -type f -name '*.dll' -exec chmod 644 {} +
find "$lib" -type f -name '*.json' -exec chmod 644 {} +
chmod 755 "$lib/switchyard" "$lib/createdump"

# Configuration (conffiles), units, documentation, man page.
install -D -m 644 "$pkgdir/appliance.json" "$stage/etc/switchyard/appliance.json"
install -D -m 644 "$root/native/mptcpd-plugin/path-manager.json" "$stage/etc/switchyard/path-manager.json"
install -D -m 644 "$pkgdir/switchyard.service" "$stage/lib/systemd/system/switchyard.service"
install -D -m 644 "$root/native/mptcpd-plugin/switchyard-pm.service" "$stage/lib/systemd/system/switchyard-pm.service"
doc="$stage/usr/share/doc/switchyard"
install -D -m 644 "$root/README.md" "$doc/README.md"
for f in "$root"/docs/*.md; do install -m 644 "$f" "$doc/$(basename "$f")"; done
gzip -9n "$doc"/*.md
install -m 644 "$pkgdir/copyright" "$doc/copyright"
sed "s/@VERSION@/$version/; s/@DATE@/$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}")/" \
  "$pkgdir/changelog" | gzip -9n > "$doc/changelog.gz"
chmod 644 "$doc/changelog.gz"
mkdir -p "$stage/usr/share/man/man1"
sh "$pkgdir/make-man.sh" "$publish/switchyard" "$version" | gzip -9n > "$stage/usr/share/man/man1/switchyard.1.gz"
chmod 644 "$stage/usr/share/man/man1/switchyard.1.gz"
install -D -m 644 "$pkgdir/lintian-overrides" "$stage/usr/share/lintian/overrides/switchyard"
install -D -m 644 "$pkgdir/switchyard.bash-completion" "$stage/usr/share/bash-completion/completions/switchyard"

# Maintainer scripts and conffiles.
for s in postinst prerm postrm; do install -m 755 "$pkgdir/$s" "$stage/DEBIAN/$s"; done
printf '/etc/switchyard/appliance.json\n/etc/switchyard/path-manager.json\n' > "$stage/DEBIAN/conffiles"

# Depends: what the ELF files link (dpkg-shlibdeps), plus what runs them: DPDK's ring mempool driver (loaded
# as a plugin, not linked), its tools (dpdk-hugepages.py in the unit), and OpenSSL (loaded by .NET for AES and SHA-256).
(cd "$work" && dpkg-shlibdeps -O -Tdebian/substvars \
  $(cd "$work" && find debian/switchyard/usr/lib/switchyard -type f \( -name '*.so' -o -name switchyard -o -name createdump \) | sort) \
  2>"$work/shlibdeps.log" > "$work/shlibdeps.out") || { cat "$work/shlibdeps.log" >&2; fail "dpkg-shlibdeps failed"; }
shlibs=$(sed -n 's/^shlibs:Depends=//p' "$work/shlibdeps.out")
[ -n "$shlibs" ] || fail "dpkg-shlibdeps found no dependency"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SHLIBS@/$shlibs/" -e "s/@SIZE@/$size/" "$pkgdir/control" > "$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) > "$stage/DEBIAN/md5sums"
chmod 644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles"

rm -f "$deb"
# DEB_COMPRESSION: xz (default, Debian's own: smallest, slowest: minutes for the ~80 MB tree on a busy 2-core
# machine) or gzip (seconds; what the tests build with).
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$stage" "$deb" >/dev/null
echo "package: $deb ($(du -k "$deb" | cut -f1) KiB, installed $size KiB)"
