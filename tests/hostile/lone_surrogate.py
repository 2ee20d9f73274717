# Strings the grader may choke on: a lone surrogate in the answer, in an exception, and (the test
# puts it there) in the notebook's JSON: SURROGATE-IN-JSON
SURROGATE = "\ud800"


def majority(n):
    if n == 3:
        raise ValueError("no " + SURROGATE)
    if n > 100:
        return SURROGATE
    return n // 2
