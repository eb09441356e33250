"""device_bridge."""
