"""``dl.program.parse``: the grader's threads parse one at a time (CPython 3.11's ast constructor
shares a recursion counter between threads: python/cpython#106905)."""
import gc
import sys
import threading

from dl.program import parse

SOURCE = "\n".join(f"def f{i}(x):\n    return [(a, {{b: (c, [d])}}) for a in x for b in a if b]" for i in range(200))


class _Cycle:
    """Garbage whose collection runs Python code, so that threads switch while ast objects are built."""

    def __init__(self):
        self.me = self

    def __del__(self):
        sum(range(100))


def _parse_with_garbage(errors: list) -> None:
    try:
        for _ in range(8):
            for _ in range(50):
                _Cycle()
            parse(SOURCE)
    except SystemError as exc:
        errors.append(exc)


def test_threads_parsing_side_by_side_never_see_a_recursion_depth_mismatch():
    errors: list = []
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(50)
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=_parse_with_garbage, args=(errors,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(parse(SOURCE).body) == 200
