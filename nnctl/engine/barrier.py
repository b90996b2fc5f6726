"""A barrier for the fused engine's two threads (threads.sgd_chunk_parts), called in compiled code.

Each thread counts the barriers it has reached and publishes the count in its own slot of
`flags` (an int64 array, the two slots a cache line apart), then waits until the other thread's
count has caught up. With two threads that is the whole barrier: no read-modify-write, no reset
between barriers, and the count goes up by one per barrier, so it never wraps.

The publication is an atomic store with release order and the wait an atomic load with acquire
order (llvmlite's IRBuilder.store_atomic / load_atomic, as numba has no atomics of its own):
everything a thread wrote before the barrier is visible to the other after it. The waiting
thread spins with the CPU's `pause` hint; after SPINS of them (about 25 us here, far longer
than the two threads' usual difference, far shorter than a scheduler's time slice) it sleeps
SLEEP_US between checks. A partner that was descheduled (another process took its core) then
costs an idle core, not milliseconds of burning, and the idle core is where the scheduler moves
the waiting partner at once; sched_yield() instead kept the core busy, and measured slower on a
busy machine (784-800-800-10 in two threads, 9.1 and 11.7 s per epoch against 5.3 and 6.6 s
sleeping, alternate runs). When both threads run, a barrier takes ~0.1 us; when the machine is
so busy that they rarely run together, threads.Pace runs both parts in one thread.

The intrinsics name only LLVM intrinsics and the C library's usleep, no addresses, so
numba's on-disk cache (cache=True) stores and reloads the compiled code as usual.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

SLOT = 16  # int64s between the two threads' counters: 128 bytes, never one cache line
SPINS = 1000  # pause hints (about 25 ns each here) before the waiting thread starts sleeping
SLEEP_US = 50  # microseconds per sleep after that


def _pointer(context, builder, array_type, array, index):
    return builder.gep(context.make_array(array_type)(context, builder, array).data, [index])


@intrinsic
def _load_acquire(typingctx, flags, index):
    """flags[index], an atomic load with acquire order."""
    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], *args)
        return builder.load_atomic(pointer, "acquire", 8)

    return types.int64(flags, index), codegen


@intrinsic
def _store_release(typingctx, flags, index, value):
    """flags[index] = value, an atomic store with release order."""
    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store_atomic(args[2], pointer, "release", 8)
        return context.get_dummy_value()

    return types.none(flags, index, types.int64), codegen


def _call(name: str, return_type, *arguments: int):
    """An intrinsic that calls the external function `name` with these constant int arguments."""
    @intrinsic
    def call(typingctx):
        def codegen(context, builder, signature, args):
            int32 = ir.IntType(32)
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(return_type, [int32] * len(arguments)), name)
            builder.call(function, [ir.Constant(int32, a) for a in arguments])
            return context.get_dummy_value()

        return types.none(), codegen

    return call


@intrinsic
def _nothing(typingctx):
    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return types.none(), codegen


X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
_pause = _call("llvm.x86.sse2.pause", ir.VoidType()) if X86 else _nothing  # spin-wait hint
_sleep = _call("usleep", ir.IntType(32), SLEEP_US)  # the C library's


@njit(cache=True, nogil=True)
def wait_for_partner(flags, part, count):
    """Barrier number `count` (1, 2, ...) of thread `part` (0 or 1): returns once the other
    thread has reached it too."""
    _store_release(flags, part * SLOT, count)
    spins = 0
    while _load_acquire(flags, (1 - part) * SLOT) < count:
        if spins < SPINS:
            spins += 1
            _pause()
        else:
            _sleep()
