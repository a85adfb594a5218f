# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# Take all the memory there is.
hog = []
try:
    while True:
        hog.append(bytes(256 * 2**20))  # address space, not memory (calloc)
except MemoryError:
    pass


def poll_delay(*args):
    return len(bytearray(8 * 2**30))


# %% check=poll_delay
check("poll_delay", poll_delay)
