"""A stand-in for trex_stl_lib.api: the classes the profile uses, recording their arguments."""


class _Layer(object):
    size = 0

    def __init__(self, **fields):
        self.fields = fields
        self.layers = [self]

    def __truediv__(self, other):
        if isinstance(other, (bytes, bytearray)):
            other = Raw(load=bytes(other))
        self.layers.extend(other.layers)
        return self

    def __len__(self):
        return sum(layer.size for layer in self.layers)

    def __getitem__(self, cls):
        return next(layer for layer in self.layers if isinstance(layer, cls))


class Ether(_Layer):
    size = 14


class IP(_Layer):
    size = 20


class UDP(_Layer):
    size = 8


class Raw(_Layer):
    def __init__(self, load=b""):
        super(Raw, self).__init__(load=load)
        self.size = len(load)


class _Record(object):
    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


class STLVmFlowVar(_Record):
    pass


class STLVmWrFlowVar(_Record):
    pass


class STLScVmRaw(_Record):
    pass


class STLPktBuilder(_Record):
    pass


class STLTXCont(_Record):
    pass


class STLStream(_Record):
    pass


class STLProfile(_Record):
    pass
