"""One Python object per tensor for the tensors that modules and optimisers hand out.

The native core gives a new Python handle each time a tensor crosses into Python, so without this
``layer.weight is layer.weight`` would be False, and ``p in model.parameters()``, ``opt.state[p]``
or a set of parameters would fall back to elementwise ``==``. ``canonical(t)`` returns the one live
handle of t's tensor (registering t when there is none). Handles
are held weakly: a handle lives while someone holds it, and while it lives its tensor does too, so
a key is never reused by another tensor while it is in the table.
"""

from __future__ import annotations

import threading
import weakref

_live: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_lock = threading.Lock()  # two threads meeting one tensor must get the same handle


def canonical(t):
    with _lock:
        found = _live.get(t._impl_id)
        if found is not None:
            return found
        _live[t._impl_id] = t
        return t


def adopt(t):
    """Registers t as its tensor's handle unless one is live already (an optimiser may hold it);
    returns the handle to use."""
    return canonical(t)
