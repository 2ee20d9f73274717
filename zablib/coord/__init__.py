"""ZooKeeper as a coordination service on zablib's ZAB (issue 9).

The data tree (``errors``, ``paths``, ``tree``, ``txn``) knows no consensus; the service
modules above it are owned by the service helper, who completes this package docstring.
"""
