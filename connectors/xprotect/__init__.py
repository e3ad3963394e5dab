"""XProtect API Gateway connector (REST, Events & State WebSocket, alarms) and its emulator.

Arrives with issue #4; the package exists so the distribution layout is fixed from the start.
"""
