"""Option analytics on the future: Black-76 prices and greeks (pure), implied volatility, and the service."""
