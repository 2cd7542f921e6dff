"""How requests arrive and leave: Streamable HTTP (`http`, on the guarded connections of `connection`) and stdio.

Looks down on security, the application and the state replicas share; nothing below imports it.
"""
