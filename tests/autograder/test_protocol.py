"""The wire protocol: what round-trips, what is refused, and reading frames with a deadline."""
import io
import json
import os
import time

import numpy as np
import pytest

from autograder import protocol
from autograder.protocol import Handle, Limits, ProtocolError, UnsupportedValue, pack, unpack


def test_values_round_trip_with_their_types():
    rng = np.random.default_rng(0)
    message = {
        "floats": rng.standard_normal((3, 4, 2)),
        "ints": np.arange(5, dtype=np.int32),
        "mask": rng.random(4) > 0.5,
        "scalars": [1, 2.5, float("nan"), float("inf"), True, None, "text"],
        "tuple": (np.float32(1.5), np.int64(7), np.bool_(False)),
        "nested": {"a": {3: [np.zeros((0, 2))]}},
    }
    back = unpack(pack(message))
    np.testing.assert_array_equal(back["floats"], message["floats"])
    assert back["floats"].dtype == np.float64 and back["ints"].dtype == np.int32 and back["mask"].dtype == bool
    assert back["scalars"][:2] == [1, 2.5] and np.isnan(back["scalars"][2]) and back["scalars"][3:] == [float("inf"), True, None, "text"]
    assert back["tuple"] == (1.5, 7, False) and isinstance(back["tuple"], tuple)
    assert back["nested"]["a"][3][0].shape == (0, 2)


@pytest.mark.parametrize("value", [np.array(["a", "b"]), np.array([object()]), object(), {(1, 2): 3}, lambda x: x])
def test_values_that_cannot_be_sent(value):
    with pytest.raises(UnsupportedValue):
        pack({"v": value})


def test_handles_and_dtypes_only_where_allowed():
    frame = pack({"h": Handle("cache"), "t": np.float64})
    with pytest.raises(ProtocolError, match="handle"):
        unpack(frame)
    assert unpack(frame, handles={"cache": "stored"}, allow_dtypes=True) == {"h": "stored", "t": np.float64}
    with pytest.raises(ProtocolError, match="dtype"):
        unpack(pack({"t": np.float32}), handles={})


def _frame(header: dict, blob: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return protocol.FRAME_HEADER.pack(protocol.MAGIC, len(text), len(blob)) + text + blob


def _npy(array: np.ndarray, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


@pytest.mark.parametrize("frame, match", [
    (b"XXXX" + bytes(12), "magic"),
    (_frame({"v": {"dict": []}, "arrays": []})[:-1], "length"),
    (_frame({"v": {"evil": 1}, "arrays": []}), "unknown value node"),
    (_frame({"v": {"list": []}, "arrays": []}), "must be a dict"),
    (_frame({"v": {"dict": [["a", {"array": 0}]]}, "arrays": [3]}, b"abc"), "not a readable .npy"),
    (_frame({"v": {"dict": [["a", {"array": 0}]]}, "arrays": [len(_npy(np.array([{}]), True))]}, _npy(np.array([{}]), True)), "npy"),
    (_frame({"v": {"dict": [["a", {"array": 0}]]}, "arrays": [len(_npy(np.array(["s"])))]}, _npy(np.array(["s"]))), "forbidden dtype"),
    (_frame({"v": {"dict": [["a", {"array": 1}]]}, "arrays": []}), "bad array reference"),
    (_frame({"v": {"dict": []}, "arrays": [5]}), "array table"),
])
def test_malformed_frames_are_refused(frame, match):
    with pytest.raises(ProtocolError, match=match):
        unpack(frame)


def test_limits_on_size_depth_nodes_and_strings():
    with pytest.raises(ProtocolError, match="over the"):
        unpack(pack({"a": np.zeros(1000)}), Limits(max_bytes=1000))
    deep = {"list": []}
    for _ in range(40):
        deep = {"list": [deep]}
    with pytest.raises(ProtocolError, match="nested"):
        unpack(_frame({"v": {"dict": [["a", deep]]}, "arrays": []}))
    with pytest.raises(ProtocolError, match="more than"):
        unpack(pack({"a": list(range(100))}), Limits(max_nodes=50))
    with pytest.raises(ProtocolError, match="characters"):
        unpack(pack({"a": "x" * 100}), Limits(max_str=10))


def test_frames_over_a_pipe_and_the_deadline():
    read_fd, write_fd = os.pipe()
    try:
        os.set_blocking(write_fd, False)
        frame = pack({"x": np.arange(200_000.0)})  # larger than a pipe's buffer: written as it is read
        protocol.write_frame(write_fd, frame[:100], deadline=time.monotonic() + 1)
        start = time.monotonic()
        with pytest.raises(protocol.ChannelTimeout):
            protocol.read_frame(read_fd, max_bytes=2**30, deadline=time.monotonic() + 0.2)
        assert time.monotonic() - start < 1
        with pytest.raises(ProtocolError, match="over the"):
            os.write(write_fd, protocol.FRAME_HEADER.pack(protocol.MAGIC, 10, 2**40))
            protocol.read_frame(read_fd, max_bytes=2**20, deadline=time.monotonic() + 1)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    with pytest.raises(protocol.ChannelClosed):
        protocol.read_frame(read_fd, max_bytes=100, deadline=time.monotonic() + 1)
    os.close(read_fd)



# --------------------------------------------------------------------------------------------
# Torch tensors and state dicts

def test_tensors_and_state_dicts_round_trip_as_plain_cpu_tensors():
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    message = {
        "x": torch.randn(4, 3, generator=generator),
        "half": torch.randn(2, 2, generator=generator).half(),
        "bf16": torch.randn(5, generator=generator).to(torch.bfloat16),
        "labels": torch.tensor([1, 0, 3]),
        "mask": torch.tensor([True, False]),
        "view": torch.arange(12.0).view(3, 4).t(),  # not contiguous
        "grad": torch.ones(2, requires_grad=True) * 2,  # has autograd history
        "state": layer.state_dict(),  # an OrderedDict of Parameters' data
        "dtype": torch.float64,
    }
    back = unpack(pack(message), allow_dtypes=True)
    for key in ("x", "half", "bf16", "labels", "mask", "view"):
        assert type(back[key]) is torch.Tensor and back[key].dtype == message[key].dtype
        assert torch.equal(back[key], message[key]), key
    assert not back["grad"].requires_grad and back["grad"].grad_fn is None and torch.equal(back["grad"], torch.full((2,), 2.0))
    assert set(back["state"]) == {"weight", "bias"} and torch.equal(back["state"]["weight"], layer.weight.detach())
    assert back["dtype"] is torch.float64
    back["x"] += 1  # the decoded tensor owns writable memory


def test_a_tensor_subclass_travels_as_its_plain_data():
    torch = pytest.importorskip("torch")

    class Lying(torch.Tensor):
        """A subclass whose every operation claims to give zeros."""
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return torch.zeros(1)

    value = torch.arange(3.0).as_subclass(Lying)
    back = unpack(pack({"v": value}))["v"]
    assert type(back) is torch.Tensor and torch.equal(back, torch.arange(3.0))


def test_tensors_that_cannot_be_sent():
    torch = pytest.importorskip("torch")
    for value in (torch.zeros(2, dtype=torch.complex64), torch.eye(2).to_sparse(), torch.empty(2, device="meta")):
        with pytest.raises(UnsupportedValue):
            pack({"v": value})


def test_a_tensor_node_must_match_its_data():
    torch = pytest.importorskip("torch")
    frame = _frame({"v": {"dict": [["t", {"tensor": [0, "float32"]}]]}, "arrays": [len(_npy(np.zeros(2)))]}, _npy(np.zeros(2)))
    with pytest.raises(ProtocolError, match="float64 data"):
        unpack(frame)
    pickled = _npy(np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ProtocolError):
        unpack(_frame({"v": {"dict": [["t", {"tensor": [0, "float32"]}]]}, "arrays": [len(pickled)]}, pickled))
    assert torch.equal(unpack(pack({"t": torch.ones(2)}))["t"], torch.ones(2))
    with pytest.raises(ProtocolError, match="dtype"):
        unpack(pack({"d": torch.float32}))  # dtypes only where allowed


def test_numpy_only_messages_do_not_import_torch():
    import subprocess
    import sys
    code = ("import sys, numpy as np; from autograder.protocol import pack, unpack; "
            "unpack(pack({'x': np.ones(3), 'y': [1, 'a']})); print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
