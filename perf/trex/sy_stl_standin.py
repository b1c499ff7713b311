"""Stand-ins for the TRex STL API, used only where TRex is absent (this repository's CI): they record
what a profile builds and check it the way TRex would reject it, so profiles can be executed and their
packets inspected without TRex. Checked: every field-engine write names a layer and field that exist in
the stream's scapy packet, writes as many bytes as the flow variable holds, and lies inside the packet;
every written variable was defined first; checksum fix-ups name layers present in the packet; rates
are positive. Not checked: anything TRex's server does (rates achieved, NIC offloads)."""
from scapy.fields import _BitField
from scapy.packet import Packet


class _Rec(object):
    def __init__(self, *args, **kw):
        self.args, self.kw = args, kw

    def __getattr__(self, k):
        try:
            return self.__dict__["kw"][k]
        except KeyError:
            raise AttributeError(k)


class CTRexVmInsFixHwCs(object):
    L4_TYPE_UDP = 11
    L4_TYPE_TCP = 13


class STLVmFlowVar(_Rec):
    pass


class STLVmWrFlowVar(_Rec):
    pass


class STLVmFixIpv4(_Rec):
    pass


class STLVmFixChecksumHw(_Rec):
    pass


class STLScVmRaw(_Rec):
    def __init__(self, list_of_commands=None, **kw):
        super().__init__(**kw)
        self.commands = list(list_of_commands or [])


class STLTXCont(_Rec):
    def __init__(self, pps=None, **kw):
        super().__init__(pps=pps, **kw)
        if not pps or pps <= 0:
            raise ValueError("STLTXCont: pps must be positive")


class STLTXSingleBurst(_Rec):
    def __init__(self, total_pkts=1, pps=None, **kw):
        super().__init__(total_pkts=total_pkts, pps=pps, **kw)
        if total_pkts < 1 or not pps or pps <= 0:
            raise ValueError("STLTXSingleBurst: total_pkts and pps must be positive")


def _field(pkt, ref):
    """Byte offset and size of "Layer.field" (or "Layer:n.field") in pkt, as TRex resolves pkt_offset."""
    layer_name, field = ref.split(".")
    name, _, idx = layer_name.partition(":")
    layer = pkt.getlayer(name, int(idx or 0) + 1)
    if layer is None:
        raise ValueError(f"no layer {layer_name} in {pkt.summary()}")
    offset = len(pkt) - len(layer)  # bytes before the layer (padding after it does not count)
    bits = 0
    for f in layer.fields_desc:
        if isinstance(f, _BitField):
            size_bits = f.size
        else:
            size_bits = 8 * len(f.addfield(layer, b"", layer.getfieldval(f.name)))
        if f.name == field:
            if bits % 8 or size_bits % 8:
                raise ValueError(f"{ref} is not byte aligned")
            return offset + bits // 8, size_bits // 8
        bits += size_bits
    raise ValueError(f"no field {field} in layer {layer_name}")


class STLPktBuilder(object):
    def __init__(self, pkt=None, vm=None, **kw):
        if not isinstance(pkt, Packet):
            raise TypeError("STLPktBuilder: pkt must be a scapy packet here")
        self.pkt, self.vm = pkt, vm
        raw = bytes(pkt)
        sizes = {}
        for ins in (vm.commands if vm is not None else []):
            if isinstance(ins, STLVmFlowVar):
                sizes[ins.name] = ins.size
                if not ins.min_value <= ins.max_value < 1 << (8 * ins.size):
                    raise ValueError(f"flow var {ins.name}: range does not fit {ins.size} bytes")
            elif isinstance(ins, STLVmWrFlowVar):
                if ins.fv_name not in sizes:
                    raise ValueError(f"write of undefined flow var {ins.fv_name}")
                off, size = _field(pkt, ins.pkt_offset)
                fix = ins.kw.get("offset_fixup", 0)
                if size - fix != sizes[ins.fv_name] or off + fix + sizes[ins.fv_name] > len(raw):
                    raise ValueError(f"write of {ins.fv_name} ({sizes[ins.fv_name]} bytes) to {ins.pkt_offset}+{fix} ({size} bytes)")
            elif isinstance(ins, STLVmFixChecksumHw):
                for ref in (ins.l3_offset, ins.l4_offset):
                    if pkt.getlayer(ref) is None:
                        raise ValueError(f"checksum fix-up: no layer {ref}")
            elif isinstance(ins, STLVmFixIpv4):
                if pkt.getlayer(ins.offset) is None:
                    raise ValueError(f"IPv4 fix-up: no layer {ins.offset}")


class STLStream(_Rec):
    def __init__(self, packet=None, mode=None, **kw):
        super().__init__(packet=packet, mode=mode, **kw)
        if not isinstance(packet, STLPktBuilder) or mode is None:
            raise TypeError("STLStream: packet and mode are required")
