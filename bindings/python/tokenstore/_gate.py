"""What lets close() and fork() meet calls made by other threads.

A Store (and an OAuthClient) hands one C handle to every thread that calls
it, and ctypes lets go of the GIL for the length of each C call, so a
close() in one thread can free the handle while another thread is inside
the library with it. A Gate counts the calls in flight: each call enters
before it reads the handle and leaves when the library has returned;
close() shuts the gate, so that every later call raises ClosedStoreError,
and waits for the count to reach zero before it frees anything. A call
takes no lock to be counted (a find costs a few microseconds, and two
lock round trips were a tenth of that), and nothing is held across a
call into the library, so calls still run in parallel where the library
lets them (a thread-safe backend, or a backend whose handle takes turns
inside the library).

After fork() only the thread that forked exists in the child. A lock that
another thread of the parent held at that moment would stay held there
forever, and the calls it was counting will never leave, so every live
gate gets a new lock and a count of zero in the child (a shut gate stays
shut). The library follows the handles themselves into the child
(ABI 1.4 `forked`).
"""
import os
import threading
import weakref

_gates = weakref.WeakSet()  # type: weakref.WeakSet[Gate]


class Gate:
    """The calls in flight on one handle.

    A call counts itself in by appending to a list and out by popping from
    it, each one step under the GIL, so that a call takes no lock; close()
    sets `shut` before it looks at the list, and a call appends before it
    looks at `shut`, so either the call sees the gate shut and backs out,
    or close() sees the call and waits for it. The lock and the condition
    serve close() and the last call out only."""
    __slots__ = ("_lock", "_drained", "_calls", "shut", "__weakref__")

    def __init__(self):
        self.shut = False
        self._renew()
        _gates.add(self)

    def _renew(self):
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._calls = []

    def enter(self):
        """Counts a call in; False when the gate is shut (nothing counted)."""
        self._calls.append(None)
        if self.shut:
            self.leave()
            return False
        return True

    def leave(self):
        """Counts a call out; once the gate is shut, each wakes close(),
        which looks whether it was the last."""
        self._calls.pop()
        if self.shut:
            with self._lock:
                self._drained.notify_all()

    def close(self):
        """Shuts the gate and waits until no call is in flight. True for
        the first close, which is the one to free the handle."""
        with self._lock:
            first = not self.shut
            self.shut = True
            while self._calls:
                self._drained.wait()
            return first


def _after_fork_in_child():
    for gate in list(_gates):
        gate._renew()


os.register_at_fork(after_in_child=_after_fork_in_child)
