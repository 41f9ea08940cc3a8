"""What the components are built from, and are not themselves resources.

``config`` (the stack's settings and every rule), ``versions`` (pins),
``names`` (the fixed names Linkerd and the checks rely on), ``x509`` (facts
from public certificates), ``helm`` (one way to install a pinned chart).
"""
