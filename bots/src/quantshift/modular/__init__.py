"""The modular architecture (the seed's Phase 1, DESIGN §8, docs/modular.md): per
account a market data service, signal workers per strategy, an ML regime service
and the trading coordinator, talking over Redis streams (streams.py)."""
