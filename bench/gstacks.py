# gstacks.py: the stacks of a live Go process's goroutines, read by gdb
# from runtime.allgs: how many goroutines have a stack of each size, and,
# for those parked, how much of it they use (hi - sched.sp), in 256-byte
# buckets. The runtime halves a parked goroutine's stack at a GC only
# while it uses under a quarter of it, counting 800 bytes of guard, so a
# goroutine parked with 1,248 bytes or more used keeps an 8 KiB stack.
#
# usage: gdb -q -batch -p PID -x bench/gstacks.py
# (the process stops while gdb reads it: a second or two for thousands
# of goroutines)
import collections

import gdb

WAITING, DEAD = 4, 6  # runtime._Gwaiting, runtime._Gdead

allgs = gdb.parse_and_eval("'runtime.allgs'")
array = allgs["array"]
sizes = collections.Counter()
parked = collections.Counter()
for i in range(int(allgs["len"])):
    g = array[i].dereference()
    status = int(g["atomicstatus"]["value"])
    if status == DEAD:
        continue
    lo, hi = int(g["stack"]["lo"]), int(g["stack"]["hi"])
    sizes[hi - lo] += 1
    sp = int(g["sched"]["sp"])
    if status == WAITING and sp:
        parked[(hi - lo, (hi - sp) // 256 * 256)] += 1

print("goroutines by stack size:")
for size, n in sorted(sizes.items()):
    print("  %6d B: %d" % (size, n))
print("parked, by stack size and bytes used (256-byte buckets):")
for (size, used), n in sorted(parked.items(), key=lambda kv: -kv[1])[:12]:
    print("  %6d B stack, %4d-%4d B used: %d" % (size, used, used + 255, n))
