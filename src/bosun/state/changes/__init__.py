"""The change bus: what every replica must hear (list changes, resource updates, and for shared sessions the
client's answers, cancellations and DELETEs). In one process the hub in `bosun.protocol.changes` is all there is.
"""
