#!/usr/bin/python3
"""Executes every STL profile here outside TRex (sy_stl falls back to sy_stl_standin, which checks the
field-engine offsets) and prints its streams as JSON: profile, mode, pps, burst, isg (us), the base
packet in hex, and the field-engine instructions. Extra arguments are passed to every profile as
tunables, e.g. `dump_profiles.py --flows 1000 --tokens 8`. The test suite parses these packets with the
appliance's own parser and cipher (tests/Switchyard.Tests/Perf/TrexProfileTests.cs)."""
import glob
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "*.py"))):
        name = os.path.basename(path)[:-3]
        if name.startswith("sy_") or name in ("dump_profiles", "check_against_mixgen"):
            continue
        spec = importlib.util.spec_from_file_location("profile_" + name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for i, s in enumerate(mod.register().get_streams(sys.argv[1:])):
            mode = s.mode
            vm = s.packet.vm.commands if s.packet.vm is not None else []
            out.append({"profile": name, "index": i, "mode": type(mode).__name__, "pps": mode.pps,
                        "burst": mode.kw.get("total_pkts"), "isg": s.kw.get("isg", 0.0),
                        "packet": bytes(s.packet.pkt).hex(),
                        "vm": [type(c).__name__ + ":" + ",".join(f"{k}={v}" for k, v in sorted(c.kw.items())) for c in vm]})
    json.dump(out, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
