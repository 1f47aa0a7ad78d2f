"""What brokers and market data share about a venue: its clients made safe,
its errors and back-off, its profiles and request budget. Imports neither
brokers nor marketdata (tests/test_import_graph.py), so both can build on it
without a cycle.

The client modules import alpaca-py / ccxt: import them only where an adapter
was selected (the extras are optional)."""
