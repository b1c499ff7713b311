# TRex STL profile: Switchyard load mix "join-enc" (perf/load/mixgen.py; tunables: see sy_stl.py).
#   trex> start -f perf/trex/join_enc.py -p 0 -m 10mpps -t --vip 198.18.0.100 --dst-mac <appliance port MAC>
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sy_stl import SwitchyardProfile  # noqa: E402


def register():
    return SwitchyardProfile("join-enc")
