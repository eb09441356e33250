"""Device bridge benchmark: alarm → task latency, 5,000 devices under sustained load."""
