"""XProtect API Gateway connector (REST, Events & State WebSocket, alarms) and its emulator."""
