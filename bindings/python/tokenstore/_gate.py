"""What lets close() and fork() meet calls made by other threads.

A Store (and an OAuthClient) hands one C handle to every thread that calls
it, and ctypes lets go of the GIL for the length of each C call, so a
close() in one thread can free the handle while another thread is inside
the library with it. A Gate counts the calls in flight: each call enters
before it reads the handle and leaves when the library has returned;
close() shuts the gate, so that every later call raises ClosedStoreError,
and waits for the count to reach zero before it frees anything. The lock
is held only to count, never across a call into the library, so calls
still run in parallel where the library lets them (a thread-safe backend,
or a backend whose handle takes turns inside the library).

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

_gates = weakref.WeakSet()


class Gate:
    """The calls in flight on one handle."""
    __slots__ = ("_lock", "_drained", "_inflight", "shut", "__weakref__")

    def __init__(self):
        self.shut = False
        self._renew()
        _gates.add(self)

    def _renew(self):
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._inflight = 0

    def enter(self):
        """Counts a call in; False when the gate is shut (nothing counted)."""
        with self._lock:
            if self.shut:
                return False
            self._inflight += 1
            return True

    def leave(self):
        """Counts a call out; the last one out wakes a waiting close()."""
        with self._lock:
            self._inflight -= 1
            if self.shut and not self._inflight:
                self._drained.notify_all()

    def close(self):
        """Shuts the gate and waits until no call is in flight. True for
        the first close, which is the one to free the handle."""
        with self._lock:
            first = not self.shut
            self.shut = True
            while self._inflight:
                self._drained.wait()
            return first


def _after_fork_in_child():
    for gate in list(_gates):
        gate._renew()


os.register_at_fork(after_in_child=_after_fork_in_child)
