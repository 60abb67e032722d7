"""The bottom layer: errors, packaged data, secret shapes and redaction, file diagnostics,
atomic writes and option parsing shared by every stage. Nothing here imports another part of
Carpenter (a test enforces it), so redaction can never fail because a stage did not load.
"""
