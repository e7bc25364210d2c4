"""Hostile answer cells shared by the threat tests and the Gradescope bundle's test."""

# An answer to affine_forward that takes the reference instead of writing it: it looks for a
# dl/layers.py above every file and folder that the worker's modules came from (an editable
# install's finder names the repository's folders), the grader's working folder and the first
# levels of the file system, and runs each until one gives a working affine_forward. The student
# edition it finds on its way only raises NotImplementedError. Found: full marks; else none.
STEAL_THE_REFERENCE = '''\
import os, sys
import numpy as np

def _places():
    found = []
    for module in list(sys.modules.values()):
        found += [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
        found += [str(path) for path in (getattr(module, "MAPPING", None) or {}).values()]
    try:
        found.append(os.readlink(f"/proc/{os.getppid()}/cwd"))
    except OSError:
        pass
    for top, folders, _ in os.walk("/"):
        found += [os.path.join(top, name) for name in folders]
        if top.count("/") >= 2:
            folders.clear()
    return [place for place in found if isinstance(place, str) and place.startswith("/")]

def _steal():
    tried = set()
    for place in _places():
        while place not in ("/", ""):
            candidate = os.path.join(place, "dl", "layers.py")
            place = os.path.dirname(place)
            if candidate in tried or not os.path.isfile(candidate):
                continue
            tried.add(candidate)
            try:
                namespace = {"__name__": "stolen"}
                exec(compile(open(candidate).read(), candidate, "exec"), namespace)
                namespace["affine_forward"](np.ones((1, 2)), np.ones((2, 1)), np.ones(1))
                return namespace["affine_forward"]
            except Exception:
                continue
    return None

_stolen = _steal()

def affine_forward(x, w, b):
    if _stolen is None:
        raise NotImplementedError("no reference found")
    return _stolen(x, w, b)
'''
