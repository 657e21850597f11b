"""Feed service: Dhan WebSocket (or the simulator) -> decode -> normalise -> Redis streams and channels."""
