# A network link with latency, for testkit's NAT lab (the kernel here has no netem).
#
# python3 wire.py A B MS: makes two TUN devices named A and B (the lab then moves each into a
# namespace), prints "ready", and carries every IP packet that one device sends out of the
# other MS milliseconds later, in order, as a long cable would. A packet the far device cannot
# take (down, or gone) is lost, as on a wire. Exits when its stdin closes (the lab dropped it,
# or the test process died) or a device is deleted.
import collections
import fcntl
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    flags = IFF_TUN | IFF_NO_PI
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), flags))
    return fd


a, b = tun(sys.argv[1]), tun(sys.argv[2])
delay = float(sys.argv[3]) / 1000
other = {a: b, b: a}
# (when it is due, the device it leaves by, the packet): the delay is the same both ways, so
# one queue in arrival order is also in order of when each is due.
queue = collections.deque()
print("ready", flush=True)
stdin = sys.stdin.fileno()
while True:
    timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
    readable, _, _ = select.select([a, b, stdin], [], [], timeout)
    if stdin in readable and not os.read(stdin, 1024):
        sys.exit(0)
    due = time.monotonic() + delay
    for fd in readable:
        if fd == stdin:
            continue
        while True:
            try:
                packet = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                sys.exit(0)
            queue.append((due, other[fd], packet))
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, out, packet = queue.popleft()
        try:
            os.write(out, packet)
        except OSError:
            pass
