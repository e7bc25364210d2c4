import functools
import subprocess
import sys


@functools.cache
def torch_memory_mb(headroom_mb: int = 1024) -> int:
    """An address-space limit (MB) under which a worker can import this machine's torch with
    ``headroom_mb`` to spare: torch's builds map very different amounts (the CPU build about 1 GB,
    the default Linux build with its CUDA libraries several), so a test that makes a 3 GB
    allocation fail must not use a fixed limit that the import alone exceeds."""
    probe = "import torch\nprint(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmPeak:')))"
    peak_kb = int(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
    return peak_kb // 1024 + headroom_mb
